"""A month end with faults, run end to end: the app's month-end and re-check jobs, the API over
HTTP receiving the emulator's signed webhooks, customers on the emulator's test clocks, and the
app's clock moved to the same emulated moment (`AETHER_APP_CLOCK_OFFSET_SECONDS`).

Each scenario ends with the policy's outcome (rule 8): every paying user's overage of November
is on November's invoice once, or billed once as a labelled item; never twice, never dropped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select

from aether_web.billing.plans import PRO
from aether_web.db import db_now, make_engine
from aether_web.integrations.stripe import COMPUTE_METER
from aether_web.models import (
    InvoiceReconciliation,
    JobRun,
    OverageAdjustment,
    OverageMonth,
    OverageReport,
    PlanIntervalRow,
    Profile,
    Project,
    Run,
)
from aether_web.services.invoicing import reporting
from aether_web.services.overage import overage_identifier
from tests.integration.stripe_support import Bed, bed, billing_bed, wait_until
from tools.stripe_emulator.testing import free_port

FIXTURES = (bed, billing_bed)  # used by name by pytest
MONTH = date(2026, 11, 1)
MIDNIGHT = datetime(2026, 12, 1, tzinfo=UTC)
FAST = reporting.RetryPolicy(base_seconds=0.01, cap_seconds=0.05)
OFFSET = "AETHER_APP_CLOCK_OFFSET_SECONDS"


@pytest.fixture
def app_clock(engine) -> Iterator[Callable[[datetime], None]]:
    """`set(at)`: from now on the app (every `db_now`) believes it is `at`, and time passes."""
    from aether_web.settings import get_settings

    def real_now() -> datetime:
        os.environ.pop(OFFSET, None)
        get_settings.cache_clear()
        with Session(engine) as s:
            return db_now(s)

    def set_clock(at: datetime) -> None:
        os.environ[OFFSET] = str(int((at - real_now()).total_seconds()))
        get_settings.cache_clear()

    yield set_clock
    os.environ.pop(OFFSET, None)
    get_settings.cache_clear()


def _clock(bed: Bed, at: datetime) -> str:
    return bed.stripe.v1.test_helpers.test_clocks.create(
        params={"frozen_time": int(at.timestamp())}).id


def _advance(bed: Bed, clock: str, to: datetime) -> None:
    bed.stripe.v1.test_helpers.test_clocks.advance(clock, params={
        "frozen_time": int(to.timestamp())})
    wait_until(lambda: bed.stripe.v1.test_helpers.test_clocks.retrieve(clock).status == "ready",
               timeout=120, what="the test clock")


def _paying_user(bed: Bed, make_user, engine, *, clock: str, hours_over: int,
                 subscribe: bool = False) -> Profile:
    """A Pro user since before November with `hours_over` compute hours over its allowance
    (10 units an hour), a customer on `clock`, and (optionally) a subscription renewing at
    MIDNIGHT with the catalogue's three prices."""
    c = bed.stripe.v1
    customer = c.customers.create(params={"email": "m@example.com", "test_clock": clock}).id
    sub_id = None
    if subscribe:
        bed.set_card(customer, "4242424242424242")
        prices = bed.gateway.price_ids_by_lookup_key(
            ["aether_pro_monthly", "aether_compute_overage", "aether_storage_overage"])
        sub_id = c.subscriptions.create(params={
            "customer": customer, "billing_cycle_anchor": int(MIDNIGHT.timestamp()),
            "items": [{"price": price} for price in prices.values()]}).id
    user = make_user(plan="pro", stripe_customer_id=customer, stripe_subscription_id=sub_id,
                     subscription_status="active")
    start = datetime(MONTH.year, MONTH.month, 1, tzinfo=UTC)
    with Session(engine) as s:
        for row in s.exec(select(PlanIntervalRow).where(PlanIntervalRow.user_id == user.id)):
            s.delete(row)
        s.add(PlanIntervalRow(user_id=user.id, plan="pro", started_at=start - timedelta(days=3),
                              cause="checkout"))
        project = Project(user_id=user.id, name="p")
        s.add(project)
        s.flush()
        seconds = PRO.compute_seconds + 3600 * hours_over
        s.add(Run(project_id=project.id, user_id=user.id, machine_id="m",
                          started_at=start, ended_at=start + timedelta(seconds=seconds),
                          duration_seconds=seconds, end_reason="stopped"))
        s.commit()
    return user


def _reports(engine) -> list[OverageReport]:
    with Session(engine) as s:
        return list(s.exec(select(OverageReport)).all())


def _counted(bed: Bed, customer: str) -> int:
    """What Stripe's compute meter counts for the customer in November (event summaries)."""
    meter = next(m for m in bed.stripe.v1.billing.meters.list().data
                 if m.event_name == COMPUTE_METER)
    summaries = bed.stripe.v1.billing.meters.event_summaries.list(meter.id, params={
        "customer": customer, "start_time": int(MIDNIGHT.timestamp()) - 30 * 86400,
        "end_time": int(MIDNIGHT.timestamp())}).data
    return int(sum(s.aggregated_value for s in summaries))


def _events_by_identifier(bed: Bed) -> dict[str, int]:
    out: dict[str, int] = {}
    for event in bed.meter_events():
        out[event["identifier"]] = out.get(event["identifier"], 0) + 1
    return out


def _compute_lines(invoice) -> int:
    return sum(line["amount"] for line in invoice["lines"]["data"]
               if (line["pricing"].get("price_details") or {}).get("product")
               == "aether_compute_overage")


def _labelled(invoice) -> list[int]:
    return [line["amount"] for line in invoice["lines"]["data"]
            if line["description"].startswith("Overage for November 2026: compute")]


def _invoices(bed: Bed, customer: str) -> list[dict]:
    return [i.to_dict() for i in bed.stripe.v1.invoices.list(
        params={"customer": customer, "limit": 100}).data]


def test_the_app_down_across_midnight(bed: Bed, make_user, engine, app_clock) -> None:
    """No job and no webhook answer from 23:50 to 02:00: the held drafts get the overage on
    their own invoice; the one Stripe finalized anyway (72 h without an answer) gets it once
    as a labelled item on its next invoice."""
    from aether_web.jobs.runner import run_job

    bed.webhooks_to_app(False)  # the set-up's own events are not under test
    held_clock = _clock(bed, MIDNIGHT - timedelta(hours=1))
    late_clock = _clock(bed, MIDNIGHT - timedelta(hours=1))
    held = [_paying_user(bed, make_user, engine, clock=held_clock, hours_over=i + 1,
                         subscribe=True) for i in range(2)]
    late = _paying_user(bed, make_user, engine, clock=late_clock, hours_over=4, subscribe=True)
    _advance(bed, held_clock, MIDNIGHT - timedelta(minutes=10))
    _advance(bed, late_clock, MIDNIGHT - timedelta(minutes=10))
    # 23:50: the app goes down; Stripe's deliveries fail (nothing listens)
    bed.webhooks_to_app(True)
    httpx.post(f"{bed.emu.url}/_emulator/webhook",
               json={"url": f"http://127.0.0.1:{free_port()}/api/billing/webhook"}
               ).raise_for_status()
    _advance(bed, held_clock, MIDNIGHT + timedelta(hours=2))
    # the other customer's draft was never answered: Stripe finalizes it at 72 h regardless
    _advance(bed, late_clock, MIDNIGHT + timedelta(hours=73))
    created = [d for d in bed.deliveries() if d["type"] == "invoice.created"]
    assert created and {d["status"] for d in created} == {"failed"}
    drafts = {u.id: _invoices(bed, u.stripe_customer_id)[0] for u in held}
    assert {d["status"] for d in drafts.values()} == {"draft"}
    [finalized] = [i for i in _invoices(bed, late.stripe_customer_id)
                   if i["billing_reason"] == "subscription_cycle"]
    assert finalized["status"] == "paid" and _compute_lines(finalized) == 0
    assert _reports(engine) == []  # nothing ran while the app was down

    # 02:00: the app is back; its scheduler runs the month-end job and the draft re-check
    bed.webhooks_to_app(True)
    app_clock(MIDNIGHT + timedelta(hours=2, minutes=1))
    tick = MIDNIGHT + timedelta(hours=2, minutes=1)
    month_end = run_job("send_month_end_overage", tick=tick)
    assert month_end.status == "succeeded" and "3 new reports; accepted 3" in month_end.detail
    recheck = run_job("recheck_invoice_drafts", tick=tick)
    assert recheck.status == "succeeded", recheck.detail
    bed.settle()
    # the held drafts show the overage before they finalize
    for user in held:
        draft = bed.stripe.v1.invoices.retrieve(drafts[user.id]["id"]).to_dict()
        assert draft["status"] == "draft" and _compute_lines(draft) == _units(engine, user)
    # the invoice finalized without it: a labelled item, once, however often the jobs run
    [adjustment] = wait_until(lambda: _rows(engine, OverageAdjustment, late.id))
    assert (adjustment.units, adjustment.reason) == (_units(engine, late), "late")
    for minutes in (6, 11):
        for job in ("bill_overage_items", "recheck_invoice_drafts", "send_month_end_overage"):
            assert run_job(job, tick=tick + timedelta(minutes=minutes)).status == "succeeded"
    bed.settle()
    items = [i for i in bed.stripe.v1.invoice_items.list(
        params={"customer": late.stripe_customer_id}).data]
    assert [i.amount for i in items] == [_units(engine, late)]

    # Stripe finalizes the held drafts (no 2xx ever came: 72 h); each carries its overage
    _advance(bed, held_clock, MIDNIGHT + timedelta(hours=73))
    bed.settle()
    for user in held:
        final = bed.stripe.v1.invoices.retrieve(drafts[user.id]["id"]).to_dict()
        assert final["status"] == "paid" and _compute_lines(final) == _units(engine, user)
        assert not _labelled(final)
    # the late customer's next invoice carries the labelled line, and only that one does
    app_clock(datetime(2027, 1, 1, 0, 30, tzinfo=UTC))
    _advance(bed, late_clock, datetime(2027, 1, 1, 2, 30, tzinfo=UTC))
    bed.settle()
    invoices = _invoices(bed, late.stripe_customer_id)
    assert sorted(a for inv in invoices for a in _labelled(inv)) == [_units(engine, late)]
    assert _compute_lines(finalized) + sum(a for inv in invoices for a in _labelled(inv)) == \
        _units(engine, late)
    statuses = {r.user_id: r.status for r in _reports(engine)}
    wait_until(lambda: {r.user_id: r.status for r in _reports(engine)} == {
        held[0].id: "invoiced", held[1].id: "invoiced", late.id: "item_billed"},
        timeout=30, what=f"reports invoiced or billed as an item (now {statuses})")
    from aether_web.services import support

    with Session(engine) as s:  # support sees what was done about it, and why
        view = support.user_overview(s, user_id=late.id)
    assert [r["status"] for r in view["overage_items"]] == ["billed"]
    assert "after that month's invoice was final" in view["overage_items"][0]["why"]
    for user in (*held, late):  # Stripe's meter counted each report once
        assert _counted(bed, user.stripe_customer_id) == _units(engine, user)
    assert set(_events_by_identifier(bed).values()) == {1}


def _rows(engine, model, user_id):
    with Session(engine) as s:
        return list(s.exec(select(model).where(model.user_id == user_id)).all())


def _units(engine, user: Profile) -> int:
    with Session(engine) as s:
        usage = s.exec(select(Run).where(Run.user_id == user.id)).one()
    return (usage.duration_seconds - PRO.compute_seconds) // 360


def _sigkill_script() -> str:
    return ("from aether_web.services.invoicing.month_end import run_month_end\n"
            "print(run_month_end(concurrency=1), flush=True)\n")


def test_a_sigkill_during_the_month_end_job_then_a_rerun(bed: Bed, make_user, engine,
                                                          app_clock) -> None:
    """The job runs in its own process against the test database, Stripe answers slowly, the
    process is killed (SIGKILL) with reports in flight; the rerun sends what is left: each
    report counted once by Stripe's meter, none lost."""
    clock = _clock(bed, MIDNIGHT + timedelta(minutes=15))
    users = [_paying_user(bed, make_user, engine, clock=clock, hours_over=i + 1)
             for i in range(8)]
    # the app's clock decides: five minutes after midnight the month is not reported yet
    app_clock(MIDNIGHT + timedelta(minutes=5))
    from aether_web.services.invoicing.month_end import run_month_end

    assert run_month_end(engine=engine, retry=FAST) == "nothing to send"
    assert _reports(engine) == []
    app_clock(MIDNIGHT + timedelta(minutes=15))
    with Session(engine) as s:
        assert MIDNIGHT + timedelta(minutes=15) <= db_now(s) <= MIDNIGHT + timedelta(hours=1)
    httpx.post(f"{bed.emu.url}/_emulator/faults", json={
        "latency_ms": 1500, "paths": ["/v1/billing/meter_events"]}).raise_for_status()
    job = subprocess.Popen([sys.executable, "-c", _sigkill_script()], env=dict(os.environ),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: bed.meter_events() or job.poll() is not None, timeout=120,
                   what="the first meter event")
        assert job.poll() is None, job.stderr.read() if job.stderr else ""
        job.send_signal(signal.SIGKILL)
        assert job.wait(timeout=30) == -signal.SIGKILL
    finally:
        if job.poll() is None:
            job.kill()
    httpx.post(f"{bed.emu.url}/_emulator/faults", json={"reset": True}).raise_for_status()
    before = _reports(engine)
    assert len(before) == 8 and "pending" in {r.status for r in before}  # killed mid-send
    with Session(engine) as s:
        record = s.get(OverageMonth, MONTH)
        assert record is not None and record.planned_at is None

    detail = run_month_end(engine=engine, retry=FAST)
    assert "8 bills" in detail, detail
    assert {r.status for r in _reports(engine)} == {"accepted"}
    expected = {overage_identifier(u.id, MONTH, "compute") for u in users}
    assert _events_by_identifier(bed) == dict.fromkeys(expected, 1)
    for user in users:
        assert _counted(bed, user.stripe_customer_id) == _units(engine, user)
    assert run_month_end(engine=engine, retry=FAST) == "nothing to send"
    assert len(bed.meter_events()) == 8


def test_two_schedulers_at_the_same_tick(bed: Bed, make_user, engine, app_clock) -> None:
    """Two schedulers fire the month-end job at one tick: the tick's `job_runs` row elects
    one, and each report is sent once."""
    from aether_web.jobs.runner import run_job

    clock = _clock(bed, MIDNIGHT + timedelta(minutes=15))
    users = [_paying_user(bed, make_user, engine, clock=clock, hours_over=i + 1)
             for i in range(4)]
    app_clock(MIDNIGHT + timedelta(minutes=15))
    httpx.post(f"{bed.emu.url}/_emulator/faults", json={
        "latency_ms": 300, "paths": ["/v1/billing/meter_events"]}).raise_for_status()
    tick = MIDNIGHT + timedelta(minutes=15)
    outcomes: list = []
    start = threading.Barrier(2)

    def scheduler() -> None:
        start.wait(timeout=60)
        outcomes.append(run_job("send_month_end_overage", tick=tick))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(o.status for o in outcomes) == ["skipped", "succeeded"]
    with Session(engine) as s:
        runs = s.exec(select(JobRun).where(JobRun.job_name == "send_month_end_overage")).all()
    assert [(r.tick.replace(tzinfo=UTC), r.status) for r in runs] == [(tick, "succeeded")]
    expected = {overage_identifier(u.id, MONTH, "compute") for u in users}
    assert _events_by_identifier(bed) == dict.fromkeys(expected, 1)



def test_two_month_end_runs_at_once_on_their_own_engines(bed: Bed, make_user, engine,
                                                          app_clock, db_url) -> None:
    """Two workers run the job itself at once, each on an engine of its own (ticks a second
    apart): the run lock elects one; nothing is sent twice, nothing is lost."""
    from aether_web.services.invoicing.month_end import run_month_end

    clock = _clock(bed, MIDNIGHT + timedelta(minutes=15))
    users = [_paying_user(bed, make_user, engine, clock=clock, hours_over=i + 1)
             for i in range(4)]
    app_clock(MIDNIGHT + timedelta(minutes=15))
    httpx.post(f"{bed.emu.url}/_emulator/faults", json={
        "latency_ms": 300, "paths": ["/v1/billing/meter_events"]}).raise_for_status()
    engines = [make_engine(db_url) for _ in range(2)]
    results: list[str] = []
    again = threading.Barrier(2)

    def run(own) -> None:
        again.wait(timeout=60)
        results.append(run_month_end(engine=own, retry=FAST))

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for own in engines:
        own.dispose()
    sent = [r for r in results if "new reports" in r]
    assert len(results) == 2 and len(sent) == 1 and "4 new reports; accepted 4" in sent[0]
    [other] = [r for r in results if r not in sent]
    assert other in ("nothing to send", "another month-end run is in progress")
    expected = {overage_identifier(u.id, MONTH, "compute") for u in users}
    assert _events_by_identifier(bed) == dict.fromkeys(expected, 1)
    for user in users:
        assert _counted(bed, user.stripe_customer_id) == _units(engine, user)
    with Session(engine) as s:
        record = s.get(OverageMonth, MONTH)
        assert record is not None and record.reports == 4 and record.accepted_at is not None


_PROCESS_SCRIPT = """
import pathlib, sys, time
from aether_web.services.invoicing.month_end import run_month_end
gate = pathlib.Path(sys.argv[1])
(gate.parent / (gate.name + "." + sys.argv[2])).write_text("ready")
deadline = time.monotonic() + 300
while not gate.exists():
    assert time.monotonic() < deadline, "never started"
    time.sleep(0.02)
print(run_month_end(concurrency=1), flush=True)
"""


def test_two_scheduler_processes_run_the_month_end_at_once(bed: Bed, make_user, engine,
                                                            app_clock, tmp_path) -> None:
    """Two app processes (each its own scheduler and engine) start the job together, while
    Stripe answers slowly: on PostgreSQL the run lock lets one send; on SQLite (one process
    lock each) both may send, and Stripe's identifiers and idempotency keys keep every report
    counted once. Either way nothing is twice on the meter and nothing is lost."""
    clock = _clock(bed, MIDNIGHT + timedelta(minutes=15))
    users = [_paying_user(bed, make_user, engine, clock=clock, hours_over=i + 1)
             for i in range(4)]
    app_clock(MIDNIGHT + timedelta(minutes=15))
    httpx.post(f"{bed.emu.url}/_emulator/faults", json={
        "latency_ms": 400, "paths": ["/v1/billing/meter_events"]}).raise_for_status()
    gate = tmp_path / "go"
    jobs = [subprocess.Popen([sys.executable, "-c", _PROCESS_SCRIPT, str(gate), str(i)],
                             env=dict(os.environ), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        wait_until(lambda: all((tmp_path / f"go.{i}").exists() for i in range(2))
                   or any(j.poll() is not None for j in jobs), timeout=180,
                   what="both processes ready")
        gate.write_text("go")
        outputs = [j.communicate(timeout=300) for j in jobs]
    finally:
        for j in jobs:
            if j.poll() is None:
                j.kill()
    assert [j.returncode for j in jobs] == [0, 0], outputs
    results = [out.strip().splitlines()[-1] for out, _err in outputs]
    sent = [r for r in results if "new reports" in r]
    assert sent and "4 bills" in sent[0], results
    if engine.dialect.name == "postgresql":
        assert len(sent) == 1 and "another month-end run is in progress" in results, results
    expected = {overage_identifier(u.id, MONTH, "compute") for u in users}
    assert _events_by_identifier(bed) == dict.fromkeys(expected, 1)
    for user in users:
        assert _counted(bed, user.stripe_customer_id) == _units(engine, user)
    assert {r.status for r in _reports(engine)} == {"accepted"} and len(_reports(engine)) == 4


def test_a_period_end_gates_and_reconciles_from_the_events_own_copy(
        bed: Bed, make_user, engine, app_clock, monkeypatch) -> None:
    """At a month end each renewal's `invoice.created` and `invoice.finalized` carry the
    invoice: the gate sends the overage and reconciles without reading any invoice from
    Stripe (one read per event saved, within Stripe's read limits), with the same outcome."""
    from aether_web.integrations.stripe import StripeGateway

    reads: list[str] = []
    real = StripeGateway.invoice_with_lines

    def counted(self, invoice_id):
        reads.append(invoice_id)
        return real(self, invoice_id)

    monkeypatch.setattr(StripeGateway, "invoice_with_lines", counted)
    bed.webhooks_to_app(False)  # the set-up's own events are not under test
    clock = _clock(bed, MIDNIGHT - timedelta(hours=1))
    users = [_paying_user(bed, make_user, engine, clock=clock, hours_over=i + 2,
                          subscribe=True) for i in range(2)]
    _advance(bed, clock, MIDNIGHT - timedelta(minutes=10))
    bed.settle()
    bed.webhooks_to_app(True)
    app_clock(MIDNIGHT + timedelta(minutes=5))
    _advance(bed, clock, MIDNIGHT + timedelta(minutes=5))  # the renewal drafts appear
    bed.settle()
    for user in users:
        [listed] = [i for i in _invoices(bed, user.stripe_customer_id)
                    if i["billing_reason"] == "subscription_cycle"]
        draft = bed.stripe.v1.invoices.retrieve(listed["id"]).to_dict()
        assert draft["status"] == "draft" and _compute_lines(draft) == _units(engine, user)
    app_clock(MIDNIGHT + timedelta(hours=1, minutes=10))
    _advance(bed, clock, MIDNIGHT + timedelta(hours=1, minutes=10))  # an hour after the 2xx
    bed.settle()
    for user in users:
        [final] = [i for i in _invoices(bed, user.stripe_customer_id)
                   if i["billing_reason"] == "subscription_cycle"]
        assert final["status"] == "paid" and _compute_lines(final) == _units(engine, user)
        rows = wait_until(lambda u=user: len(_rows(engine, InvoiceReconciliation, u.id)) == 1
                          and _rows(engine, InvoiceReconciliation, u.id))
        assert [(r.status, r.invoice_units) for r in rows] == [("match", _units(engine, user))]
    delivered = [d for d in bed.deliveries()
                 if d["type"] in ("invoice.created", "invoice.finalized", "invoice.paid")]
    assert len(delivered) >= 6 and {d["status"] for d in delivered} == {"delivered"}
    assert reads == []
