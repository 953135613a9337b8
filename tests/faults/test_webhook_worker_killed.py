"""A worker SIGKILLed in the middle of a Stripe webhook: the event was stored before processing,
so Stripe's retry of the same event applies it, once."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa
import stripe
from sqlmodel import Session

from aether_web.db import make_engine
from aether_web.models import InvoiceRecord, Profile, StripeEvent
from tests.faults.test_postgres_restart import descendants
from tools.local_stack import E2E_WEBHOOK_SECRET, LocalStack


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _gunicorn_workers(stack: LocalStack) -> set[int]:
    found = set()
    for pid in descendants(stack._procs[-1].pid):
        if "gunicorn" in _cmdline(pid) and "gunicorn" in _cmdline(_parent(pid)):
            found.add(pid)
    return found


def _event(customer: str, invoice_id: str) -> str:
    now = int(time.time())
    return json.dumps({
        "id": f"evt_fault_{uuid.uuid4().hex[:12]}", "object": "event", "type": "invoice.paid",
        "created": now, "api_version": "2026-10-28.endive", "livemode": False,
        "data": {"object": {"id": invoice_id, "object": "invoice", "customer": customer,
                            "status": "paid", "currency": "usd", "total": 2000,
                            "amount_paid": 2000, "amount_due": 2000, "created": now,
                            "period_start": now - 86400, "period_end": now}},
    })


def _deliver(url: str, payload: str) -> httpx.Response | None:
    header = stripe.WebhookSignature.generate_signature_header(payload, E2E_WEBHOOK_SECRET)
    try:
        return httpx.post(f"{url}/api/billing/webhook", content=payload.encode(), timeout=60,
                          headers={"Stripe-Signature": header,
                                   "Content-Type": "application/json"})
    except httpx.HTTPError:
        return None


def test_a_worker_killed_mid_webhook_loses_nothing(private_pg, tmp_path: Path):
    engine = make_engine(private_pg.url)
    # The Stripe emulator beside it: processing an invoice event asks Stripe for the invoice.
    stack = LocalStack(db_url=private_pg.url, with_stripe=True, backend_only=True, workers=1,
                       log_dir=tmp_path / "logs", extra_env={"AETHER_SCHEDULER_ENABLED": "false"})
    stack.start(timeout=240)
    try:
        customer, invoice_id = f"cus_fault_{uuid.uuid4().hex[:8]}", f"in_{uuid.uuid4().hex[:10]}"
        with Session(engine) as s:
            s.add(Profile(email=f"hook-{uuid.uuid4().hex[:6]}@example.com", plan="pro",
                          stripe_customer_id=customer))
            s.commit()
        payload = _event(customer, invoice_id)
        event_id = json.loads(payload)["id"]
        (worker,) = _gunicorn_workers(stack)

        # Hold the invoices table so processing stops in the middle, then kill the worker there.
        with engine.connect() as blocker:
            blocker.exec_driver_sql("BEGIN")
            blocker.exec_driver_sql("LOCK TABLE invoices IN ACCESS EXCLUSIVE MODE")
            import threading

            answer: list[httpx.Response | None] = []
            first = threading.Thread(target=lambda: answer.append(_deliver(stack.url, payload)))
            first.start()
            deadline = time.monotonic() + 60
            waiting = 0
            while time.monotonic() < deadline and not waiting:
                with engine.connect() as probe:
                    waiting = probe.exec_driver_sql(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND position('invoices' in query) > 0").scalar()
                time.sleep(0.2)
            assert waiting, "processing never reached the invoices table"
            os.kill(worker, signal.SIGKILL)
            first.join(60)
            blocker.exec_driver_sql("ROLLBACK")
        killed_answer = answer[0]
        assert killed_answer is None or killed_answer.status_code >= 500

        with Session(engine) as s:
            stored = s.get(StripeEvent, event_id)
            assert stored is not None and stored.status == "pending"  # kept, not applied

        # gunicorn starts a new worker; Stripe retries the same event.
        started = time.monotonic()
        retry = None
        while time.monotonic() - started < 60:
            retry = _deliver(stack.url, payload)
            if retry is not None and retry.status_code == 200:
                break
            time.sleep(0.5)
        print(f"\nworker {worker} killed mid-webhook; Stripe's retry applied it after "
              f"{time.monotonic() - started:.1f} s (new worker {_gunicorn_workers(stack)})")
        assert retry is not None and retry.status_code == 200, retry and retry.text
        assert retry.json()["duplicate"] is True
        again = _deliver(stack.url, payload)  # and a late duplicate changes nothing
        assert again is not None and again.status_code == 200
    finally:
        stack.stop()

    with Session(engine) as s:
        stored = s.get(StripeEvent, event_id)
        invoices = s.exec(sa.select(InvoiceRecord).where(
            InvoiceRecord.stripe_invoice_id == invoice_id)).scalars().all()
    engine.dispose()
    assert stored.status == "processed" and stored.attempts == 1  # applied once
    assert len(invoices) == 1 and invoices[0].status == "paid"
    assert invoices[0].amount_paid_cents == 2000
