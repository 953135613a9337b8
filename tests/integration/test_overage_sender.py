"""The overage sender against the Stripe emulator: injected 429s, 5xx, lost answers and
timeouts are retried under the same identifier (each meter event counted once, nothing marked
failed), a refusal is `refused` and alerted, a rerun sends nothing, and a Stripe outage of two
hours across midnight ends with everything accepted before the held drafts finalize."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import httpx
import pytest
import stripe
from sqlmodel import Session, select

from aether_web.integrations.stripe import (
    StripeGateway,
    ensure_catalog,
    make_client,
    make_sender_client,
)
from aether_web.models import OverageReport
from aether_web.services.invoicing import reporting
from aether_web.services.overage import overage_identifier
from tools.stripe_emulator.testing import RunningEmulator, run_in_thread

MONTH = date(2026, 11, 1)
MIDNIGHT = datetime(2026, 12, 1, tzinfo=UTC)
FAST = reporting.RetryPolicy(base_seconds=0.01, cap_seconds=0.05)
HOUR = 3600
SECRET = "whsec_sender_tests"


@dataclass(frozen=True)
class OverageBill:
    """What the sender reads of a `PeriodBill` (the period's pricing is not under test)."""

    user_id: uuid.UUID
    month: date
    plan: str
    compute_units: int
    storage_units: int


class Gate:
    """A stand-in for the app's `invoice.created` handler: 2xx only once the customer's
    overage is accepted (`ensure_overage_accepted`), 5xx otherwise so Stripe holds the draft."""

    def __init__(self) -> None:
        self.engine = None
        self.users: dict[str, object] = {}  # stripe customer -> user id
        self.bills: dict[object, OverageBill] = {}  # user id -> the period's bill
        self.answers: list[tuple[str, int]] = []

    def answer(self, body: bytes) -> int:
        event = json.loads(body)
        if event["type"] != "invoice.created" or self.engine is None:
            return 200
        invoice = event["data"]["object"]
        user_id = self.users.get(invoice["customer"])
        if invoice["billing_reason"] != "subscription_cycle" or user_id is None:
            return 200
        with Session(self.engine) as session:
            summary = reporting.ensure_overage_accepted(
                session, user_id=user_id, month=MONTH, now=MIDNIGHT + timedelta(minutes=5),
                gateway=StripeGateway(make_sender_client(_settings())), deadline_seconds=0.3,
                bill=self.bills.get(user_id))
            session.commit()
        status = 200 if summary.pending == 0 else 503
        self.answers.append((invoice["id"], status))
        return status


def _settings():
    from aether_web.settings import get_settings

    return get_settings()


@pytest.fixture(scope="module")
def gate() -> Iterator[tuple[Gate, str]]:
    state = Gate()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                status = state.answer(body)
            except Exception:  # an error in the stand-in is a 500, as in the app
                status = 500
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/webhook"
    server.shutdown()


@pytest.fixture(scope="module")
def emulator(gate) -> Iterator[RunningEmulator]:
    with run_in_thread(gate[1], SECRET, retry_base_delay=0.02, retry_max_attempts=3) as emu:
        yield emu


@pytest.fixture
def emu(emulator: RunningEmulator, gate, monkeypatch, engine) -> SimpleNamespace:
    """A reset emulator the app's settings point at, with the catalogue's meters."""
    from aether_web.settings import get_settings

    emulator.reset()
    gate[0].engine, gate[0].users, gate[0].bills, gate[0].answers = None, {}, {}, []
    monkeypatch.setenv("STRIPE_API_BASE", emulator.url)
    get_settings.cache_clear()
    client = emulator.client(max_network_retries=0)
    ensure_catalog(StripeGateway(make_client(get_settings())))
    yield SimpleNamespace(emu=emulator, url=emulator.url, client=client, gate=gate[0])
    get_settings.cache_clear()


def _faults(emu, **settings) -> None:
    httpx.post(f"{emu.url}/_emulator/faults", json=settings).raise_for_status()


def _calls(emu) -> dict:
    return httpx.get(f"{emu.url}/_emulator/requests").json()


def _meter_events(emu) -> list[dict]:
    return httpx.get(f"{emu.url}/_emulator/meter_events").json()["data"]


def _users(emu, make_user, count: int, *, clock: str | None = None) -> list[OverageBill]:
    bills = []
    for i in range(count):
        params = {"email": f"u{i}@example.com"}
        if clock:
            params["test_clock"] = clock
        customer = emu.client.v1.customers.create(params=params)
        user = make_user(plan="pro", stripe_customer_id=customer.id,
                         subscription_status="active")
        emu.gate.users[customer.id] = user.id
        bills.append(OverageBill(user.id, MONTH, "pro", compute_units=100 + i,
                                 storage_units=i % 2))
        emu.gate.bills[user.id] = bills[-1]
    return bills


def _statuses(engine) -> dict[str, int]:
    with Session(engine) as s:
        rows = s.exec(select(OverageReport)).all()
    out: dict[str, int] = {}
    for row in rows:
        out[row.status] = out.get(row.status, 0) + 1
    return out


def _factory(engine):
    return lambda: Session(engine, expire_on_commit=False)


def test_injected_faults_are_retried_and_each_event_counts_once(emu, make_user, engine):
    bills = _users(emu, make_user, 12)  # 18 reports (half the users have storage too)
    httpx.post(f"{emu.url}/_emulator/requests/clear")
    _faults(emu, next_429=3, next_5xx=3, next_lost_answer=3, next_hang=2, hang_seconds=2,
            rate_5xx=0.1, seed=7, paths=["/v1/billing/meter_events"])
    summary = reporting.send_overage(_factory(engine), bills=bills, now=MIDNIGHT,
                                     concurrency=8, retry=FAST, timeout=0.5, batch_size=5)
    assert summary.planned == 18 and summary.accepted == 18
    assert summary.refused == 0 and summary.pending == 0
    assert _statuses(engine) == {"accepted": 18}
    events = _meter_events(emu)
    identifiers = [e["identifier"] for e in events]
    assert sorted(identifiers) == sorted(
        overage_identifier(b.user_id, MONTH, kind) for b in bills
        for kind, units in (("compute", b.compute_units), ("storage", b.storage_units))
        if units)
    assert sum(e["value"] for e in events) == sum(b.compute_units + b.storage_units
                                                  for b in bills)
    report = _calls(emu)
    injected = sum(report["injected"].values())
    assert injected >= 11
    # every injected failure cost one more call, and no more than that
    assert report["calls"]["POST /v1/billing/meter_events"] == 18 + injected
    assert summary.calls == 18 + injected
    with Session(engine) as s:
        assert sum(r.attempts for r in s.exec(select(OverageReport)).all()) == 18 + injected


def test_a_rerun_sends_nothing(emu, make_user, engine):
    bills = _users(emu, make_user, 4)
    first = reporting.send_overage(_factory(engine), bills=bills, now=MIDNIGHT, retry=FAST)
    assert first.accepted == 6
    httpx.post(f"{emu.url}/_emulator/requests/clear")
    again = reporting.send_overage(_factory(engine), bills=bills, now=MIDNIGHT, retry=FAST)
    assert (again.planned, again.accepted, again.calls) == (0, 0, 0)
    assert reporting.send_pending(_factory(engine), retry=FAST).calls == 0
    assert _calls(emu)["total"] == 0
    assert len(_meter_events(emu)) == 6


def test_while_stripe_is_down_nothing_fails_and_everything_goes_once_it_is_back(
        emu, make_user, engine):
    bills = _users(emu, make_user, 5)
    _faults(emu, outage=True)
    down = reporting.send_overage(_factory(engine), bills=bills, now=MIDNIGHT,
                                  retry=reporting.RetryPolicy(0.01, 0.05, deadline_seconds=0.3))
    assert (down.accepted, down.refused, down.pending) == (0, 0, 7)
    assert _statuses(engine) == {"pending": 7}
    with Session(engine) as s:
        rows = s.exec(select(OverageReport)).all()
    assert all(r.attempts >= 1 and "503" in (r.last_error or "") for r in rows)
    _faults(emu, outage=False)
    back = reporting.send_pending(_factory(engine), retry=FAST)
    assert (back.accepted, back.pending, back.calls) == (7, 0, 7)
    assert _statuses(engine) == {"accepted": 7}
    assert len(_meter_events(emu)) == 7


def test_a_refusal_is_refused_and_alerted(emu, make_user, engine, monkeypatch):
    from aether_web import metrics
    from aether_web.services.invoicing import sending

    bills = _users(emu, make_user, 2)
    gone = make_user(plan="pro", stripe_customer_id="cus_unknown",
                     subscription_status="active")
    bills.append(OverageBill(gone.id, MONTH, "pro", compute_units=7, storage_units=0))
    alerts: list[str] = []
    monkeypatch.setattr(sending.sentry_sdk, "capture_message",
                        lambda message, **kw: alerts.append(message))
    before = metrics.snapshot().get(
        (sending.REFUSED_METRIC, (("meter", "aether_compute_overage"),)), 0)
    summary = reporting.send_overage(_factory(engine), bills=bills, now=MIDNIGHT, retry=FAST)
    assert (summary.accepted, summary.refused, summary.pending) == (3, 1, 0)
    with Session(engine) as s:
        refused = s.exec(select(OverageReport).where(OverageReport.status == "refused")).one()
    assert refused.user_id == gone.id and "cus_unknown" in (refused.last_error or "")
    assert len(alerts) == 1 and refused.identifier in alerts[0]
    after = metrics.snapshot()[(sending.REFUSED_METRIC, (("meter", "aether_compute_overage"),))]
    assert after == before + 1


def _wait_ready(client, clock_id: str) -> None:
    import time

    deadline = time.monotonic() + 30
    while client.v1.test_helpers.test_clocks.retrieve(clock_id).status == "advancing":
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _advance(emu, clock_id: str, to: datetime) -> None:
    emu.client.v1.test_helpers.test_clocks.advance(
        clock_id, params={"frozen_time": int(to.timestamp())})
    _wait_ready(emu.client, clock_id)


def test_stripe_down_two_hours_across_midnight(emu, make_user, engine):
    """Outage 23:30-01:30 on the test clock: the drafts are held (their invoice.created got
    5xx), the month end leaves everything pending, and once Stripe is back everything is
    accepted and on the invoices when they finalize."""
    c = emu.client.v1
    clock = c.test_helpers.test_clocks.create(
        params={"frozen_time": int((MIDNIGHT - timedelta(hours=1)).timestamp())})
    bills = _users(emu, make_user, 3, clock=clock.id)
    prices = {p.lookup_key: p.id for p in c.prices.list(params={"limit": 100}).data}
    subs = []
    for bill in bills:
        customer = next(k for k, v in emu.gate.users.items() if v == bill.user_id)
        httpx.post(f"{emu.url}/_emulator/customers/{customer}/card",
                   json={"card": "4242424242424242"}).raise_for_status()
        subs.append(c.subscriptions.create(params={
            "customer": customer, "billing_cycle_anchor": int(MIDNIGHT.timestamp()),
            "items": [{"price": prices["aether_pro_monthly"], "quantity": 1},
                      {"price": prices["aether_compute_overage"]},
                      {"price": prices["aether_storage_overage"]}]}))
    emu.gate.engine = engine
    _advance(emu, clock.id, MIDNIGHT - timedelta(minutes=30))
    _faults(emu, outage=True, paths=["/v1/billing/meter_events"])
    _advance(emu, clock.id, MIDNIGHT + timedelta(minutes=10))  # the period ends: drafts
    drafts = [c.invoices.list(params={"subscription": s.id}).data[0] for s in subs]
    assert {d.status for d in drafts} == {"draft"}
    assert {status for _, status in emu.gate.answers} == {503}  # the gate held them

    down = reporting.send_overage(_factory(engine), bills=bills, now=MIDNIGHT,
                                  retry=reporting.RetryPolicy(0.01, 0.05, deadline_seconds=0.3))
    assert down.pending == 4 and down.refused == 0 and _statuses(engine) == {"pending": 4}
    _advance(emu, clock.id, MIDNIGHT + timedelta(hours=1, minutes=20))
    assert {c.invoices.retrieve(d.id).status for d in drafts} == {"draft"}  # held: no 2xx

    _advance(emu, clock.id, MIDNIGHT + timedelta(hours=1, minutes=30))
    _faults(emu, outage=False)
    back = reporting.send_pending(_factory(engine), retry=FAST)
    assert back.accepted == 4 and _statuses(engine) == {"accepted": 4}
    # Stripe asks again (a webhook retry); the gate now answers 2xx: finalization in an hour
    for draft in drafts:
        event = next(e for e in c.events.list(params={"type": "invoice.created",
                                                      "limit": 100}).data
                     if e.data.object.id == draft.id)
        httpx.post(f"{emu.url}/_emulator/events/{event.id}/resend").raise_for_status()
    emu.emu.wait_idle()
    assert [s for _, s in emu.gate.answers[-3:]] == [200, 200, 200]
    _advance(emu, clock.id, MIDNIGHT + timedelta(hours=2, minutes=31))
    for bill, draft in zip(bills, drafts, strict=True):
        final = c.invoices.retrieve(draft.id)
        assert final.status == "paid"
        metered = sum(line.amount for line in final.lines.data
                      if str(line.pricing.unit_amount_decimal) == "1")
        assert metered == bill.compute_units + bill.storage_units
    assert len(_meter_events(emu)) == 4
    with pytest.raises(stripe.InvalidRequestError, match="already finalized"):
        c.invoices.finalize_invoice(drafts[0].id)


def test_the_month_end_job_plans_a_month_once_and_a_rerun_sends_nothing(emu, make_user,
                                                                        engine):
    from aether_web.billing.periods import month_end, month_of, month_start, previous_month
    from aether_web.billing.plans import PRO
    from aether_web.db import db_now
    from aether_web.models import OverageMonth, PlanIntervalRow, Project, Run
    from aether_web.services.invoicing.month_end import run_month_end
    from aether_web.services.overage import REPORT_DELAY

    with Session(engine) as s:
        now = db_now(s)
    month = previous_month(month_of(now))
    if now < month_end(month) + REPORT_DELAY:
        pytest.skip("the month ended moments ago: the job waits a little longer")
    start = month_start(month)
    users = []
    for i in range(3):
        customer = emu.client.v1.customers.create(params={"email": f"m{i}@example.com"})
        user = make_user(plan="pro", stripe_customer_id=customer.id,
                         subscription_status="active" if i < 2 else "canceled")
        users.append(user)
        with Session(engine) as s:
            for row in s.exec(select(PlanIntervalRow).where(PlanIntervalRow.user_id == user.id)):
                s.delete(row)
            s.add(PlanIntervalRow(user_id=user.id, plan="pro",
                                  started_at=start - timedelta(days=3), cause="checkout"))
            project = Project(user_id=user.id, name="p")
            s.add(project)
            s.flush()
            seconds = PRO.compute_seconds + 3600 * (i + 1)  # 10, 20, 30 units over
            s.add(Run(project_id=project.id, user_id=user.id, machine_id="m",
                              started_at=start, ended_at=start + timedelta(seconds=seconds),
                              duration_seconds=seconds, end_reason="stopped"))
            s.commit()
    detail = run_month_end(engine=engine, retry=FAST)
    # the canceled subscription's last month goes with its final invoice, not here
    assert "2 bills, 2 new reports; accepted 2" in detail
    values = sorted(e["value"] for e in _meter_events(emu))
    assert values == [10, 20]
    with Session(engine) as s:
        record = s.get(OverageMonth, month)
        assert record is not None and record.reports == 2
        assert record.planned_at is not None and record.accepted_at is not None
    httpx.post(f"{emu.url}/_emulator/requests/clear")
    assert run_month_end(engine=engine, retry=FAST) == "nothing to send"
    assert _calls(emu)["total"] == 0
