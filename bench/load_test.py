"""The launch peak, and beyond: does the prod server hold it?

The launch traffic (docs/site/deployment.md, "Load test"): 200 signed-in users loading a page
every 10 s, 5,000 running VMs heartbeating every 60 s, Stripe webhooks at 5/s, log-ins at 2/s.
This runs it at `--scale` (default 2x) against the prod server (gunicorn with uvicorn workers,
backend only) on a PostgreSQL cluster and a Redis of its own (initdb in a temp dir, as the fault
suite does: the load never touches the machine's shared services), then pushes further (3x, 4x, ...) to show where it
breaks. Prints per step: the error rate (goal < 0.1%), page time-to-data p50/p95 (goal p95
<= 2 s), hook p99 (goal < 50 ms), webhook and log-in p95, and the load generator's own CPU.

A "page load" is what a signed-in page asks the server for its data: the session check
(`GET /api/auth/me`) and the usage numbers (`GET /api/billing/usage`, the same service as the
header meter and /billing), one after the other; the compiled page itself is a static file.

The generator is open-loop (requests start on schedule whether or not earlier ones finished),
one asyncio process at lowered priority (nice 10) so the server gets the CPU first; its CPU
and how late it started requests are printed beside the figures.

    .venv/bin/python -m bench.load_test [--scale 2] [--seconds 60] [--push 3,4,6]
        [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import stripe

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.local_stack import E2E_WEBHOOK_SECRET, LocalStack  # noqa: E402

USERS, PAGE_EVERY = 200, 10.0
VMS, HEARTBEAT_EVERY = 5000, 60.0
WEBHOOKS_PER_S, LOGINS_PER_S = 5.0, 2.0
PASSWORD = "launch-week-password-1"
HOOK_SECRET = "load-test-hook-secret-0001"
GOALS = {"error_rate": 0.001, "page_p95": 2.0, "hook_p99": 0.05}


@dataclass
class Step:
    scale: float
    times: dict[str, list[float]] = field(default_factory=lambda: {
        "page": [], "hook": [], "webhook": [], "login": []})
    errors: dict[str, int] = field(default_factory=dict)
    total: int = 0
    lag: list[float] = field(default_factory=list)

    def fail(self, kind: str, why: str) -> None:
        self.errors[f"{kind}:{why}"] = self.errors.get(f"{kind}:{why}", 0) + 1


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- seeding ---------------------------------------------------------------------------------


def seed(db_url: str) -> tuple[list[dict], list[str]]:
    """200 users (each signed in, with a Stripe customer id) owning 5,000 projects, each with
    a VM running for ten minutes (its open run, as its `started` hook would have left it)."""
    from datetime import UTC, datetime, timedelta

    from sqlmodel import Session

    from aether_web.db import make_engine
    from aether_web.models import Profile, Project, UsageRecord
    from aether_web.services.accounts import create_session, hash_password

    engine = make_engine(db_url)
    hashed = hash_password(PASSWORD)
    users, projects = [], []
    with Session(engine) as s:
        profiles = [Profile(email=f"load-{i}-{uuid.uuid4().hex[:6]}@example.com", plan="pro",
                            password_hash=hashed, stripe_customer_id=f"cus_load_{i}")
                    for i in range(USERS)]
        s.add_all(profiles)
        s.flush()
        for p in profiles:
            users.append({"email": p.email, "customer": p.stripe_customer_id,
                          "token": create_session(s, user_id=p.id)})
        rows = [Project(user_id=profiles[i % USERS].id, name=f"vm-{i}") for i in range(VMS)]
        s.add_all(rows)
        s.flush()
        projects = [str(r.id) for r in rows]
        now = datetime.now(UTC).replace(microsecond=0)
        s.add_all([UsageRecord(project_id=r.id, user_id=r.user_id, machine_id="m1",
                               started_at=now - timedelta(minutes=10),
                               last_heartbeat_at=now - timedelta(minutes=1)) for r in rows])
        s.commit()
    engine.dispose()
    return users, projects


# --- the streams -------------------------------------------------------------------------------


def _signed(body: dict) -> tuple[bytes, dict]:
    from aether_web.api.hooks import sign

    raw = json.dumps(body).encode()
    return raw, {"Aether-Signature": sign(raw, HOOK_SECRET), "Content-Type": "application/json"}


async def _timed(step: Step, kind: str, call, ok=lambda r: r.status_code == 200) -> None:
    started = time.perf_counter()
    step.total += 1
    try:
        response = await call()
    except httpx.HTTPError as exc:
        step.fail(kind, exc.__class__.__name__)
        return
    took = time.perf_counter() - started
    if ok(response):
        step.times[kind].append(took)
    else:
        step.fail(kind, str(response.status_code))


async def _page(client: httpx.AsyncClient, step: Step, user: dict) -> None:
    cookies = {"aether_session": user["token"]}
    started = time.perf_counter()
    step.total += 1
    try:
        me = await client.get("/api/auth/me", cookies=cookies)
        usage = await client.get("/api/billing/usage", cookies=cookies)
    except httpx.HTTPError as exc:
        step.fail("page", exc.__class__.__name__)
        return
    if me.status_code == 200 and usage.status_code == 200:
        step.times["page"].append(time.perf_counter() - started)
    else:
        step.fail("page", f"{me.status_code}/{usage.status_code}")


async def _heartbeat(client: httpx.AsyncClient, step: Step, project: str) -> None:
    raw, headers = _signed({"event_id": uuid.uuid4().hex, "project_id": project,
                            "machine_id": "m1"})
    await _timed(step, "hook", lambda: client.post("/api/hooks/vm/heartbeat", content=raw,
                                                   headers=headers))


async def _webhook(client: httpx.AsyncClient, step: Step, user: dict) -> None:
    now = int(time.time())
    payload = json.dumps({
        "id": f"evt_load_{uuid.uuid4().hex}", "object": "event", "type": "invoice.paid",
        "created": now, "api_version": "2026-10-28.endive", "livemode": False,
        "data": {"object": {"id": f"in_load_{uuid.uuid4().hex[:16]}", "object": "invoice",
                            "customer": user["customer"], "status": "paid", "currency": "usd",
                            "total": 1200, "amount_paid": 1200, "amount_due": 1200,
                            "created": now}}})
    header = stripe.WebhookSignature.generate_signature_header(payload, E2E_WEBHOOK_SECRET)
    await _timed(step, "webhook", lambda: client.post(
        "/api/billing/webhook", content=payload.encode(),
        headers={"Stripe-Signature": header, "Content-Type": "application/json"}))


async def _login(client: httpx.AsyncClient, step: Step, user: dict, n: int) -> None:
    # Each log-in from its own address (the server trusts X-Forwarded-For from 127.0.0.1 here,
    # as it would from its load balancer): a launch's log-ins come from many people.
    address = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    await _timed(step, "login", lambda: client.post(
        "/api/auth/login", json={"email": user["email"], "password": PASSWORD},
        headers={"X-Forwarded-For": address}))


async def _stream(rate: float, seconds: float, step: Step, make) -> None:
    """Start `make(n)` at `rate` per second for `seconds` (open loop)."""
    if rate <= 0:
        return
    interval = 1.0 / rate
    start = time.perf_counter()
    tasks: set[asyncio.Task] = set()
    n = 0
    while True:
        due = start + n * interval
        if due - start >= seconds:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        step.lag.append(max(0.0, time.perf_counter() - due))
        task = asyncio.create_task(make(n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    if tasks:
        await asyncio.wait(tasks, timeout=60)


async def run_step(url: str, scale: float, seconds: float, users: list[dict],
                   projects: list[str]) -> Step:
    step = Step(scale)
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        await asyncio.gather(
            _stream(scale * USERS / PAGE_EVERY, seconds, step,
                    lambda n: _page(client, step, users[n % len(users)])),
            _stream(scale * VMS / HEARTBEAT_EVERY, seconds, step,
                    lambda n: _heartbeat(client, step, projects[n % len(projects)])),
            _stream(scale * WEBHOOKS_PER_S, seconds, step,
                    lambda n: _webhook(client, step, random.choice(users))),
            _stream(scale * LOGINS_PER_S, seconds, step,
                    lambda n: _login(client, step, users[n % len(users)], n)),
        )
    return step


def report(step: Step, cpu: float, seconds: float) -> tuple[str, bool]:
    failed = sum(step.errors.values())
    rate = failed / step.total if step.total else 0.0
    page50, page95 = _pct(step.times["page"], 0.5), _pct(step.times["page"], 0.95)
    hook99 = _pct(step.times["hook"], 0.99)
    ok = (rate < GOALS["error_rate"] and page95 <= GOALS["page_p95"]
          and hook99 < GOALS["hook_p99"])
    line = (f"{step.scale:>4.1f}x {step.total:>7} {rate * 100:>7.2f}% {page50 * 1000:>8.0f} "
            f"{page95 * 1000:>8.0f} {hook99 * 1000:>8.1f} "
            f"{_pct(step.times['webhook'], 0.95) * 1000:>8.0f} "
            f"{_pct(step.times['login'], 0.95) * 1000:>8.0f} {cpu / seconds * 100:>6.0f}% "
            f"{_pct(step.lag, 0.99) * 1000:>7.0f}  {'meets goals' if ok else 'MISSES'}")
    if step.errors:
        line += "\n        errors: " + ", ".join(f"{k} x{v}" for k, v in
                                                sorted(step.errors.items()))
    return line, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--push", default="3,4,6", help="further scales, 30 s each")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    from tests.faults.cluster import PrivatePostgres, PrivateRedis

    def stop_on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)  # a timeout still stops the server and cluster
    cluster, redis = PrivatePostgres(), PrivateRedis()
    cluster.setup()
    redis.start()
    db_url = cluster.url
    tmp = Path(tempfile.mkdtemp(prefix="load-test-"))
    # The Stripe emulator beside it: invoice events ask Stripe for the invoice.
    stack = LocalStack(db_url=db_url, with_stripe=True, backend_only=True,
                       workers=args.workers, log_dir=tmp / "logs",
                       extra_env={"REFLEX_REDIS_URL": redis.url,
                                  "AETHER_SCHEDULER_ENABLED": "false",
                                  "AETHER_HOOK_SECRETS": HOOK_SECRET,
                                  "AETHER_TRUSTED_PROXIES": "127.0.0.1/32"})
    lines: list[str] = []
    try:
        stack.start(timeout=300)
        users, projects = seed(db_url)
        print(f"seeded {len(users)} signed-in users and {len(projects)} running VMs",
              flush=True)
        os.nice(10)  # the server before the generator
        header = (f"{'scale':>5} {'requests':>7} {'errors':>8} {'page50':>8} {'page95':>8} "
                  f"{'hook99':>8} {'wh95':>8} {'login95':>8} {'genCPU':>7} {'lag99':>7}"
                  "  (ms)")
        plan = [(args.scale, args.seconds)] + [(float(s), 30.0) for s in args.push.split(",")
                                                if s.strip()]
        print(header, flush=True)
        for scale, seconds in plan:
            before = resource.getrusage(resource.RUSAGE_SELF)
            step = asyncio.run(run_step(stack.url, scale, seconds, users, projects))
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            line, ok = report(step, cpu, seconds)
            lines.append(line)
            print(line, flush=True)
            if not ok and scale > args.scale:
                print(f"breaks at {scale:.1f}x the launch peak", flush=True)
                break
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        stack.stop()
        redis.stop()
        cluster.teardown()
    print(f"goals: errors < {GOALS['error_rate'] * 100:.1f}%, page p95 <= "
          f"{GOALS['page_p95']:.0f} s, hook p99 < {GOALS['hook_p99'] * 1000:.0f} ms; "
          f"server: {args.workers} workers, PostgreSQL, Redis; machine load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
