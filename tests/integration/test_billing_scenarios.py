"""The lifecycles of issue 10, read back through GET /api/billing/usage as the user sees them:
each month priced on the plans actually held (policy rules 3-7, 16-17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from aether_web.billing.plans import BYTES_PER_GB
from aether_web.models import Profile, Run, StorageSample
from aether_web.services.plan_history import change_plan
from tests.integration.stripe_support import Bed, bed, billing_bed

FIXTURES = (bed, billing_bed)  # used by name by pytest


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _setup(engine, user, project, *, plans, runs=(), samples=()):
    with Session(engine) as s:
        profile = s.get(Profile, user.id)
        for moment, plan, cause in plans:
            change_plan(s, profile=profile, plan=plan, cause=cause, at=moment)
        for start, hours in runs:
            s.add(Run(project_id=project.id, user_id=user.id, started_at=start,
                              ended_at=start + timedelta(hours=hours)))
        for moment, gb in samples:
            s.add(StorageSample(project_id=project.id, user_id=user.id, at=moment,
                                bytes_used=gb * BYTES_PER_GB))
        s.commit()


def _month(client, key):
    body = client.get("/api/billing/usage").json()
    return next(m for m in body["history"] if m["month"] == key)


def test_team_to_pro_on_the_28th_with_400_hours_costs_nothing(engine, make_user, make_project,
                                                                client_for):
    user = make_user()
    project = make_project(user, name="api")
    _setup(engine, user, project,
           plans=[(at(2026, 10, 1), "team", "checkout"), (at(2026, 11, 28), "pro", "switch")],
           runs=[(at(2026, 11, 3), 400)])
    month = _month(client_for(user), "2026-11")
    b = month["breakdown"]
    assert [(i["plan"], i["start"], i["end"]) for i in b["intervals"]] == [
        ("team", "2026-11-01T00:00:00Z", "2026-11-28T00:00:00Z"),
        ("pro", "2026-11-28T00:00:00Z", "2026-12-01T00:00:00Z")]
    assert b["included"]["compute_display"] == "470 h"  # 500 h x 27/30 + 200 h x 3/30
    assert month["compute_hours"] == 400.0
    assert month["overage_cents"] == 0 and month["status"] == "none"


def test_pro_to_team_late_in_the_month_still_bills_the_pro_weeks(engine, make_user,
                                                                 make_project, client_for):
    user = make_user()
    project = make_project(user)
    _setup(engine, user, project,
           plans=[(at(2026, 10, 1), "pro", "checkout"), (at(2026, 11, 29), "team", "switch")],
           runs=[(at(2026, 11, 2), 300)])
    month = _month(client_for(user), "2026-11")
    b = month["breakdown"]
    # 200 h x 28/30 + 500 h x 2/30 = 186 h 40 m + 33 h 20 m = 220 h; 80 h over = $8.00
    assert b["included"]["compute_display"] == "220 h"
    assert b["overage"]["compute_cents"] == 800
    # nothing was reported to Stripe in this test: the amount owed, and why no invoice has it
    assert month["status"] == "not_billed" and month["overage_display"] == "$8.00"


def test_hours_on_free_before_an_upgrade_never_eat_into_pro(engine, make_user, make_project,
                                                            client_for):
    user = make_user()
    project = make_project(user, name="web")
    _setup(engine, user, project,
           plans=[(at(2026, 10, 20), "pro", "checkout")],
           runs=[(at(2026, 10, 2), 45), (at(2026, 10, 21), 80)])
    month = _month(client_for(user), "2026-10")
    b = month["breakdown"]
    assert b["included"]["compute_display"] == "77 h 25 m 10 s"  # 200 h x 12/31
    assert b["counted"]["compute_seconds"] == 80 * 3600
    assert b["counted"]["free_compute_seconds"] == 45 * 3600
    # 80 h - 77 h 25 m 10 s = 2 h 34 m 50 s = 25 whole 6-minute units
    assert b["overage"]["compute_cents"] == 25
    assert month["compute_hours"] == 125.0
    assert b["projects"][0]["name"] == "web" and b["projects"][0]["total_cents"] == 25


def test_holding_exactly_10_gb_on_pro_costs_nothing_in_january_and_february(
        engine, make_user, make_project, client_for):
    user = make_user()
    project = make_project(user)
    _setup(engine, user, project, plans=[(at(2025, 12, 1), "pro", "checkout")],
           samples=[(at(2025, 12, 15), 10)])
    client = client_for(user)
    body = client.get("/api/billing/usage").json()
    history = {m["month"]: m for m in body["history"]}
    january, february = history["2026-01"], history["2026-02"]
    assert january["breakdown"]["included"]["storage_gb_hours"] == "7440.0000"
    assert january["breakdown"]["counted"]["storage_gb_hours"] == "7440.0000"
    assert january["storage_gb"] == 10.0 and january["overage_cents"] == 0
    assert february["breakdown"]["included"]["storage_gb_hours"] == "6720.0000"
    assert february["storage_gb"] == 10.0 and february["overage_cents"] == 0


def test_team_holding_its_50_gb_all_january_costs_nothing(engine, make_user, make_project,
                                                          client_for):
    user = make_user()
    project = make_project(user)
    _setup(engine, user, project, plans=[(at(2025, 12, 1), "team", "checkout")],
           samples=[(at(2025, 12, 15), 50)])
    january = _month(client_for(user), "2026-01")
    assert january["overage_cents"] == 0 and january["storage_gb"] == 50.0


def test_december_after_team_ended_with_november_is_not_priced_on_pro(
        bed: Bed, engine, make_user, make_project, client_for):
    user = make_user()
    project = make_project(user)
    _setup(engine, user, project,
           plans=[(at(2026, 10, 1), "team", "checkout"),
                  (at(2026, 12, 1), "free", "cancellation")],
           runs=[(at(2026, 11, 2), 400)])
    client = client_for(user)
    bed.checkout(client, "pro")  # buys Pro through Checkout today
    bed.wait_for_plan(user.id, "pro")
    bed.settle()
    body = client.get("/api/billing/usage").json()
    november = next(m for m in body["history"] if m["month"] == "2026-11")
    assert [i["plan"] for i in november["breakdown"]["intervals"]] == ["team"]
    assert november["overage_cents"] == 0 and november["overage_display"] == "$0.00"
    assert november["status"] == "none"
    december = body["history"][0]
    assert [i["plan"] for i in december["breakdown"]["intervals"]] == ["free", "pro"]
    assert december["breakdown"]["included"]["compute_seconds"] < 200 * 3600
    assert body["plan"] == "pro" and body["overage_so_far_cents"] == 0
