"""How fast the month end reports every paying user's overage to Stripe, at scale.

Builds N paying users (default 100,000) in a fresh PostgreSQL database: each on Pro since
before last month, with a run in last month that goes over the plan's hours, and every other
user also over the included storage (so about 1.5 meter events per user). Starts the Stripe
emulator in its own process behind a latency per call (default 150 ms, a cloud region to
Stripe), creates the Stripe customers there, then runs the month-end job
(`services/invoicing/month_end.run_month_end`) as the scheduler would right after midnight,
and a second time (a rerun, which must send nothing).

Prints users/s beside the goal (>= 167 users/s: 100,000 users in 10 minutes), the Stripe calls
by endpoint, peak memory, and the machine's load.

    .venv/bin/python -m bench.month_end_bench [--users 100000] [--latency-ms 150]
        [--concurrency 128] [--rate 900] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_USERS_PER_SECOND = 167
GB = 10**9


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def _cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of this process (or of `pid`, from /proc)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _start_emulator(latency_ms: float) -> tuple[subprocess.Popen, str]:
    from tools.stripe_emulator.testing import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.stripe_emulator", "--port", str(port),
         "--latency-ms", str(latency_ms), "--log-level", "warning"], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/_emulator/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("the Stripe emulator did not start")
        time.sleep(0.2)


def _copy(conn, table: str, columns: list[str], rows) -> None:
    """COPY rows (tuples) into `table` through psycopg."""
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)


def seed(engine: sa.Engine, customers: list[str], month_start: datetime) -> float:
    """N Pro users with last month's usage over the plan; returns the seconds it took."""
    from aether_web.billing.plans import PRO

    started = time.monotonic()
    n = len(customers)
    ids = [uuid.uuid4() for _ in range(n)]
    projects = [uuid.uuid4() for _ in range(n)]
    since = month_start - timedelta(days=40)
    run_start = month_start + timedelta(days=1)
    with engine.begin() as conn:
        _copy(conn, "profiles", ["id", "email", "name", "password_hash", "is_admin", "plan",
                                 "lock_version", "stripe_customer_id", "subscription_status"],
              ((ids[i], f"bench-{i}@example.com", "", "", False, "pro", 0, customers[i],
                "active") for i in range(n)))
        _copy(conn, "plan_intervals", ["id", "user_id", "plan", "started_at", "cause"],
              ((uuid.uuid4(), ids[i], "pro", since, "checkout") for i in range(n)))
        _copy(conn, "projects", ["id", "user_id", "name", "machine_type", "vm_state",
                                 "storage_bytes"],
              ((projects[i], ids[i], "app", "shared-cpu-1x", "stopped", 0) for i in range(n)))
        _copy(conn, "usage_records", ["id", "project_id", "user_id", "machine_id",
                                      "machine_type", "started_at", "ended_at",
                                      "duration_seconds", "end_reason"],
              ((uuid.uuid4(), projects[i], ids[i], f"m{i}", "shared-cpu-1x", run_start,
                run_start + timedelta(seconds=PRO.compute_seconds + 360 * (1 + i % 97)),
                PRO.compute_seconds + 360 * (1 + i % 97), "stopped") for i in range(n)))
        _copy(conn, "storage_samples", ["project_id", "user_id", "at", "bytes_used"],
              ((projects[i], ids[i], month_start, (PRO.storage_gb + 2) * GB)
               for i in range(0, n, 2)))
        conn.exec_driver_sql("ANALYZE")
    return time.monotonic() - started


def _calls(url: str) -> dict:
    return httpx.get(f"{url}/_emulator/requests", timeout=30).json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--rate", type=float, default=900.0,
                        help="meter events per second at most (Stripe allows 1,000/s)")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server's maintenance database (a fresh database "
                             "is created beside it and dropped at the end)")
    args = parser.parse_args(argv)

    from aether_web.billing.periods import month_end, month_of, previous_month
    from aether_web.cli import migrate
    from aether_web.db import make_engine

    name = f"aether_month_end_bench_{os.getpid()}"
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db_url = args.pg.rsplit("/", 1)[0] + f"/{name}"
    proc, stripe_url = _start_emulator(args.latency_ms)
    try:
        os.environ["REFLEX_DB_URL"] = db_url
        os.environ["STRIPE_API_BASE"] = stripe_url
        from aether_web.settings import get_settings

        get_settings.cache_clear()
        migrate(db_url)
        engine = make_engine(db_url)
        now = datetime.now(UTC)
        month = previous_month(month_of(now))
        if now < month_end(month) + timedelta(minutes=10):
            raise SystemExit("run this more than 10 minutes after midnight on the 1st")

        from aether_web.integrations.stripe import StripeGateway, ensure_catalog, make_client
        from aether_web.services.invoicing import month_end as month_end_job

        with httpx.Client(timeout=120) as http:
            http.post(f"{stripe_url}/_emulator/faults", json={"latency_ms": 0}).raise_for_status()
            ensure_catalog(StripeGateway(make_client(get_settings())))
            customers = http.post(f"{stripe_url}/_emulator/customers/bulk",
                                  json={"count": args.users}).json()["ids"]
            print(f"seeding {args.users:,} paying users in PostgreSQL ...", flush=True)
            seeded = seed(engine, customers, datetime(month.year, month.month, 1, tzinfo=UTC))
            print(f"seeded in {seeded:.1f} s", flush=True)
            http.post(f"{stripe_url}/_emulator/faults",
                      json={"latency_ms": args.latency_ms}).raise_for_status()
            http.post(f"{stripe_url}/_emulator/requests/clear").raise_for_status()

        rss_before = _rss_mb()
        load_before = _load()
        cpu_app, cpu_stripe = _cpu_seconds(), _cpu_seconds(proc.pid)
        started = time.monotonic()
        detail = month_end_job.run_month_end(engine=engine, concurrency=args.concurrency,
                                             rate=args.rate)
        elapsed = time.monotonic() - started
        cpu_app, cpu_stripe = _cpu_seconds() - cpu_app, _cpu_seconds(proc.pid) - cpu_stripe
        calls = _calls(stripe_url)
        rss_peak = _rss_mb()
        started = time.monotonic()
        rerun = month_end_job.run_month_end(engine=engine, concurrency=args.concurrency,
                                            rate=args.rate)
        rerun_elapsed = time.monotonic() - started
        calls_after = _calls(stripe_url)
        with engine.connect() as conn:
            statuses = dict(conn.execute(sa.text(
                "SELECT status, count(*) FROM overage_reports GROUP BY status")).all())
            accepted_at = conn.execute(sa.text(
                "SELECT accepted_at FROM overage_months WHERE month = :m"), {"m": month}).scalar()

        out = io.StringIO()
        print(f"\nmonth end of {month:%Y-%m}: {args.users:,} paying users, Stripe latency "
              f"{args.latency_ms:.0f} ms per call, concurrency {args.concurrency}, "
              f"at most {args.rate:.0f} meter events/s", file=out)
        print(f"  job: {detail}", file=out)
        rate = args.users / elapsed
        verdict = "meets" if rate >= GOAL_USERS_PER_SECOND else "MISSES"
        print(f"  {elapsed:.1f} s -> {rate:.0f} users/s (goal >= {GOAL_USERS_PER_SECOND} users/s:"
              f" {verdict} it)", file=out)
        events = calls["calls"].get("POST /v1/billing/meter_events", 0)
        print(f"  meter events/s: {events / elapsed:.0f} (Stripe's limit 1,000/s)", file=out)
        print(f"  CPU: the month end {cpu_app:.1f} s ({1000 * cpu_app / args.users:.2f} ms per "
              f"user), the emulator {cpu_stripe:.1f} s; a whole core for the month end alone "
              f"would give {args.users / max(cpu_app, 1e-9):.0f} users/s", file=out)
        print("  Stripe calls by endpoint:", file=out)
        for endpoint, count in sorted(calls["calls"].items()):
            print(f"    {endpoint:40} {count:>9,}", file=out)
        print(f"  reports by status: {statuses}; month accepted at {accepted_at}", file=out)
        print(f"  peak memory (max RSS of this process): {rss_peak:.0f} MB "
              f"(before the month end {rss_before:.0f} MB)", file=out)
        rerun_calls = calls_after["total"] - calls["total"]
        print(f"  rerun: {rerun_calls} Stripe calls in {rerun_elapsed:.1f} s ({rerun})"
              f" -> {'sends nothing' if rerun_calls == 0 else 'SENT AGAIN'}", file=out)
        print(f"  machine: before {load_before}; after {_load()}", file=out)
        print(out.getvalue())
        return 0 if rate >= GOAL_USERS_PER_SECOND and rerun_calls == 0 else 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
