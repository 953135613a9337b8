"""Past months show what the invoice billed once it is reconciled (policy rule 16): the
invoice's metered lines and the labelled items, never our own report rows, with a difference
from our computation said out loud."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from aether_web.billing.periods import month_key, month_of, month_start, previous_month
from aether_web.integrations.stripe import COMPUTE_METER
from aether_web.models import (
    InvoiceReconciliation,
    OverageAdjustment,
    OverageReport,
    Run,
)
from aether_web.services.support import user_overview
from aether_web.services.usage_summary import usage_summary


def _month_with_overage(s, user, project, month, over_hours):
    """A whole month on Pro with `over_hours` over its 200 h: 10 units (cents) per hour."""
    start = month_start(month) + timedelta(days=1)
    end = start + timedelta(hours=200 + over_hours)
    s.add(Run(project_id=project.id, user_id=user.id, machine_id="m",
                      started_at=start, ended_at=end, last_heartbeat_at=end,
                      duration_seconds=int((end - start).total_seconds()),
                      end_reason="user_stopped"))
    units = over_hours * 10
    s.add(OverageReport(user_id=user.id, month=month, meter=COMPUTE_METER,
                        identifier=f"{user.id}:{month_key(month)}:compute",
                        stripe_customer_id="cus_x", plan="pro", units=units, cents=units,
                        event_timestamp=0, status="accepted"))
    return units


def _reconciled(s, user, month, *, ours, on_invoice, status):
    s.add(InvoiceReconciliation(stripe_invoice_id=f"in_{month_key(month)}", user_id=user.id,
                                month=month, meter=COMPUTE_METER, our_units=ours,
                                invoice_units=on_invoice, status=status,
                                checked_at=datetime.now(UTC)))


def _history(engine, user):
    with Session(engine) as s:
        return {m["month"]: m for m in usage_summary(s, user_id=user.id)["history"]}


def test_a_reconciled_month_shows_the_invoice_and_flags_a_difference(
        engine, make_user, make_project, client_for):
    user = make_user(plan="pro", stripe_customer_id="cus_x")
    project = make_project(user)
    this = month_of(datetime.now(UTC))
    earlier, last = previous_month(previous_month(this)), previous_month(this)
    with Session(engine) as s:
        ours = _month_with_overage(s, user, project, earlier, 10)  # $1.00 by our computation
        _reconciled(s, user, earlier, ours=ours, on_invoice=130, status="over")
        _month_with_overage(s, user, project, last, 3)  # reported, no invoice yet
        s.commit()

    history = _history(engine, user)
    month = history[month_key(earlier)]
    assert month["breakdown"]["overage"]["total_cents"] == 100  # our computation
    assert month["status"] == "billed"
    assert month["overage_cents"] == 130 and month["overage_display"] == "$1.30"
    assert month["invoice"]["differs"] is True
    assert month["invoice"]["difference_cents"] == 30
    assert month["invoice"]["invoices"] == [f"in_{month_key(earlier)}"]
    assert "our computation is $1.00" in month["status_reason"]
    # A month with reports but no reconciled invoice still shows the reports, as pending.
    assert history[month_key(last)]["status"] == "pending"
    assert history[month_key(last)]["invoice"] is None
    assert history[month_key(last)]["overage_cents"] == 30

    # The same through the API and on the support console.
    body = client_for(user).get("/api/billing/usage").json()
    api_month = next(m for m in body["history"] if m["month"] == month_key(earlier))
    assert api_month["overage_cents"] == 130 and api_month["invoice"]["differs"] is True
    with Session(engine) as s:
        totals = user_overview(s, user_id=user.id)["monthly_totals"]
    console = next(m for m in totals if m["month"] == month_key(earlier))
    assert console["overage"].startswith("$1.30 (billed:")
    assert "our computation is $1.00" in console["overage"]

    # On /billing the row's details list the invoice and the difference.
    from aether_web.state.usage_view import history_rows

    with Session(engine) as s:
        rows = {r["key"]: r for r in history_rows(usage_summary(s, user_id=user.id))}
    assert rows[month_key(earlier)]["cost"] == "$1.30"
    assert "Differs from our computation ($1.00)" in rows[month_key(earlier)]["details"]


def test_a_late_remainder_shows_its_labelled_item_until_it_is_billed(
        engine, make_user, make_project):
    user = make_user(plan="pro", stripe_customer_id="cus_x")
    project = make_project(user)
    last = previous_month(month_of(datetime.now(UTC)))
    with Session(engine) as s:
        ours = _month_with_overage(s, user, project, last, 5)  # 50 cents
        _reconciled(s, user, last, ours=ours, on_invoice=20, status="short")
        item = OverageAdjustment(
            user_id=user.id, month=last, meter=COMPUTE_METER,
            idempotency_key=f"overage-item:{user.id}:{month_key(last)}:compute",
            stripe_customer_id="cus_x", units=30, cents=30, reason="late",
            description=f"Overage for {last:%B %Y}", status="item_created")
        s.add(item)
        s.commit()
        item_id = item.id

    month = _history(engine, user)[month_key(last)]
    assert month["status"] == "pending"
    assert month["overage_cents"] == 50
    assert month["invoice"]["invoice_cents"] == 20
    assert month["invoice"]["items"] == [{"description": f"Overage for {last:%B %Y}",
                                          "cents": 30, "billed": False,
                                          "why": "it reached Stripe after that month's "
                                                 "invoice was final"}]
    assert month["invoice"]["differs"] is False
    assert f'"Overage for {last:%B %Y}" $0.30' in month["status_reason"]

    with Session(engine) as s:
        row = s.get(OverageAdjustment, item_id)
        row.status, row.stripe_invoice_id = "billed", "in_next"
        s.add(row)
        s.commit()
    month = _history(engine, user)[month_key(last)]
    assert month["status"] == "billed" and month["overage_cents"] == 50
    assert "next invoice" not in month["status_reason"]


def _last_month_over_and_a_run_now(engine, make_user, make_project, **run):
    """A Pro user whose last month went over, with one run since this month began."""
    user = make_user(plan="pro", stripe_customer_id="cus_x")
    project = make_project(user)
    this = month_of(datetime.now(UTC))
    with Session(engine) as s:
        _month_with_overage(s, user, project, previous_month(this), 3)
        s.add(Run(project_id=project.id, user_id=user.id, machine_id="m",
                  started_at=month_start(this), **run))
        s.commit()
    return user, this


def test_the_header_prices_this_month_alone_with_the_numbers_billing_shows(
        engine, make_user, make_project):
    start = month_start(month_of(datetime.now(UTC)))
    user, this = _last_month_over_and_a_run_now(
        engine, make_user, make_project, ended_at=start + timedelta(minutes=90),
        last_heartbeat_at=start + timedelta(minutes=90), duration_seconds=5400,
        end_reason="user_stopped")
    now = datetime.now(UTC).replace(microsecond=0)
    with Session(engine) as s:
        full = usage_summary(s, user_id=user.id, now=now)
        header = usage_summary(s, user_id=user.id, now=now, with_history=False)
    assert [m["month"] for m in full["history"]] == [month_key(this),
                                                     month_key(previous_month(this))]
    assert [m["month"] for m in header["history"]] == [month_key(this)]
    assert header["history"][0] == full["history"][0]
    assert header["usage"] == full["usage"] and header["usage"]["compute_seconds"] == 5400
    assert header["overage_so_far_cents"] == full["overage_so_far_cents"]


def test_billing_opens_on_this_month_and_its_history_follows_priced_at_the_same_moment(
        engine, make_user, make_project):
    from aether_web.pages.billing.overview import read_history, read_overview

    user, this = _last_month_over_and_a_run_now(  # still running: it grows every second
        engine, make_user, make_project, ended_at=None, last_heartbeat_at=datetime.now(UTC))
    with Session(engine) as s:
        first = read_overview(s, user_id=user.id)
    assert [m["month"] for m in first.usage["history"]] == [month_key(this)]
    time.sleep(1.1)
    past = read_history(user.id, first.at)
    assert [row["key"] for row in past.rows] == [month_key(this),
                                                 month_key(previous_month(this))]
    assert past.rows[0] == first.history[0] and past.has_usage  # the same moment's numbers
