"""The daily rebuild of usage_monthly: one GROUP BY in the database, runs split at the month
edges, every difference corrected, and one drift summary per run of the job."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.periods import split_seconds_by_month
from aether_web.db import transaction
from aether_web.models import DriftReport, Run, UsageMonthly
from aether_web.services import usage_rebuild

FEB, MAR = date(2024, 2, 1), date(2024, 3, 1)
NOW = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


def _run(session, project, start, end=None, last=None):
    run = Run(project_id=project.id, user_id=project.user_id, machine_id="m",
                      started_at=start, ended_at=end, last_heartbeat_at=last or end or start,
                      duration_seconds=int((end - start).total_seconds()) if end else None,
                      end_reason="user" if end else None)
    session.add(run)
    return run


def test_runs_are_split_at_month_edges_and_open_runs_count_to_their_last_sign_of_life(
        engine, make_user, make_project):
    user = make_user(plan="pro")
    project = make_project(user)
    edge = datetime(2024, 3, 1, tzinfo=UTC)
    with transaction(engine) as s:
        _run(s, project, edge - timedelta(hours=1, seconds=7), edge + timedelta(hours=2))
        _run(s, project, datetime(2024, 1, 31, 23, tzinfo=UTC), datetime(2024, 2, 1, 0, 30,
                                                                          tzinfo=UTC))
        # Open and silent since 10:00: counted to 10:00, not to now.
        _run(s, make_project(user), NOW - timedelta(hours=5), last=NOW - timedelta(hours=2))
    with Session(engine) as s:
        closed_feb = usage_rebuild.compute_seconds_by_user(s, month=FEB, now=NOW,
                                                           include_open=False)
        closed_mar = usage_rebuild.compute_seconds_by_user(s, month=MAR, now=NOW,
                                                           include_open=False)
        with_open = usage_rebuild.compute_seconds_by_user(s, month=MAR, now=NOW)
    assert closed_feb == {user.id: 3607 + 1800}
    assert closed_mar == {user.id: 7200}
    assert with_open == {user.id: 7200 + 3 * 3600}
    assert split_seconds_by_month(edge - timedelta(hours=1, seconds=7),
                                  edge + timedelta(hours=2)) == {FEB: 3607, MAR: 7200}


def test_drift_is_corrected_and_reported_once_as_one_summary(
        engine, make_user, make_project, monkeypatch):
    sent = []
    monkeypatch.setattr(usage_rebuild.sentry_sdk, "capture_message",
                        lambda message, level=None: sent.append((message, level)))
    users = [make_user(plan="pro") for _ in range(14)]
    projects = [make_project(u) for u in users]
    with transaction(engine) as s:
        for i, project in enumerate(projects):
            start = datetime(2024, 3, 2, tzinfo=UTC)
            _run(s, project, start, start + timedelta(seconds=1000 * (i + 1)))
            # The cache is short by i seconds for every user but the first.
            s.add(UsageMonthly(user_id=project.user_id, month=MAR,
                               compute_seconds=1000 * (i + 1) - i))
        # A cached February with no run behind it.
        s.add(UsageMonthly(user_id=users[0].id, month=FEB, compute_seconds=500))
    with transaction(engine) as s:
        summary = usage_rebuild.rebuild_monthly(s, now=NOW)
    assert summary.months == (FEB, MAR)
    assert summary.count == 13 + 1
    assert summary.total_seconds == sum(range(1, 14)) + 500
    assert summary.net_seconds == sum(range(1, 14)) - 500
    assert len(summary.worst) == usage_rebuild.WORST_CASES
    assert [d.difference for d in summary.worst[:3]] == [-500, 13, 12]
    assert (summary.worst[0].user_id, summary.worst[0].month) == (users[0].id, FEB)
    assert len(sent) == 1 and sent[0][1] == "warning"
    assert "14 user-months corrected" in sent[0][0] and str(users[0].id) in sent[0][0]
    with Session(engine) as s:
        cache = {(m.user_id, m.month): m.compute_seconds
                 for m in s.exec(select(UsageMonthly)).all()}
        assert len(s.exec(select(DriftReport)).all()) == 14
    assert cache[(users[0].id, FEB)] == 0
    assert all(cache[(p.user_id, MAR)] == 1000 * (i + 1) for i, p in enumerate(projects))
    # Nothing drifts any more: the next run reports that, and sends nothing.
    with transaction(engine) as s:
        again = usage_rebuild.rebuild_monthly(s, now=NOW)
    assert again.count == 0 and len(sent) == 1


def test_a_missing_cache_row_is_added(engine, make_user, make_project):
    project = make_project(make_user(plan="pro"))
    with transaction(engine) as s:
        _run(s, project, datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 2, 1, tzinfo=UTC))
    with transaction(engine) as s:
        summary = usage_rebuild.rebuild_monthly(s, now=NOW, months=[MAR])
    assert (summary.count, summary.net_seconds) == (1, 3600)
    with Session(engine) as s:
        row = s.exec(select(UsageMonthly)).one()
    assert (row.user_id, row.month, row.compute_seconds) == (project.user_id, MAR, 3600)
    assert row.storage_gb_hours == 0


def test_the_job_reports_one_line(engine, make_user, make_project):
    from aether_web.jobs import metering

    project = make_project(make_user(plan="pro"))
    now = datetime.now(UTC).replace(microsecond=0)
    with transaction(engine) as s:  # a run of the last hours that the cache never got
        _run(s, project, now - timedelta(hours=2), now - timedelta(hours=1))
    with transaction(engine) as s:
        line = metering.rebuild_usage_monthly(s)
    assert "1 user-months corrected, 3600 s in all (net +3600 s)" in line
    with transaction(engine) as s:
        assert "matches the runs" in metering.rebuild_usage_monthly(s)


@pytest.mark.postgres
def test_the_drift_is_found_by_a_statement_postgresql_may_run_in_parallel(
        engine, make_user, make_project):
    # INSERT ... SELECT would be planned on one core whatever the costs; CREATE TABLE AS
    # may use parallel workers (the costs are zeroed so that a few rows are enough).
    project = make_project(make_user())
    with transaction(engine) as s:
        _run(s, project, datetime(2024, 2, 3, tzinfo=UTC), datetime(2024, 2, 3, 2, tzinfo=UTC))
    with transaction(engine) as s:
        for setting in ("parallel_setup_cost", "parallel_tuple_cost",
                        "min_parallel_table_scan_size"):
            s.execute(sa.text(f"SET LOCAL {setting} = 0"))
        create = usage_rebuild._find_drift(s, months=[FEB, MAR], now=NOW)
        ddl = str(create.compile(dialect=s.get_bind().dialect))
        plan = "\n".join(row[0] for row in s.execute(sa.text(f"EXPLAIN {ddl}")))
        assert "Gather" in plan, plan
        assert "Gather" not in "\n".join(row[0] for row in s.execute(sa.text(
            "EXPLAIN INSERT INTO usage_monthly (id, user_id, month, compute_seconds, "
            "storage_gb_hours) SELECT gen_random_uuid(), user_id, DATE '2024-02-01', "
            "sum(duration_seconds), 0 FROM usage_records GROUP BY user_id")))
