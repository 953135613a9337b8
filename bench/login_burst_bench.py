"""Does a burst of bad log-ins stall the rest of the server?

Starts the prod server (gunicorn with uvicorn workers, backend only: no page is loaded), then
probes `GET /api/health` and `GET /api/ready` every 100 ms, first idle for `--idle` seconds,
then while `--concurrency` clients replay bad log-ins (unknown emails: each one still verifies
a password hash) for `--seconds`, from a process of their own (so the probe's event loop measures
the server, not a busy generator). Prints p50/max of both probes beside idle; goal: the burst's
p50 within 2x of idle.

    .venv/bin/python -m bench.login_burst_bench [--seconds 20] [--concurrency 20] [--workers 1]
        [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.local_stack import LocalStack  # noqa: E402

GOAL_RATIO = 2.0
PROBE_INTERVAL = 0.1


def _ms(values: list[float]) -> tuple[float, float]:
    return statistics.median(values) * 1000, max(values) * 1000


async def _probe(client: httpx.AsyncClient, stop: asyncio.Event) -> dict[str, list[float]]:
    seen: dict[str, list[float]] = {"/api/health": [], "/api/ready": []}
    while not stop.is_set():
        for path, times in seen.items():
            started = time.perf_counter()
            with contextlib.suppress(httpx.HTTPError):  # a failure counts with its time
                await client.get(path, timeout=60)
            times.append(time.perf_counter() - started)
        await asyncio.sleep(PROBE_INTERVAL)
    return seen


async def _bad_logins(client: httpx.AsyncClient, stop: asyncio.Event, counts: dict) -> None:
    while not stop.is_set():
        email = f"nobody-{uuid.uuid4().hex[:10]}@example.com"
        try:
            r = await client.post("/api/auth/login", json={"email": email, "password": "wrong!"},
                                  timeout=60)
            counts[r.status_code] = counts.get(r.status_code, 0) + 1
        except httpx.HTTPError as exc:
            counts[exc.__class__.__name__] = counts.get(exc.__class__.__name__, 0) + 1


async def _burst(url: str, seconds: float, concurrency: int) -> dict:
    stop = asyncio.Event()
    counts: dict = {}
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(base_url=url, limits=limits) as login_client:
        burst = [asyncio.create_task(_bad_logins(login_client, stop, counts))
                 for _ in range(concurrency)]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*burst)
    return counts


def _burst_process(url: str, seconds: float, concurrency: int, out) -> None:
    started = resource.getrusage(resource.RUSAGE_SELF)
    counts = asyncio.run(_burst(url, seconds, concurrency))
    done = resource.getrusage(resource.RUSAGE_SELF)
    out.put((counts, (done.ru_utime - started.ru_utime) + (done.ru_stime - started.ru_stime)))


async def _phase(url: str, seconds: float, concurrency: int) -> tuple[dict, dict, float]:
    """Probe for `seconds` while `concurrency` clients replay bad log-ins from a process of
    their own: the probe's timings are the server's, not a busy generator's event loop."""
    stop = asyncio.Event()
    counts: dict = {}
    cpu = 0.0
    process = None
    if concurrency:
        import multiprocessing

        out = multiprocessing.get_context("spawn").Queue()
        process = multiprocessing.get_context("spawn").Process(
            target=_burst_process, args=(url, seconds, concurrency, out))
        process.start()
    async with httpx.AsyncClient(base_url=url) as probe_client:
        probe = asyncio.create_task(_probe(probe_client, stop))
        await asyncio.sleep(seconds)
        stop.set()
        seen = await probe
    if process is not None:
        counts, cpu = await asyncio.to_thread(out.get)
        process.join()
    return seen, counts, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--idle", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--db-url", default="")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="login-burst-"))
    db_url = args.db_url or f"sqlite:///{tmp / 'bench.db'}"
    extra = {"AETHER_SCHEDULER_ENABLED": "false"}
    if args.workers > 1:
        extra["REFLEX_REDIS_URL"] = os.environ.get("REFLEX_REDIS_URL", "redis://127.0.0.1:6379/9")
    stack = LocalStack(db_url=db_url, with_stripe=False, backend_only=True, workers=args.workers,
                       log_dir=tmp / "logs", extra_env=extra)
    stack.start(timeout=180)
    try:
        idle, _, _ = asyncio.run(_phase(stack.url, args.idle, 0))
        burst, counts, burst_cpu = asyncio.run(_phase(stack.url, args.seconds, args.concurrency))
    finally:
        stack.stop()

    database = "PostgreSQL" if db_url.startswith("postgresql") else "SQLite"
    print(f"login burst: {args.concurrency} concurrent bad log-ins for {args.seconds:.0f} s, "
          f"prod server ({args.workers} worker(s), {database})")
    print(f"log-in answers: {dict(sorted(counts.items(), key=str))}")
    print(f"{'probe':14} {'idle p50':>9} {'idle max':>9} {'burst p50':>10} {'burst max':>10} "
          f"{'p50 ratio':>10}  goal <= {GOAL_RATIO:.0f}x idle")
    ok = True
    for path in ("/api/health", "/api/ready"):
        i50, imax = _ms(idle[path])
        b50, bmax = _ms(burst[path])
        ratio = b50 / i50 if i50 else float("inf")
        ok = ok and ratio <= GOAL_RATIO
        print(f"{path:14} {i50:8.1f}ms {imax:8.1f}ms {b50:9.1f}ms {bmax:9.1f}ms {ratio:9.2f}x "
              f"{'ok' if ratio <= GOAL_RATIO else 'OVER'}")
    print(f"log-ins answered: {sum(counts.values()) / args.seconds:.0f}/s; burst generator "
          f"(its own process) CPU: {burst_cpu:.1f} s over {args.seconds:.0f} s; "
          f"machine load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
