"""The month end's period bills against one GROUP BY over the same runs, on PostgreSQL.

Builds a fresh database with N runs of one month (spread over users with two projects each,
a third of them changing plans mid-month, storage samples for every project), then times:
  reference: one GROUP BY of the month's clamped run seconds per user, every row fetched;
  ours:      `services.period_bill.period_bills` for every user (intervals clamped in SQL,
             runs cut at interval and month edges in SQL, storage step function in SQL,
             one streamed row per user and project, priced in Python).
Prints both times, their ratio (goal: at most 2x) and the peak Python memory of ours
(tracemalloc) beside the process's peak RSS.

    .venv/bin/python -m bench.period_bill_bench [--runs 200000] [--users 20000]
        [--base-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--keep]

At 10 million runs: `--runs 10000000 --users 500000` (about 3 GB of disk and 10-20 minutes
of seeding on a 2-core machine; the timed part streams, so its memory does not grow with N).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MONTH = date(2026, 1, 1)


def _create_database(base_url: str) -> str:
    name = f"aether_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return base_url.rsplit("/", 1)[0] + "/" + name


def _drop_database(base_url: str, url: str) -> None:
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    admin.dispose()


SEED = """
INSERT INTO profiles (id, email, name, password_hash, is_admin, plan, lock_version, created_at)
SELECT md5('u' || g)::uuid, 'bench' || g || '@example.com', '', '', false,
       (ARRAY['free', 'pro', 'team'])[1 + g % 3], 0, '2025-06-01'
FROM generate_series(1, :users) g;

INSERT INTO plan_intervals (id, user_id, plan, started_at, ended_at, cause)
SELECT md5('i1' || g)::uuid, md5('u' || g)::uuid,
       CASE WHEN g % 3 = 0 THEN 'team' ELSE (ARRAY['free', 'pro', 'team'])[1 + g % 3] END,
       '2025-06-01', CASE WHEN g % 3 = 0 THEN timestamptz '2026-01-01' + (g % 28) * interval '1 day' END,
       'backfill'
FROM generate_series(1, :users) g;
INSERT INTO plan_intervals (id, user_id, plan, started_at, ended_at, cause)
SELECT md5('i2' || g)::uuid, md5('u' || g)::uuid, 'pro',
       timestamptz '2026-01-01' + (g % 28) * interval '1 day', NULL, 'switch'
FROM generate_series(1, :users) g WHERE g % 3 = 0;

INSERT INTO projects (id, user_id, name, machine_type, vm_state, storage_bytes)
SELECT md5('p' || g || '-' || k)::uuid, md5('u' || g)::uuid, 'p' || k, 'shared-cpu-1x',
       'stopped', 0
FROM generate_series(1, :users) g, generate_series(1, 2) k;

INSERT INTO storage_samples (project_id, user_id, at, bytes_used)
SELECT md5('p' || g || '-' || (1 + k % 2))::uuid, md5('u' || g)::uuid,
       timestamptz '2025-12-20' + k * interval '9 days', (g % 40) * 1000000000::bigint
FROM generate_series(1, :users) g, generate_series(1, 3) k;

INSERT INTO usage_records (id, project_id, user_id, machine_id, machine_type, started_at,
                           ended_at, last_heartbeat_at, duration_seconds, end_reason)
SELECT gen_random_uuid(), md5('p' || u || '-' || (1 + r % 2))::uuid, md5('u' || u)::uuid,
       'm', 'shared-cpu-1x', s, s + d, s + d, extract(epoch from d)::int, 'stopped'
FROM (SELECT r, 1 + r % :users AS u,
             timestamptz '2025-12-31 20:00' + (r * 7919 % 2700000) * interval '1 second' AS s,
             (600 + r * 104729 % 30000) * interval '1 second' AS d
      FROM generate_series(1::bigint, :runs) r) x;
ANALYZE;
"""

REFERENCE = """
SELECT user_id,
       sum(floor(extract(epoch from least(ended_at, :end)))
           - floor(extract(epoch from greatest(started_at, :start))))
FROM usage_records
WHERE started_at < :end AND ended_at > :start
GROUP BY user_id
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--base-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    url = _create_database(args.base_url)
    os.environ["REFLEX_DB_URL"] = url
    try:
        from sqlmodel import Session

        from aether_web.billing.periods import month_end, month_start
        from aether_web.cli import migrate
        from aether_web.db import make_engine
        from aether_web.services.period_bill import period_bills

        migrate(url=url)
        engine = make_engine(url)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            for statement in SEED.split(";\n"):
                if statement.strip():
                    conn.execute(sa.text(statement), {"users": args.users, "runs": args.runs})
        print(f"seeded {args.runs:,} runs of {args.users:,} users in "
              f"{time.perf_counter() - t0:.1f} s")
        now = datetime(2026, 2, 1, 0, 10, tzinfo=UTC)
        start, end = month_start(MONTH), month_end(MONTH)

        def reference() -> int:
            with engine.connect() as conn:
                rows = conn.execute(sa.text(REFERENCE), {"start": start, "end": end})
                return sum(1 for _ in rows)

        def ours() -> int:
            with Session(engine) as s:
                return sum(1 for _ in period_bills(s, month=MONTH, now=now))

        def best(fn) -> tuple[float, int]:
            times, count = [], 0
            for _ in range(args.repeat):
                t = time.perf_counter()
                count = fn()
                times.append(time.perf_counter() - t)
            return min(times), count

        ref_time, ref_rows = best(reference)
        our_time, bills = best(ours)
        tracemalloc.start()
        ours()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        load = os.getloadavg()
        print(f"reference GROUP BY : {ref_time:7.3f} s ({ref_rows:,} users with runs)")
        print(f"period_bills       : {our_time:7.3f} s ({bills:,} bills)")
        print(f"ratio              : {our_time / ref_time:7.2f}x   (goal: at most 2x)")
        print(f"peak Python memory of period_bills: {peak / 1e6:.1f} MB "
              f"(process peak RSS {rss:.0f} MB)")
        print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        engine.dispose()
    finally:
        if not args.keep:
            _drop_database(args.base_url, url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
