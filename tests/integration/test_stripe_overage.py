"""Overage reaches Stripe once per user, month and meter, and the invoice matches to the cent."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.allowance import month_hours
from aether_web.billing.periods import month_key, month_of, month_start
from aether_web.billing.plans import BYTES_PER_GB, PRO
from aether_web.db import db_now
from aether_web.integrations.stripe import StripeGatewayError
from aether_web.models import (
    MeterReconciliation,
    OverageReport,
    PlanIntervalRow,
    Project,
    Run,
    StorageSample,
)
from aether_web.services import overage
from aether_web.services.period_bill import period_bill
from tests.integration.stripe_support import Bed, bed, billing_bed

FIXTURES = (bed, billing_bed)  # used by name by pytest

OVER_SECONDS = 9_000 + 100  # 2.5 h + 100 s over the included hours: 25 units


def _pro_user_with_usage(bed: Bed, make_user, client_for, engine):
    """A user on Pro since this month began (their history rewritten as if they had checked
    out then), with 2.5 h of compute and some storage over the month's included amounts, all
    of it already behind the database clock (runs side by side, so it fits early in a month).
    """
    user = make_user()
    bed.checkout(client_for(user), "pro")
    profile = bed.wait_for_plan(user.id, "pro")
    bed.settle()
    with Session(engine) as s:
        now = db_now(s)
        month = month_of(now)
        start = month_start(month)
        elapsed = int((now - start).total_seconds()) - 120
        if elapsed < 600:
            pytest.skip("the month began moments ago: its usage cannot fit before now")
        rows = s.exec(select(PlanIntervalRow).where(PlanIntervalRow.user_id == user.id)).all()
        for row in rows:
            s.delete(row)
        s.flush()
        s.add(PlanIntervalRow(user_id=user.id, plan="pro", started_at=start - timedelta(days=1),
                              cause="checkout"))
        compute = PRO.compute_seconds + OVER_SECONDS
        project = Project(user_id=user.id, name="busy")
        s.add(project)
        s.flush()
        while compute > 0:
            seconds = min(compute, elapsed)
            helper = Project(user_id=user.id, name=f"busy-{compute}")
            s.add(helper)
            s.flush()
            s.add(Run(project_id=helper.id, user_id=user.id, machine_id="m1",
                              started_at=start, ended_at=start + timedelta(seconds=seconds),
                              duration_seconds=seconds, end_reason="stopped"))
            compute -= seconds
        # 3 GB-months over the month's included 10 GB, held since the month began
        gb_hours = PRO.storage_gb * month_hours(month) + 3 * month_hours(month)
        s.add(StorageSample(project_id=project.id, user_id=user.id, at=start,
                            bytes_used=gb_hours * BYTES_PER_GB * 3600 // elapsed))
        s.commit()
    return profile, month


def test_period_close_invoice_equals_flat_plus_overage(
        bed: Bed, make_user, client_for, engine, capsys) -> None:
    profile, month = _pro_user_with_usage(bed, make_user, client_for, engine)
    with Session(engine) as s:
        charge = period_bill(s, user_id=profile.id, month=month, now=db_now(s))
    assert charge.compute_units == 25
    # 3 GB-months at 50 cents, and the minutes held since
    assert 150 <= charge.storage_units <= 160
    from aether_web.cli import main

    # The operator CLI refuses the month still running (its overage is not final)...
    assert main(["stripe", "report-overage", "--month", month_key(month)]) != 0
    assert "not over yet" in capsys.readouterr().err
    assert bed.meter_events(profile.stripe_customer_id) == []
    # ...so this test, whose period closes now, sends through the service (as the month-end
    # job and the invoice gate do).
    assert "2 new reports; accepted 2 (already in Stripe 0)" in overage.report_overage(
        month=month, gateway=bed.gateway, allow_open_month=True)
    events = bed.meter_events(profile.stripe_customer_id)
    storage_units = next(e["value"] for e in events
                         if e["event_name"] == "aether_storage_overage")
    assert charge.storage_units <= storage_units <= charge.storage_units + 1
    assert sorted((e["event_name"], e["value"]) for e in events) == [
        ("aether_compute_overage", 25), ("aether_storage_overage", storage_units)]
    assert {e["identifier"] for e in events} == {
        f"{profile.id}:{month_key(month)}:compute", f"{profile.id}:{month_key(month)}:storage"}
    # a rerun sends nothing more
    overage.report_overage(month=month, gateway=bed.gateway, allow_open_month=True)
    assert len(bed.meter_events(profile.stripe_customer_id)) == 2

    invoice = bed.close_period(profile.stripe_subscription_id)["invoice"]
    bed.settle()  # the invoice webhooks are handled before the next test empties the tables
    assert invoice["total"] == PRO.monthly_price_cents + 25 + storage_units
    metered = sorted(line["amount"] for line in invoice["lines"]["data"]
                     if line["pricing"]["unit_amount_decimal"] == "1")
    assert metered == sorted([storage_units, 25])

    # What the dashboard shows for the month is what Stripe invoiced, to the cent.
    from aether_web.services.usage_summary import usage_summary

    with Session(engine) as s:
        summary = usage_summary(s, user_id=profile.id)
    row = next(h for h in summary["history"] if h["month"] == month_key(month))
    assert row["overage_reported"] is True
    assert row["overage_cents"] == sum(metered) == invoice["total"] - PRO.monthly_price_cents

    with Session(engine, expire_on_commit=False) as s:
        rows = overage.reconcile_month(s, month=month, gateway=bed.gateway)
        s.commit()
    assert [r.status for r in rows] == ["match", "match"]


def test_a_crash_before_recording_then_rerun_reports_each_meter_once(
        bed: Bed, make_user, client_for, engine) -> None:
    profile, month = _pro_user_with_usage(bed, make_user, client_for, engine)

    from aether_web.services.invoicing import reporting

    real_record = reporting._record

    def killed_before_recording(*args, **kwargs):
        raise SystemExit("killed")  # Stripe has the events; the process dies before recording

    reporting._record = killed_before_recording
    try:
        with pytest.raises(SystemExit):
            overage.report_overage(month=month, allow_open_month=True)
    finally:
        reporting._record = real_record
    with Session(engine) as s:
        assert {r.status for r in s.exec(select(OverageReport)).all()} == {"pending"}
    assert len(bed.meter_events(profile.stripe_customer_id)) == 2

    # the resend reuses the identifiers and idempotency keys: Stripe replays its first answers
    summary = overage.report_overage(month=month, allow_open_month=True)
    assert "0 new reports; accepted 2" in summary
    with Session(engine) as s:
        assert {r.status for r in s.exec(select(OverageReport)).all()} == {"accepted"}
    values = sorted(e["value"] for e in bed.meter_events(profile.stripe_customer_id))
    assert values[0] == 25 and 150 <= values[1] <= 161  # compute, then storage


def test_an_identifier_stripe_already_holds_counts_as_accepted(
        bed: Bed, make_user, client_for, engine) -> None:
    profile, month = _pro_user_with_usage(bed, make_user, client_for, engine)
    identifier = overage.overage_identifier(profile.id, month, "compute")
    # sent earlier by an attempt whose idempotency key Stripe has since forgotten
    bed.stripe.v1.billing.meter_events.create(params={
        "event_name": "aether_compute_overage", "identifier": identifier,
        "payload": {"stripe_customer_id": profile.stripe_customer_id, "value": "25"}})
    summary = overage.report_overage(month=month, allow_open_month=True)
    assert "accepted 2 (already in Stripe 1)" in summary
    with Session(engine) as s:
        assert {r.status for r in s.exec(select(OverageReport)).all()} == {"accepted"}
    assert len(bed.meter_events(profile.stripe_customer_id)) == 2


def test_reconciliation_records_a_difference(
        bed: Bed, make_user, client_for, engine, monkeypatch) -> None:
    profile, month = _pro_user_with_usage(bed, make_user, client_for, engine)
    overage.report_overage(month=month, allow_open_month=True)
    captured = []
    monkeypatch.setattr(overage.sentry_sdk, "capture_message",
                        lambda msg, **kw: captured.append(msg))
    real_usage = bed.gateway.meter_usage
    monkeypatch.setattr(bed.gateway, "meter_usage", lambda **kw: real_usage(**kw) - 1)
    with Session(engine) as s:
        overage.reconcile_month(s, month=month, gateway=bed.gateway)
        s.commit()
        rows = s.exec(select(MeterReconciliation)).all()
        assert {(r.our_units - r.stripe_units, r.status) for r in rows} == {(1, "mismatch")}
        assert [r.user_id for r in overage.open_mismatches(s)] == [profile.id, profile.id]
    assert len(captured) == 2 and "ours=25 stripe=24" in " ".join(captured)


def test_the_hourly_meter_check_asks_stripe_outside_transactions_and_skips_settled_matches(
        bed: Bed, make_user, engine, monkeypatch, request) -> None:
    from aether_web.billing.periods import previous_month

    with Session(engine) as s:
        this_month = month_of(db_now(s))
    last_month = previous_month(this_month)
    users = [make_user(plan="pro", stripe_customer_id=f"cus_check{i}") for i in range(3)]
    with Session(engine) as s:
        for i, user in enumerate(users):
            for month in (last_month, this_month) if i == 0 else (last_month,):
                s.add(OverageReport(
                    user_id=user.id, month=month, meter="aether_compute_overage",
                    identifier=f"{user.id}:{month_key(month)}:compute",
                    stripe_customer_id=user.stripe_customer_id, plan="pro", units=7, cents=7,
                    event_timestamp=int(month_start(month).timestamp()), status="accepted"))
        s.commit()
    asked, job_runs, held = [], [True], {}
    # which thread holds each connection (webhooks may be handled beside the test)
    on_checkout = lambda _c, record, _p: held.__setitem__(id(record), threading.get_ident())  # noqa: E731
    on_checkin = lambda _c, record: held.pop(id(record), None)  # noqa: E731
    sa.event.listen(engine.pool, "checkout", on_checkout)
    sa.event.listen(engine.pool, "checkin", on_checkin)
    request.addfinalizer(lambda: (sa.event.remove(engine.pool, "checkout", on_checkout),
                                  sa.event.remove(engine.pool, "checkin", on_checkin)))

    def summary(*, meter_id, customer_id, start, end) -> int:
        if job_runs:  # the job holds no database connection while Stripe answers
            assert threading.get_ident() not in held.values()
        asked.append((customer_id, month_of(datetime.fromtimestamp(start, UTC))))
        return 6 if customer_id == "cus_check2" else 7

    monkeypatch.setattr(bed.gateway, "meter_usage", summary)
    checked = lambda: {(c, m == this_month) for c, m in asked}  # noqa: E731
    # at most a batch a run, and the one never checked comes first in the next
    assert overage.reconcile_recent(gateway=bed.gateway, batch=3).startswith("checked 3 ")
    first = checked()
    assert len(asked) == len(first) == 3
    asked.clear()
    assert overage.reconcile_recent(gateway=bed.gateway, batch=1).startswith("checked 1 ")
    assert len(first | checked()) == 4
    # last month's matches are settled; the difference and this month are asked again
    asked.clear()
    assert overage.reconcile_recent(gateway=bed.gateway) == "checked 2 meter totals, 1 differ"
    assert len(asked) == 2
    assert checked() == {("cus_check2", False), ("cus_check0", True)}
    with Session(engine) as s:
        rows = s.exec(select(MeterReconciliation)).all()
    assert sorted((r.month == this_month, r.status) for r in rows) == [
        (False, "match"), (False, "match"), (False, "mismatch"), (True, "match")]
    # a match seen before last month closed is asked about again (events of an open month
    # can still be taken back)
    with Session(engine) as s:
        early = next(r for r in s.exec(select(MeterReconciliation)).all()
                     if r.month == last_month and r.status == "match")
        early.checked_at = month_start(this_month) - timedelta(minutes=5)
        s.add(early)
        s.commit()
        early_customer = next(u.stripe_customer_id for u in users if u.id == early.user_id)
    asked.clear()
    assert overage.reconcile_recent(gateway=bed.gateway) == "checked 3 meter totals, 1 differ"
    assert (early_customer, False) in checked()
    assert overage.reconcile_recent(gateway=bed.gateway) == "checked 2 meter totals, 1 differ"

    # a check Stripe refuses waits for the next run; the others are recorded
    def refused_or_answered(*, customer_id, **kw) -> int:
        if customer_id == "cus_check2":
            raise StripeGatewayError(http_status=404, stripe_message="No such customer")
        return summary(customer_id=customer_id, **kw)

    monkeypatch.setattr(bed.gateway, "meter_usage", refused_or_answered)
    assert overage.reconcile_recent(gateway=bed.gateway) == "checked 1 meter totals, 0 differ"

    # the operator's check asks about every report, matched ones too, in its transaction
    monkeypatch.setattr(bed.gateway, "meter_usage", summary)
    job_runs.clear()
    with Session(engine, expire_on_commit=False) as s:
        assert len(overage.reconcile_month(s, month=last_month, gateway=bed.gateway)) == 3


def test_months_that_cannot_be_reported_are_refused(bed: Bed, engine) -> None:
    from aether_web.errors import InvalidInput

    with Session(engine) as s:
        this_month = month_of(db_now(s))
    nxt = this_month.replace(year=this_month.year + 1)
    with pytest.raises(InvalidInput, match="has not started"):
        overage.report_overage(month=nxt, gateway=bed.gateway, allow_open_month=True)
    with pytest.raises(InvalidInput, match="not over yet"):
        overage.report_overage(month=this_month, gateway=bed.gateway)
    old = this_month.replace(year=this_month.year - 1)
    with pytest.raises(InvalidInput, match="too old"):
        overage.report_overage(month=old, gateway=bed.gateway)


def test_runs_open_at_midnight_are_billed_to_the_months_end(engine, make_user, make_project):
    """A VM still running after the month ended counts through midnight; a silent one counts to
    its last heartbeat; neither waits for the run to stop."""
    from datetime import UTC, datetime

    user = make_user(plan="pro")
    alive, silent, closed = (make_project(user, name=n) for n in ("alive", "silent", "closed"))
    month = datetime(2026, 10, 1, tzinfo=UTC).date()
    midnight = datetime(2026, 11, 1, tzinfo=UTC)
    with Session(engine) as s:
        s.add(Run(project_id=alive.id, user_id=user.id, machine_id="a",
                          started_at=midnight - timedelta(hours=2),
                          last_heartbeat_at=midnight + timedelta(minutes=5)))
        s.add(Run(project_id=silent.id, user_id=user.id, machine_id="b",
                          started_at=midnight - timedelta(hours=3),
                          last_heartbeat_at=midnight - timedelta(hours=1)))
        s.add(Run(project_id=closed.id, user_id=user.id, machine_id="c",
                          started_at=midnight - timedelta(hours=1),
                          ended_at=midnight + timedelta(hours=1), duration_seconds=7200))
        s.commit()
        totals = overage.billable_compute_seconds(
            s, month=month, now=midnight + timedelta(minutes=10))
    assert totals == {user.id: 2 * 3600 + 2 * 3600 + 3600}
