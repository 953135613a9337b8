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
one asyncio process (uvloop) at lowered priority (nice 10) so the server gets the CPU first; its
CPU and how late it started requests are printed beside the figures, and so is the machine's
load average (`uptime`), since on a shared machine other work takes CPU from both. Its HTTP
client is a small keep-alive HTTP/1.1 client of its own (`Http` below): httpx's connection pool
spends CPU on every queued request for every connection, so at a few hundred requests a second
the generator, not the server, became the bottleneck and the step never finished. A request
still unanswered when its step ends (after the client timeout) counts as an error.

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
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import stripe
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.local_stack import E2E_WEBHOOK_SECRET, LocalStack  # noqa: E402

USERS, PAGE_EVERY = 200, 10.0
VMS, HEARTBEAT_EVERY = 5000, 60.0
WEBHOOKS_PER_S, LOGINS_PER_S = 5.0, 2.0
PASSWORD = "launch-week-password-1"
HOOK_SECRET = "load-test-hook-secret-0001"
GOALS = {"error_rate": 0.001, "page_p95": 2.0, "hook_p99": 0.05}
TIMEOUT = 30.0  # a request's (or a page's) deadline, from when it starts; then an error
DRAIN = TIMEOUT + 5  # how long a step waits for its last requests before counting them lost


@dataclass
class Step:
    scale: float
    times: dict[str, list[float]] = field(default_factory=lambda: {
        "page": [], "hook": [], "webhook": [], "login": []})
    errors: dict[str, int] = field(default_factory=dict)
    total: int = 0
    seconds: float = 0.0
    lag: list[float] = field(default_factory=list)
    sent: int = 0
    answered: int = 0

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
    from aether_web.models import Profile, Project, Run
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
        s.add_all([Run(project_id=r.id, user_id=r.user_id, machine_id="m1",
                               started_at=now - timedelta(minutes=10),
                               last_heartbeat_at=now - timedelta(minutes=1)) for r in rows])
        s.commit()
    engine.dispose()
    return users, projects


# --- the client --------------------------------------------------------------------------------


class HttpError(Exception):
    """A request that got no HTTP answer (reset, closed, malformed)."""


class Http:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams, cheap enough per request that
    one generator process can keep a schedule of hundreds of requests a second: idle
    connections are reused newest first, a new one is opened when none is idle (up to
    `max_connections` in use; beyond that a request waits, and the wait counts in its time).
    A connection idle for longer than `IDLE_SECONDS` is closed rather than reused (the
    server closes idle ones after its 5 s keep-alive), and a request that still finds its
    reused connection closed before any answer is sent again once, on a new connection, as a
    browser does."""

    IDLE_SECONDS = 3.0

    def __init__(self, url: str, max_connections: int = 500) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.host_header = parts.netloc.encode()
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.slots = asyncio.Semaphore(max_connections)
        self.writers: set[asyncio.StreamWriter] = set()
        self.sent = self.answered = 0  # requests written, HTTP answers read (any status)

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        head = [f"{method} {path} HTTP/1.1\r\n".encode(), b"Host: ", self.host_header, b"\r\n"]
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}\r\n".encode())
        head.append(f"Content-Length: {len(body)}\r\n\r\n".encode())
        raw = b"".join(head) + body
        async with asyncio.timeout(TIMEOUT), self.slots:
            for attempt in range(2):
                reader, writer = self._idle() if attempt == 0 else (None, None)
                reused = writer is not None
                if not reused:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                    self.writers.add(writer)
                try:
                    self.sent += attempt == 0
                    writer.write(raw)
                    try:
                        response_head = await reader.readuntil(b"\r\n\r\n")
                    except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
                        if reused and not getattr(exc, "partial", b""):
                            self._close(writer)
                            continue  # closed while idle: send it again on a new connection
                        raise HttpError("closed before answering") from exc
                    status, length, chunked, close = self._parse_head(response_head)
                    if chunked:
                        answer = await self._read_chunked(reader)
                    else:
                        answer = await reader.readexactly(length) if length else b""
                except BaseException:
                    self._close(writer)
                    raise
                self.answered += 1
                if close:
                    self._close(writer)
                else:
                    self.idle.append((reader, writer, time.monotonic()))
                return status, answer
        raise HttpError("unreachable")

    def _idle(self) -> tuple[asyncio.StreamReader | None, asyncio.StreamWriter | None]:
        """The most recently used idle connection still well inside the server's keep-alive
        (older ones closed here), or (None, None)."""
        while self.idle:
            reader, writer, since = self.idle.pop()
            if time.monotonic() - since < self.IDLE_SECONDS and not writer.is_closing():
                return reader, writer
            self._close(writer)
        return None, None

    @staticmethod
    def _parse_head(head: bytes) -> tuple[int, int, bool, bool]:
        lines = head.split(b"\r\n")
        try:
            status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError) as exc:
            raise HttpError(f"bad status line {lines[0][:40]!r}") from exc
        length, chunked, close = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        return status, length, chunked, close

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailers
                return b"".join(parts)
            parts.append((await reader.readexactly(size + 2))[:-2])

    def _close(self, writer: asyncio.StreamWriter) -> None:
        self.writers.discard(writer)
        writer.close()

    def close(self) -> None:
        for writer in list(self.writers):
            self._close(writer)
        self.idle.clear()


# Every way a request can fail to get an answer: counted as an error of that kind.
FAILURES = (OSError, HttpError, TimeoutError, asyncio.IncompleteReadError, ValueError)


# --- the streams -------------------------------------------------------------------------------


def _signed(body: dict) -> tuple[bytes, dict]:
    from aether_web.api.hooks import sign

    raw = json.dumps(body).encode()
    return raw, {"Aether-Signature": sign(raw, HOOK_SECRET), "Content-Type": "application/json"}


async def _timed(step: Step, kind: str, call) -> None:
    started = time.perf_counter()
    step.total += 1
    try:
        status, _ = await call()
    except FAILURES as exc:
        step.fail(kind, exc.__class__.__name__)
        return
    if status == 200:
        step.times[kind].append(time.perf_counter() - started)
    else:
        step.fail(kind, str(status))


async def _page(client: Http, step: Step, user: dict) -> None:
    headers = {"Cookie": f"aether_session={user['token']}"}
    started = time.perf_counter()
    step.total += 1
    try:
        async with asyncio.timeout(TIMEOUT):  # one deadline for the page, both requests
            me, _ = await client.request("GET", "/api/auth/me", headers=headers)
            usage, _ = await client.request("GET", "/api/billing/usage", headers=headers)
    except FAILURES as exc:
        step.fail("page", exc.__class__.__name__)
        return
    if me == 200 and usage == 200:
        step.times["page"].append(time.perf_counter() - started)
    else:
        step.fail("page", f"{me}/{usage}")


async def _heartbeat(client: Http, step: Step, project: str) -> None:
    raw, headers = _signed({"event_id": uuid.uuid4().hex, "project_id": project,
                            "machine_id": "m1"})
    await _timed(step, "hook", lambda: client.request("POST", "/api/hooks/vm/heartbeat", raw,
                                                      headers))


async def _webhook(client: Http, step: Step, user: dict) -> None:
    now = int(time.time())
    payload = json.dumps({
        "id": f"evt_load_{uuid.uuid4().hex}", "object": "event", "type": "invoice.paid",
        "created": now, "api_version": "2026-10-28.endive", "livemode": False,
        "data": {"object": {"id": f"in_load_{uuid.uuid4().hex[:16]}", "object": "invoice",
                            "customer": user["customer"], "status": "paid", "currency": "usd",
                            "total": 1200, "amount_paid": 1200, "amount_due": 1200,
                            "created": now}}})
    header = stripe.WebhookSignature.generate_signature_header(payload, E2E_WEBHOOK_SECRET)
    await _timed(step, "webhook", lambda: client.request(
        "POST", "/api/billing/webhook", payload.encode(),
        {"Stripe-Signature": header, "Content-Type": "application/json"}))


async def _login(client: Http, step: Step, user: dict, n: int) -> None:
    # Each log-in from its own address (the server trusts X-Forwarded-For from 127.0.0.1 here,
    # as it would from its load balancer): a launch's log-ins come from many people.
    address = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    body = json.dumps({"email": user["email"], "password": PASSWORD}).encode()
    await _timed(step, "login", lambda: client.request(
        "POST", "/api/auth/login", body,
        {"Content-Type": "application/json", "X-Forwarded-For": address}))


async def _stream(rate: float, seconds: float, step: Step, make) -> set[asyncio.Task]:
    """Start `make(n)` at `rate` per second for `seconds` (open loop); the tasks still
    running when the schedule ends."""
    tasks: set[asyncio.Task] = set()
    if rate <= 0:
        return tasks
    interval = 1.0 / rate
    start = time.perf_counter()
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
    return tasks


async def run_step(url: str, scale: float, seconds: float, users: list[dict],
                   projects: list[str]) -> Step:
    step = Step(scale, seconds=seconds)
    client = Http(url)
    try:
        running = await asyncio.gather(
            _stream(scale * USERS / PAGE_EVERY, seconds, step,
                    lambda n: _page(client, step, users[n % len(users)])),
            _stream(scale * VMS / HEARTBEAT_EVERY, seconds, step,
                    lambda n: _heartbeat(client, step, projects[n % len(projects)])),
            _stream(scale * WEBHOOKS_PER_S, seconds, step,
                    lambda n: _webhook(client, step, random.choice(users))),
            _stream(scale * LOGINS_PER_S, seconds, step,
                    lambda n: _login(client, step, users[n % len(users)], n)),
        )
        pending = set().union(*running)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=DRAIN)
        for task in pending:  # unanswered (every request has its own deadline): lost
            task.cancel()
            step.fail("any", "unfinished")
        if pending:
            await asyncio.wait(pending)
    finally:
        client.close()
    step.sent, step.answered = client.sent, client.answered
    return step


def report(step: Step, cpu: float, server: float, wall: float) -> tuple[str, bool]:
    failed = sum(step.errors.values())
    rate = failed / step.total if step.total else 0.0
    page50, page95 = _pct(step.times["page"], 0.5), _pct(step.times["page"], 0.95)
    hook99 = _pct(step.times["hook"], 0.99)
    ok = (rate < GOALS["error_rate"] and page95 <= GOALS["page_p95"]
          and hook99 < GOALS["hook_p99"])
    line = (f"{step.scale:>4.1f}x {step.total:>8} {step.sent / step.seconds:>7.0f} "
            f"{step.answered / wall:>6.0f} {rate * 100:>7.2f}% {page50 * 1000:>8.0f} "
            f"{page95 * 1000:>8.0f} {hook99 * 1000:>8.1f} "
            f"{_pct(step.times['webhook'], 0.95) * 1000:>8.0f} "
            f"{_pct(step.times['login'], 0.95) * 1000:>8.0f} {server / wall * 100:>6.0f}% "
            f"{cpu / wall * 100:>6.0f}% "
            f"{_pct(step.lag, 0.99) * 1000:>7.0f} {os.getloadavg()[0]:>6.2f}"
            f"  {'meets goals' if ok else 'MISSES'}")
    if step.errors:
        line += "\n        errors: " + ", ".join(f"{k} x{v}" for k, v in
                                                sorted(step.errors.items()))
    return line, ok


def server_cpu(postmaster: Path) -> float:
    """CPU seconds used so far by the server side: every process this run started (the app's
    gunicorn and workers, the Stripe emulator, Redis) and the PostgreSQL cluster, with their
    children (/proc; exited children's CPU is in their parents' cutime/cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        ppid, used = int(fields[1]), sum(int(x) for x in fields[11:15]) / tick
        stats[int(entry)] = (ppid, used)
    try:
        roots = {int(postmaster.read_text().split()[0])}
    except (OSError, ValueError, IndexError):
        roots = set()
    roots |= {pid for pid, (ppid, _) in stats.items() if ppid == os.getpid()}
    total, seen, todo = 0.0, set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        total += stats[pid][1]
        todo.extend(child for child, (ppid, _) in stats.items() if ppid == pid)
    return total


def uptime() -> str:
    """The machine's `uptime` line: its load average, beside the figures it weighs on."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


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
    print(f"machine before: {uptime()} ({os.cpu_count()} CPUs)", flush=True)
    setup_began = time.perf_counter()
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
        print(f"seeded {len(users)} signed-in users and {len(projects)} running VMs; server, "
              f"database and seed up in {time.perf_counter() - setup_began:.0f} s", flush=True)
        os.nice(10)  # the server before the generator
        header = (f"{'scale':>5} {'requests':>8} {'sent/s':>7} {'ans/s':>6} {'errors':>8} {'page50':>8} {'page95':>8} "
                  f"{'hook99':>8} {'wh95':>8} {'login95':>8} {'srvCPU':>7} {'genCPU':>7} {'lag99':>7} "
                  f"{'load1':>6}  (times in ms; goals: errors < "
                  f"{GOALS['error_rate'] * 100:.1f}%, page95 <= {GOALS['page_p95'] * 1000:.0f}, "
                  f"hook99 < {GOALS['hook_p99'] * 1000:.0f})")
        plan = [(args.scale, args.seconds)] + [(float(s), 30.0) for s in args.push.split(",")
                                                if s.strip()]
        print(header, flush=True)
        for scale, seconds in plan:
            postmaster = cluster.dir / "data" / "postmaster.pid"
            before, began = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            server_before = server_cpu(postmaster)
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                step = runner.run(run_step(stack.url, scale, seconds, users, projects))
            after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - began
            server = server_cpu(postmaster) - server_before
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            line, ok = report(step, cpu, server, wall)
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
          f"server: {args.workers} workers, PostgreSQL, Redis; srvCPU is the server side's CPU "
          f"(app, emulator, PostgreSQL, Redis) and genCPU the generator's over the step "
          f"(100% = one CPU), sent/s the HTTP requests sent per second of schedule (a page "
          f"is two), ans/s those answered per second of the step, lag99 how late it started requests, load1 the 1-min load average")
    print(f"machine after: {uptime()} ({os.cpu_count()} CPUs; other work on it makes every "
          "figure pessimistic)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
