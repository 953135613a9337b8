"""The daily rebuild of usage_monthly at scale on PostgreSQL, beside one plain GROUP BY.

    .venv/bin/python -m bench.rebuild_bench [flags]

Flags (defaults in brackets):
  --runs N        runs to build [1000000]; the issue's scale is `--runs 10000000` (about ten
                  times the build time and disk; the rebuild's memory stays the same)
  --users N       users, one project each [runs / 50]
  --drift F       share of usage_monthly rows the bench makes wrong before timing [0.02]
  --rounds N      timed rounds of (reference, rebuild); the table shows the median [3]
  --admin-url URL PostgreSQL superuser URL (or AETHER_BENCH_ADMIN_URL); the bench (re)creates
                  its own database `aether_rebuild_bench` there and drops it at the end
                  [postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
  --keep          keep the database afterwards (to rerun with --reuse)
  --reuse         time the runs already in a kept database instead of building them

What it does: builds N runs over two months and a few days before them (lengths up to 10 h,
so some cross the month edge; 1% of the projects have an open run), then fills usage_monthly
with a first rebuild and makes `--drift` of its rows wrong. Each round then times, in the
same run and on the same rows:
1. the reference: one plain GROUP BY, `SELECT user_id, sum(duration_seconds) FROM
   usage_records WHERE <closed, touching the two months> GROUP BY user_id`, every row fetched;
2. the rebuild the daily job runs (`usage_rebuild.rebuild_monthly`, both months, drift found,
   corrected, one summary), in a transaction rolled back afterwards so each round finds the
   same drift;
3. the month-end read (`usage_rebuild.compute_seconds_by_user` for one month, open runs to
   their last sign of life), every row fetched.
It prints the medians and the ratios to the reference (goal: rebuild <= 2x), then the job's
peak Python memory (tracemalloc, in an untimed extra run) and the process's peak RSS, and
the machine's load. Loopback only.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import Session, SQLModel  # noqa: E402

import aether_web.models  # noqa: E402, F401  (every table)
from aether_web.services import usage_rebuild  # noqa: E402

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DB_NAME = "aether_rebuild_bench"
# The rebuild runs "today": the runs fill February and March 2026 up to now, and a few days of
# January that it must leave out.
NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
MONTHS = [date(2026, 2, 1), date(2026, 3, 1)]
FIRST_START = datetime(2026, 1, 25, tzinfo=UTC)


def _url(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + name


def _create_database(admin_url: str) -> None:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{DB_NAME}"')
    admin.dispose()


def _drop_database(admin_url: str) -> None:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    admin.dispose()


def build(engine: sa.Engine, *, runs: int, users: int, drift: float) -> None:
    """N runs for `users` users (one project each), a correct usage_monthly, then `drift` of
    its rows made wrong."""
    SQLModel.metadata.create_all(engine)
    span = int((NOW - FIRST_START).total_seconds())
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        conn.execute(sa.text(
            "INSERT INTO profiles (id, email, password_hash, plan, is_admin, name, lock_version)"
            " SELECT gen_random_uuid(), 'bench-' || g || '@example.com', '', 'pro', false, '',"
            " 0 FROM generate_series(1, :users) AS g"), {"users": users})
        conn.execute(sa.text(
            "INSERT INTO projects (id, user_id, name, machine_type, vm_state, storage_bytes)"
            " SELECT gen_random_uuid(), id, 'bench', 'shared-cpu-1x', 'stopped', 0"
            " FROM profiles"))
        conn.exec_driver_sql(
            "CREATE TEMP TABLE bench_projects AS SELECT row_number() OVER () - 1 AS n, id,"
            " user_id FROM projects")
        conn.exec_driver_sql("CREATE INDEX ON bench_projects (n)")
        conn.execute(sa.text(
            "INSERT INTO usage_records (id, project_id, user_id, machine_id, machine_type,"
            " started_at, ended_at, last_heartbeat_at, duration_seconds, end_reason)"
            " SELECT gen_random_uuid(), p.id, p.user_id, 'm', 'shared-cpu-1x', r.s,"
            " r.s + make_interval(secs => r.d), r.s + make_interval(secs => r.d), r.d, 'user'"
            " FROM (SELECT g, CAST(:first AS timestamptz)"
            "        + make_interval(secs => floor(random() * :span)) AS s,"
            "        CAST(floor(random() * 36000) AS int) AS d"
            "       FROM generate_series(1, :runs) AS g) AS r"
            " JOIN bench_projects AS p ON p.n = r.g % :users"
            " WHERE r.s + make_interval(secs => r.d) <= CAST(:now AS timestamptz)"),
            {"first": FIRST_START, "span": span, "runs": runs, "users": users, "now": NOW})
        # Open runs: 1% of the projects, some alive, some silent for hours.
        conn.execute(sa.text(
            "INSERT INTO usage_records (id, project_id, user_id, machine_id, machine_type,"
            " started_at, last_heartbeat_at)"
            " SELECT gen_random_uuid(), id, user_id, 'm', 'shared-cpu-1x',"
            " CAST(:now AS timestamptz) - make_interval(secs => 3600 + n % 36000),"
            " CAST(:now AS timestamptz) - make_interval(secs => (n % 7) * 1800)"
            " FROM bench_projects WHERE n % 100 = 0"), {"now": NOW})
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM ANALYZE usage_records")
    with Session(engine) as s:
        usage_rebuild.rebuild_monthly(s, now=NOW, months=MONTHS)
        s.commit()
    with engine.begin() as conn:
        conn.execute(sa.text(
            "UPDATE usage_monthly SET compute_seconds = compute_seconds + 1 + (random() * 600)"
            "::int WHERE random() < :share"), {"share": drift})
        conn.exec_driver_sql("DELETE FROM drift_reports")


def reference(engine: sa.Engine) -> int:
    """One plain GROUP BY over the same rows; every row fetched. Returns the row count."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT user_id, sum(duration_seconds) FROM usage_records"
            " WHERE ended_at IS NOT NULL AND started_at < :hi AND ended_at > :lo"
            " GROUP BY user_id"),
            {"lo": datetime(2026, 2, 1, tzinfo=UTC), "hi": datetime(2026, 4, 1, tzinfo=UTC)}
        ).all()
    return len(rows)


def rebuild(engine: sa.Engine) -> usage_rebuild.DriftSummary:
    """The daily job's rebuild, rolled back so every round finds the same drift."""
    with Session(engine) as s:
        summary = usage_rebuild.rebuild_monthly(s, now=NOW, months=MONTHS)
        s.rollback()
    return summary


def month_end_read(engine: sa.Engine) -> int:
    with Session(engine) as s:
        return len(usage_rebuild.compute_seconds_by_user(s, month=MONTHS[0], now=NOW))


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=0)
    parser.add_argument("--drift", type=float, default=0.02)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--admin-url",
                        default=os.environ.get("AETHER_BENCH_ADMIN_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args(argv)
    users = args.users or max(1, args.runs // 50)
    logging.disable(logging.WARNING)  # the job's own summary line; printed once below

    if not args.reuse:
        _create_database(args.admin_url)
    engine = sa.create_engine(_url(args.admin_url, DB_NAME))
    try:
        if not args.reuse:
            print(f"building {args.runs} runs for {users} users ...", flush=True)
            seconds, _ = _timed(build, engine, runs=args.runs, users=users, drift=args.drift)
            print(f"built in {seconds:.1f} s", flush=True)
        with engine.connect() as conn:
            count = conn.exec_driver_sql("SELECT count(*) FROM usage_records").scalar_one()
            size = conn.exec_driver_sql(
                "SELECT pg_size_pretty(pg_total_relation_size('usage_records'))").scalar_one()
        print(f"usage_records: {count} rows, {size}")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        ref_times, job_times, read_times = [], [], []
        summary = None
        ref_rows = read_rows = 0
        for _ in range(args.rounds):
            t, ref_rows = _timed(reference, engine)
            ref_times.append(t)
            t, summary = _timed(rebuild, engine)
            job_times.append(t)
            t, read_rows = _timed(month_end_read, engine)
            read_times.append(t)
        tracemalloc.start()
        rebuild(engine)
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        engine.dispose()
        if not args.keep:
            _drop_database(args.admin_url)

    ref, job, read = (statistics.median(x) for x in (ref_times, job_times, read_times))
    assert summary is not None
    print()
    print(f"{'':34}{'median s':>10}{'x reference':>13}   rounds")
    print(f"{'reference: one plain GROUP BY':34}{ref:>10.3f}{1:>13.2f}   "
          + " ".join(f"{t:.3f}" for t in ref_times) + f"  ({ref_rows} users)")
    print(f"{'daily rebuild (2 months)':34}{job:>10.3f}{job / ref:>13.2f}   "
          + " ".join(f"{t:.3f}" for t in job_times) + f"  ({summary.count} drifts)")
    print(f"{'month-end read (1 month, open)':34}{read:>10.3f}{read / ref:>13.2f}   "
          + " ".join(f"{t:.3f}" for t in read_times) + f"  ({read_rows} users)")
    print()
    verdict = "met" if job / ref <= 2 else "NOT met"
    print(f"goal: rebuild <= 2x the plain GROUP BY: {job / ref:.2f}x, {verdict}")
    print(f"rebuild peak Python memory (tracemalloc): {peak / 1e6:.2f} MB")
    print(f"process peak RSS: {rss_before / 1024:.0f} MB before the rounds, "
          f"{rss_after / 1024:.0f} MB after")
    print(f"drift summary: {summary.describe()[:300]}")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
          f" on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
