"""Signed usage hooks against the prod server on PostgreSQL, side by side with pgbench.

    .venv/bin/python -m bench.hooks_bench [--seconds 15] [--clients 8]

Starts the prod build (`reflex run --env prod --single-port`) on a free loopback port against
a PostgreSQL database of its own, seeds one running VM per client, then for the same time:
1. sends signed `POST /api/hooks/vm/heartbeat` requests (the hook every running VM sends each
   minute) from `--clients` threads, each with its own project, and measures each request;
2. runs pgbench with the same number of clients on a script of the statements that hook runs
   (the pool's liveness check, lock the project, look up the event id, read the clock, find the
   open run, move its heartbeat, remember the event, commit).
Prints both rates, their ratio and the latencies. Goal: ratio >= 0.5, p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aether_web.api.hooks import sign  # noqa: E402
from tools.local_stack import LocalStack  # noqa: E402

SECRET = "bench-hook-secret-0123456789"
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DB_NAME = "aether_bench"


def project_uuid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


PGBENCH_SCRIPT = """\
\\set n :client_id + 1
\\set r random(1, 2000000000)
SELECT 1;
BEGIN;
SELECT id, user_id, machine_id, vm_state FROM projects
  WHERE id = ('00000000-0000-0000-0000-' || lpad(:n::text, 12, '0'))::uuid FOR UPDATE;
SELECT event_id, status_code, response FROM hook_events WHERE event_id = 'pgb-' || :r;
SELECT now();
SELECT id, started_at, last_heartbeat_at, machine_id FROM usage_records
  WHERE project_id = ('00000000-0000-0000-0000-' || lpad(:n::text, 12, '0'))::uuid
  AND ended_at IS NULL;
UPDATE usage_records SET last_heartbeat_at = date_trunc('second', now())
  WHERE project_id = ('00000000-0000-0000-0000-' || lpad(:n::text, 12, '0'))::uuid
  AND ended_at IS NULL;
INSERT INTO hook_events (event_id, kind, project_id, machine_id, outcome, received_at,
  status_code, response)
  VALUES (gen_random_uuid()::text, 'heartbeat',
  ('00000000-0000-0000-0000-' || lpad(:n::text, 12, '0'))::uuid, 'bench-m' || :n,
  'heartbeat', date_trunc('second', now()), 200,
  '{"recorded": true, "outcome": "heartbeat", "run_id": "x"}');
COMMIT;
"""


def fresh_database(admin_url: str) -> str:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {DB_NAME}")
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{DB_NAME}"


def seed(db_url: str, clients: int) -> None:
    """One Pro user and one project per client, each with a running VM (an open run)."""
    engine = sa.create_engine(db_url)
    user_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO profiles (id, email, name, password_hash, is_admin, "
                             "plan, lock_version) VALUES (:id, 'bench@example.com', 'bench', "
                             "'', false, 'pro', 0)"), {"id": user_id})
        for n in range(1, clients + 1):
            pid = project_uuid(n)
            conn.execute(sa.text(
                "INSERT INTO projects (id, user_id, name, machine_type, machine_id, vm_state, "
                "storage_bytes) VALUES (:id, :u, :name, 'shared-cpu-1x', :m, 'running', 0)"),
                {"id": pid, "u": user_id, "name": f"bench-{n}", "m": f"bench-m{n}"})
            conn.execute(sa.text(
                "INSERT INTO usage_records (id, project_id, user_id, machine_id, machine_type, "
                "started_at, last_heartbeat_at) VALUES (:id, :p, :u, :m, 'shared-cpu-1x', "
                "now(), now())"),
                {"id": uuid.uuid4(), "p": pid, "u": user_id, "m": f"bench-m{n}"})
    engine.dispose()


def hook_load(url: str, clients: int, seconds: float, *, health_only: bool = False
              ) -> tuple[int, list[float], int]:
    """Signed heartbeats from `clients` threads for `seconds`: (ok count, latencies, errors).
    With `health_only`, GET /api/health instead: the ceiling of the HTTP stack and this
    load generator on this machine, with no database work."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    stop_at: list[float] = [0.0]

    def worker(i: int) -> None:
        n = i + 1
        with httpx.Client(base_url=url, timeout=10) as client:
            client.get("/api/health")
            start.wait()
            while time.perf_counter() < stop_at[0]:
                body = json.dumps({"event_id": uuid.uuid4().hex, "project_id": project_uuid(n),
                                   "machine_id": f"bench-m{n}"}).encode()
                headers = {"Aether-Signature": sign(body, SECRET),
                           "Content-Type": "application/json"}
                t0 = time.perf_counter()
                if health_only:
                    r = client.get("/api/health")
                else:
                    r = client.post("/api/hooks/vm/heartbeat", content=body, headers=headers)
                elapsed = time.perf_counter() - t0
                if r.status_code == 200 and (health_only
                                             or r.json().get("outcome") == "heartbeat"):
                    latencies[i].append(elapsed)
                else:
                    errors[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds + 3600  # placeholder until everyone is ready
    start.wait()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    for t in threads:
        t.join()
    flat = [x for part in latencies for x in part]
    return len(flat), flat, sum(errors)


def pgbench(db_url: str, clients: int, seconds: int) -> dict[str, float]:
    """pgbench with the hook's statements; returns tps and p50/p99 latency (ms) from its
    per-transaction log."""
    libpq, _, query = db_url.replace("postgresql+psycopg://", "postgresql://").partition("?")
    env = dict(os.environ)
    if "synchronous_commit" in query:
        env["PGOPTIONS"] = "-c synchronous_commit=off"
    workdir = Path(tempfile.mkdtemp(prefix="aether-pgbench-"))
    script = workdir / "hook.sql"
    script.write_text(PGBENCH_SCRIPT)
    out = subprocess.run(
        ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(clients),
         "-T", str(seconds), "-f", str(script), "-l", "--log-prefix", str(workdir / "tx"),
         libpq],
        capture_output=True, text=True, timeout=seconds + 60, check=True, env=env).stdout
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    # Each log line: client_id transaction_no time_us script_no epoch epoch_us.
    latencies = [int(line.split()[2]) / 1_000_000
                 for log in workdir.glob("tx*") for line in log.read_text().splitlines()]
    shutil.rmtree(workdir, ignore_errors=True)
    return {"tps": tps, "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--synchronous-commit", choices=["on", "off"], default="on",
                        help="off takes the disk's commit latency out of both measurements "
                             "(for the app and for pgbench), leaving the work per request")
    parser.add_argument("--admin-url", default=os.environ.get("AETHER_BENCH_ADMIN_URL",
                                                              DEFAULT_ADMIN_URL))
    args = parser.parse_args(argv)

    db_url = fresh_database(args.admin_url)
    if args.synchronous_commit == "off":
        db_url += "?options=-c%20synchronous_commit%3Doff"
    logs = Path(tempfile.mkdtemp(prefix="aether-bench-"))
    stack = LocalStack(db_url=db_url, with_stripe=False, web_dir=str(ROOT / ".web-bench"),
                       log_dir=logs, extra_env={"AETHER_HOOK_SECRETS": SECRET,
                                                "AETHER_SCHEDULER_ENABLED": "false"})
    print(f"starting the prod server on PostgreSQL ({db_url}); logs in {logs}", flush=True)
    stack.start()
    try:
        seed(db_url, args.clients)
        hook_load(stack.url, args.clients, 2)  # warm up connections and caches
        count, latencies, errors = hook_load(stack.url, args.clients, args.seconds)
        health_count, health_latencies, _ = hook_load(stack.url, args.clients, 5,
                                                      health_only=True)
    finally:
        stack.stop()
    if not latencies:
        print(f"no successful hook requests ({errors} errors); see {logs}")
        return 1
    bench = pgbench(db_url, args.clients, args.seconds)
    rate = count / args.seconds
    ratio = rate / bench["tps"]
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    print()
    print(f"clients: {args.clients}, {args.seconds} s each, loopback, PostgreSQL, "
          f"synchronous_commit={args.synchronous_commit}")
    print(f"hooks   : {rate:9.1f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
          f"mean {statistics.mean(latencies) * 1000:6.2f} ms  ({count} ok, {errors} errors)")
    print(f"pgbench : {bench['tps']:9.1f} tx/s   p50 {bench['p50_ms']:6.2f} ms  "
          f"p99 {bench['p99_ms']:6.2f} ms  (same statements, prepared)")
    print(f"ceiling : {health_count / 5:9.1f} req/s  p50 "
          f"{percentile(health_latencies, 50) * 1000:6.2f} ms  p99 "
          f"{percentile(health_latencies, 99) * 1000:6.2f} ms  (GET /api/health, no database)")
    print(f"ratio   : {ratio:.2f} of pgbench (goal >= 0.50)   p99 goal < 50 ms: "
          f"{'met' if p99 < 50 else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
