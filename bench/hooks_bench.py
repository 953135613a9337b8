"""Signed usage hooks against the prod server on PostgreSQL, side by side with pgbench.

    .venv/bin/python -m bench.hooks_bench [flags]

Flags (defaults in brackets):
  --seconds N            length of each measured run, hooks and pgbench alike [15]
  --clients N[,N...]     concurrent clients: wrk connections and pgbench clients; each count
                         is measured in turn, on the same server [8,32]
  --rounds N             rounds of (hooks, then pgbench); the table shows the median [3]
  --workers N            backend workers of the prod server (uvicorn workers under
                         gunicorn, as production runs them) [2]
  --redis-url URL        Redis for Reflex's state manager, as in production; "none" runs
                         without it (one worker) [redis://127.0.0.1:6379]
  --synchronous-commit   on|off: off takes the disk's commit latency out of both sides [on]
  --admin-url URL        PostgreSQL superuser URL (or AETHER_BENCH_ADMIN_URL); the bench
                         (re)creates its own database `aether_bench` on that server
                         [postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Starts the prod build (`reflex run --env prod --single-port`) on a free loopback port against
that database, with Redis and `--workers` workers (how production runs), and seeds one
Pro user with one project per client, each with a running VM (an open run). Then each round:
1. wrk (a C load generator) sends signed `POST /api/hooks/vm/heartbeat` requests over
   `--clients` keep-alive connections, one thread and one project per connection. The requests
   are generated and signed just before the run, each with a unique event_id; every answer must
   be 200 with outcome "heartbeat". Latency percentiles come from wrk's own histogram.
2. pgbench, with the server idle, runs the statement that hook runs (heartbeat.HEARTBEAT_SQL,
   the very text the server prepares, with pgbench variables for its parameters; printed below)
   with the same number of clients, one project per client, `-M prepared`, one statement per
   transaction, as the hook's autocommit connection does: one heartbeat per transaction.
The two never run at the same time. PostgreSQL's own statistics (pg_stat_database) then show
how many transactions the hooks ran per request: a worker sends the heartbeats that arrive
while its statements are out together in one (heartbeat.HEARTBEATS_SQL), so under load it is
below one; more than one means some requests did more than the statement pgbench measured,
and the run is reported invalid. A short wrk run of GET /api/health (no database) gives the
HTTP stack's own ceiling. Goal, at each client count: hooks >= 0.5 of the pgbench rate and
hook p99 < 50 ms. Loopback only; bounded by about
counts * (rounds * (2 * seconds + 10) + 30) s after the server is up.
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
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aether_web.api.hooks import sign  # noqa: E402
from aether_web.services import heartbeat  # noqa: E402
from tools.local_stack import LocalStack  # noqa: E402

SECRET = "bench-hook-secret-0123456789"
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
DB_NAME = "aether_bench"
HOOK_PATH = "/api/hooks/vm/heartbeat"
# Seconds until idle backends have published their statistics (PGSTAT_IDLE_INTERVAL is 10 s).
STATS_DELAY = 11
# Requests generated per wrk connection and second: above what one connection can do (that
# would need < 0.4 ms per request); running out would repeat event_ids, which wrk reports.
REQUESTS_PER_CONNECTION_SECOND = 2500


def project_uuid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


# Client n uses project n, like wrk connection n.
PGBENCH_VARIABLES = {
    ":project_id": "('00000000-0000-0000-0000-' || lpad(:n::text, 12, '0'))",
    ":event_id": "('pgb-' || :r)",
    ":machine_id": "('bench-m' || :n)",
    ":at": "NULL",
}


def pgbench_script() -> str:
    """The statement the heartbeat hook runs (heartbeat.HEARTBEAT_SQL, the same text the server
    sends), with pgbench variables for its parameters: client n heartbeats project n under a
    random event_id, at the database's clock."""
    statement = heartbeat.HEARTBEAT_SQL
    for name, expression in PGBENCH_VARIABLES.items():
        statement = re.sub(re.escape(name) + r"\b", lambda _m, e=expression: e, statement)
    if re.search(r"(?<!:):[a-z_]+\b(?!:)", statement.replace(":n", "").replace(":r", "")):
        raise RuntimeError(f"a parameter is left in the pgbench script:\n{statement}")
    return ("\\set n :client_id + 1\n\\set r random(1, 9000000000000000000)\n"
            + statement + ";\n")


WRK_SCRIPT = r"""
-- args: <dir of reqs-<thread>.txt files> <path> <expect substring or "">
local threads, counter = {}, 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  local dir, path, method = args[1], args[2], args[3]
  expect = args[4] or ""
  reqs, i, bad, wrapped = {}, 0, 0, 0
  local f = assert(io.open(dir .. "/reqs-" .. id .. ".txt", "r"))
  for line in f:lines() do
    if method == "GET" then
      reqs[#reqs + 1] = wrk.format("GET", path)
    else
      local body, sig = line:match("^(.-)\t(.*)$")
      reqs[#reqs + 1] = wrk.format("POST", path, {["Content-Type"] = "application/json",
                                                 ["Aether-Signature"] = sig}, body)
    end
  end
  f:close()
end

function request()
  i = i + 1
  if i > #reqs then i, wrapped = 1, wrapped + 1 end
  return reqs[i]
end

function response(status, headers, body)
  if status ~= 200 or (expect ~= "" and not body:find(expect, 1, true)) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local bad_total, wrapped_total = 0, 0
  for _, t in ipairs(threads) do
    bad_total = bad_total + t:get("bad")
    wrapped_total = wrapped_total + t:get("wrapped")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "bad": %d, "wrapped": %d, ' ..
    '"socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, bad_total, wrapped_total,
    e.connect + e.read + e.write + e.timeout))
end
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


def transactions(db_url: str) -> int:
    """Transactions committed or rolled back in the bench database so far (PostgreSQL's
    statistics, which it publishes within about a second)."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")
            return int(conn.exec_driver_sql(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                "WHERE datname = current_database()").scalar_one())
    finally:
        engine.dispose()


def write_requests(workdir: Path, clients: int, seconds: float, *, health: bool) -> None:
    """Per wrk thread n (one connection, project n): signed heartbeat bodies, each with a new
    event_id and the current time in its signature."""
    count = 1 if health else int(seconds * REQUESTS_PER_CONNECTION_SECOND)
    for n in range(1, clients + 1):
        lines = []
        pid, mid = project_uuid(n), f"bench-m{n}"
        for _ in range(count):
            body = json.dumps({"event_id": uuid.uuid4().hex, "project_id": pid,
                               "machine_id": mid}, separators=(",", ":")).encode()
            lines.append(body.decode() + "\t" + sign(body, SECRET))
        (workdir / f"reqs-{n}.txt").write_text("\n".join(lines) + "\n")


def wrk(url: str, clients: int, seconds: float, *, health: bool = False) -> dict[str, float]:
    """One wrk run: rate, latency percentiles (ms) and failures."""
    workdir = Path(tempfile.mkdtemp(prefix="aether-wrk-"))
    try:
        write_requests(workdir, clients, seconds, health=health)
        script = workdir / "hooks.lua"
        script.write_text(WRK_SCRIPT)
        path, method, expect = (("/api/health", "GET", "") if health
                                else (HOOK_PATH, "POST", '"outcome":"heartbeat"'))
        out = subprocess.run(
            ["wrk", "-t", str(clients), "-c", str(clients), "-d", f"{seconds}s",
             "--timeout", "10s", "-s", str(script), url, "--", str(workdir), path, method,
             expect],
            capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    match = re.search(r"WRK_RESULT (\{.*\})", out)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    raw = json.loads(match.group(1))
    ok = raw["requests"] - raw["bad"]
    return {"rate": ok / (raw["duration_us"] / 1e6), "p50_ms": raw["p50_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000, "mean_ms": raw["mean_us"] / 1000,
            "requests": raw["requests"], "bad": raw["bad"] + raw["socket_errors"],
            "wrapped": raw["wrapped"]}


def pgbench(db_url: str, clients: int, seconds: int) -> dict[str, float]:
    """pgbench with the hook's statements; tps and p50/p99 latency (ms) from its
    per-transaction log."""
    libpq, _, query = db_url.replace("postgresql+psycopg://", "postgresql://").partition("?")
    env = dict(os.environ)
    if "synchronous_commit" in query:
        env["PGOPTIONS"] = "-c synchronous_commit=off"
    workdir = Path(tempfile.mkdtemp(prefix="aether-pgbench-"))
    try:
        script = workdir / "hook.sql"
        script.write_text(pgbench_script())
        out = subprocess.run(
            ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(clients),
             "-T", str(seconds), "-f", str(script), "-l", "--log-prefix", str(workdir / "tx"),
             libpq],
            capture_output=True, text=True, timeout=seconds + 60, check=True, env=env).stdout
        # Each log line: client_id transaction_no time_us script_no epoch epoch_us.
        latencies = [int(line.split()[2]) / 1_000_000
                     for log in workdir.glob("tx*") for line in log.read_text().splitlines()]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    return {"rate": float(re.search(r"tps = ([\d.]+)", out).group(1)),
            "transactions": int(processed.group(1)) + (int(failed.group(1)) if failed else 0),
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
            "bad": int(failed.group(1)) if failed else 0}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def server_workers(stack: LocalStack) -> int:
    """Backend workers running in the app server's process group: gunicorn's processes but
    its arbiter."""
    app = stack._procs[-1]
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == app.pid and \
                        b"gunicorn" in (entry / "cmdline").read_bytes():
                    count += 1
            except (OSError, ProcessLookupError):
                continue
    return max(count - 1, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--clients", default="8,32",
                        type=lambda v: [int(n) for n in v.split(",") if n.strip()])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--synchronous-commit", choices=["on", "off"], default="on")
    parser.add_argument("--admin-url", default=os.environ.get("AETHER_BENCH_ADMIN_URL",
                                                              DEFAULT_ADMIN_URL))
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install -y wrk)")
        return 2

    db_url = fresh_database(args.admin_url)
    if args.synchronous_commit == "off":
        db_url += "?options=-c%20synchronous_commit%3Doff"
    logs = Path(tempfile.mkdtemp(prefix="aether-bench-"))
    env = {"AETHER_HOOK_SECRETS": SECRET, "AETHER_SCHEDULER_ENABLED": "false"}
    if args.redis_url != "none":
        env["REFLEX_REDIS_URL"] = args.redis_url
    stack = LocalStack(db_url=db_url, with_stripe=False, web_dir=str(ROOT / ".web-bench"),
                       log_dir=logs, extra_env=env,
                       workers=args.workers if args.redis_url != "none" else 1)
    print(f"starting the prod server on PostgreSQL ({db_url}); logs in {logs}", flush=True)
    results: list[dict[str, Any]] = []
    try:
        stack.start()
        workers = server_workers(stack)
        seed(db_url, max(args.clients))
        for clients in args.clients:
            results.append(measure(stack.url, db_url, clients, args.rounds, args.seconds))
    finally:
        stack.stop()

    print()
    print("pgbench ran (-M prepared, -c/-j clients, client n = project n, random event_id):")
    print("    " + pgbench_script().replace("\n", "\n    ").rstrip())
    print("the heartbeat hook sends the same statement (heartbeat.HEARTBEAT_SQL) with its "
          "values as parameters, prepared, on an autocommit connection; heartbeats that arrive "
          "while a worker's statements are out go together in its next one "
          "(heartbeat.HEARTBEATS_SQL).")
    print()
    print(f"{args.seconds} s per run, {args.rounds} rounds (median), loopback, PostgreSQL, "
          f"synchronous_commit={args.synchronous_commit}, server: {workers} uvicorn worker(s) "
          f"under gunicorn{', Redis' if args.redis_url != 'none' else ', no Redis'}; load: wrk")
    print(f"{'clients':>8}  {'':9}{'rate/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    status = 0
    for r in results:
        c = r["clients"]
        print(f"{c:8}  {'hooks':9}{r['rate']:10.1f}{r['p50']:9.2f}{r['p99']:9.2f}   signed POST "
              f"{HOOK_PATH}, {r['per_request']:.3f} transactions per request")
        print(f"{c:8}  {'pgbench':9}{r['bench_rate']:10.1f}{r['bench_p50']:9.2f}"
              f"{r['bench_p99']:9.2f}   HEARTBEAT_SQL, prepared, one per transaction")
        print(f"{c:8}  {'ceiling':9}{r['health_rate']:10.1f}{r['health_p50']:9.2f}"
              f"{r['health_p99']:9.2f}   GET /api/health, no database (one 5 s run)")
        met = r["ratio"] >= 0.5 and r["p99"] < 50
        print(f"{c:8}  {'ratio':9}{r['ratio']:10.2f} of pgbench (goal >= 0.50: "
              f"{'met' if r['ratio'] >= 0.5 else 'missed'})   hook p99 {r['p99']:.1f} ms "
              f"(goal < 50 ms: {'met' if r['p99'] < 50 else 'missed'})")
        if r["per_request"] > 1.01:
            print(f"INVALID at {c} clients: the hooks ran more than one transaction per "
                  "request: they did not all take the statements pgbench measures")
            return 1
        if r["failures"] or r["wrapped"]:
            print(f"INVALID at {c} clients: {r['failures']} failed requests/transactions, "
                  f"{r['wrapped']} repeated event_ids")
            return 1
        if not met:
            status = 3
    return status


def measure(url: str, db_url: str, clients: int, rounds: int, seconds: int) -> dict[str, Any]:
    """Rounds of (hooks, then pgbench) at one client count, after a warm-up and one run of
    the health check; the medians, and the transactions the hooks ran per request."""
    wrk(url, clients, 3)  # warm up: connections, pools, prepared statements
    health = wrk(url, clients, 5, health=True)
    time.sleep(STATS_DELAY)
    before = transactions(db_url)
    hooks: list[dict[str, float]] = []
    bench: list[dict[str, float]] = []
    for n in range(1, rounds + 1):
        hooks.append(wrk(url, clients, seconds))
        bench.append(pgbench(db_url, clients, seconds))
        print(f"{clients} clients, round {n}: hooks {hooks[-1]['rate']:8.1f} req/s p50 "
              f"{hooks[-1]['p50_ms']:6.2f} p99 {hooks[-1]['p99_ms']:6.2f} ms "
              f"({hooks[-1]['bad']} failed) | pgbench {bench[-1]['rate']:8.1f} tx/s p50 "
              f"{bench[-1]['p50_ms']:6.2f} p99 {bench[-1]['p99_ms']:6.2f} ms "
              f"| ratio {hooks[-1]['rate'] / bench[-1]['rate']:.2f}", flush=True)
    # Backends publish their statistics within PGSTAT_IDLE_INTERVAL of going idle.
    time.sleep(STATS_DELAY)
    hook_transactions = (transactions(db_url) - before
                         - sum(int(b["transactions"]) for b in bench) - 1)

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(row[key] for row in rows)

    return {"clients": clients, "rate": med(hooks, "rate"), "p50": med(hooks, "p50_ms"),
            "p99": med(hooks, "p99_ms"),
            "ratio": statistics.median(h["rate"] / b["rate"]
                                       for h, b in zip(hooks, bench, strict=True)),
            "bench_rate": med(bench, "rate"), "bench_p50": med(bench, "p50_ms"),
            "bench_p99": med(bench, "p99_ms"), "health_rate": health["rate"],
            "health_p50": health["p50_ms"], "health_p99": health["p99_ms"],
            "per_request": hook_transactions / sum(h["requests"] for h in hooks),
            "failures": sum(h["bad"] for h in hooks) + sum(b["bad"] for b in bench),
            "wrapped": sum(h["wrapped"] for h in hooks)}

if __name__ == "__main__":
    sys.exit(main())
