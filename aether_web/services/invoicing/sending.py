"""The sending half of `reporting.py`: one meter event per report, retried with backoff until
Stripe answers, paced by a token bucket, many at once on an event loop of its own thread.

No database here: tasks come in, outcomes go out (`reporting.py` records them in batches).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import sentry_sdk

from aether_web import metrics
from aether_web.integrations.stripe import StripeGateway, StripeGatewayError, StripeUnavailable
from aether_web.observability import log

REFUSED_METRIC = "aether_overage_refused_total"
RETRY_METRIC = "aether_overage_send_retries_total"
metrics.describe(REFUSED_METRIC, "Overage meter events Stripe refused (4xx): billed by hand.")
metrics.describe(RETRY_METRIC, "Overage sends retried because Stripe did not answer.")
# Stripe answers 409 while a request with the same idempotency key is still in flight.
_RETRYABLE_REFUSALS = (409,)
# Workers per client: httpx's connection pool costs CPU in proportion to its size on every
# request, so many small pools (one client each) send far more per CPU second than one big one.
WORKERS_PER_CLIENT = 4


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; `deadline_seconds` bounds a run (None: no bound).
    Every report gets at least one attempt."""

    base_seconds: float = 0.5
    cap_seconds: float = 30.0
    deadline_seconds: float | None = None

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The wait after failed attempt number `attempt` (1, 2, ...): half fixed, half random,
        so that many senders that failed together do not come back together."""
        full = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        return full / 2 + rand() * full / 2


@dataclass(frozen=True)
class SendTask:
    """One stored report to send."""

    id: uuid.UUID
    identifier: str
    meter: str
    customer_id: str
    units: int
    timestamp: int


@dataclass(frozen=True)
class SendOutcome:
    """What came of a task: accepted, refused, or still pending (Stripe never answered)."""

    task: SendTask
    status: str
    attempts: int
    error: str | None = None
    duplicate: bool = False


class TokenBucket:
    """At most `rate` calls per second on average, bursts of at most `burst`."""

    def __init__(self, rate: float, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 20)
        self.clock = clock
        self.tokens = self.burst
        self.stamp = clock()

    def wait_time(self) -> float:
        """Take a token and answer 0, or answer how long to wait before asking again."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1 - 1e-9:  # a refill of exactly one token may round to 0.999...
            self.tokens = max(0.0, self.tokens - 1)
            return 0.0
        return (1 - self.tokens) / self.rate

    async def take(self) -> None:
        while (wait := self.wait_time()) > 0:
            await asyncio.sleep(wait)


def _classify(exc: Exception) -> tuple[bool, str]:
    """(retry?, what to record) for a failed send."""
    if isinstance(exc, StripeUnavailable):
        return True, f"Stripe did not answer ({exc.http_status or 'no response'})"
    assert isinstance(exc, StripeGatewayError)
    text = f"{exc.http_status} {exc.stripe_code or ''} {exc.stripe_message}".strip()
    return exc.http_status in _RETRYABLE_REFUSALS, text


def _accepted(task: SendTask, attempts: int, result: str) -> SendOutcome:
    duplicate = result == "duplicate"
    return SendOutcome(task, "accepted", attempts,
                       "Stripe already had this identifier" if duplicate else None, duplicate)


def _call_args(task: SendTask) -> dict:
    return {"event_name": task.meter, "identifier": task.identifier,
            "customer_id": task.customer_id, "value": task.units, "timestamp": task.timestamp}


def _after_failure(task: SendTask, attempt: int, exc: Exception, retry: RetryPolicy,
                   deadline: float | None) -> tuple[SendOutcome | None, float]:
    """After a failed attempt: the final outcome (refused, or left pending when the next try
    would pass `deadline`, a monotonic time), or None and how long to wait before retrying.
    The one retry rule of both senders below."""
    again, last = _classify(exc)
    if not again:
        return SendOutcome(task, "refused", attempt, last), 0.0
    delay = retry.delay(attempt)
    if deadline is not None and time.monotonic() + delay > deadline:
        return SendOutcome(task, "pending", attempt, last), 0.0
    metrics.inc(RETRY_METRIC)
    return None, delay


async def send_async(gateway: StripeGateway, task: SendTask, retry: RetryPolicy,
                     bucket: TokenBucket, deadline: float | None) -> SendOutcome:
    """Send one task until Stripe answers (or `deadline`, a monotonic time, passes)."""
    attempt = 0
    while True:
        await bucket.take()
        attempt += 1
        try:
            return _accepted(task, attempt, await gateway.send_meter_event_async(
                **_call_args(task)))
        except (StripeUnavailable, StripeGatewayError) as exc:
            done, delay = _after_failure(task, attempt, exc, retry, deadline)
        if done is not None:
            return done
        await asyncio.sleep(delay)


def send_with_retries(gateway: StripeGateway, task: SendTask,
                      retry: RetryPolicy) -> SendOutcome:
    """`send_async`, synchronously, for one report (the invoice gate's path)."""
    deadline = None if retry.deadline_seconds is None else (
        time.monotonic() + retry.deadline_seconds)
    attempt = 0
    while True:
        attempt += 1
        try:
            return _accepted(task, attempt, gateway.send_meter_event(**_call_args(task)))
        except (StripeUnavailable, StripeGatewayError) as exc:
            done, delay = _after_failure(task, attempt, exc, retry, deadline)
        if done is not None:
            return done
        time.sleep(delay)


def alert_refused(task: SendTask, error: str) -> None:
    """A refusal is money we will not get through the meter: log, Sentry and a metric."""
    log.error("overage report %s refused by Stripe: %s", task.identifier, error)
    sentry_sdk.capture_message(f"overage report refused by Stripe: {task.identifier}: {error}",
                               level="error")
    metrics.inc(REFUSED_METRIC, meter=task.meter)


class SenderThread:
    """`concurrency` workers on an event loop in a thread: `submit` tasks (blocks while the
    queue is full), read `results`, `close` when everything is submitted."""

    def __init__(self, gateway: StripeGateway | None, *, concurrency: int, rate: float,
                 retry: RetryPolicy, timeout: float = 20.0) -> None:
        self.gateway, self.concurrency, self.rate, self.retry = gateway, concurrency, rate, retry
        self.timeout = timeout
        self.results: queue.Queue[SendOutcome] = queue.Queue()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="overage-sender", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[SendTask | None] | None = None
        self._closed = False
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        self.raise_if_dead()

    def _main(self) -> None:
        try:
            asyncio.run(self._amain())
        except BaseException as exc:  # surfaced to the caller by raise_if_dead
            self.error = exc
            self._ready.set()

    async def _amain(self) -> None:
        from aether_web.integrations.stripe import sender_gateway

        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=self.concurrency * 4)
        if self.gateway is not None:
            gateways = [self.gateway]
        else:
            clients = max(1, -(-self.concurrency // WORKERS_PER_CLIENT))
            gateways = [sender_gateway(connections=WORKERS_PER_CLIENT, timeout=self.timeout)
                        for _ in range(clients)]
        bucket = TokenBucket(self.rate)
        deadline = None if self.retry.deadline_seconds is None else (
            time.monotonic() + self.retry.deadline_seconds)
        self._ready.set()
        try:
            await asyncio.gather(*(self._worker(gateways[i % len(gateways)], bucket, deadline)
                                   for i in range(self.concurrency)))
        finally:
            if self.gateway is None:
                for gateway in gateways:
                    await gateway.aclose()

    async def _worker(self, gateway: StripeGateway, bucket: TokenBucket,
                      deadline: float | None) -> None:
        assert self._queue is not None
        while (task := await self._queue.get()) is not None:
            try:
                outcome = await send_async(gateway, task, self.retry, bucket, deadline)
            except Exception as exc:  # a bug must not lose the task: it stays pending
                log.exception("sending overage report %s failed", task.identifier)
                outcome = SendOutcome(task, "pending", 1, f"{type(exc).__name__}: {exc}")
            self.results.put(outcome)

    def _call(self, coro) -> None:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        while True:
            try:
                future.result(timeout=1.0)
                return
            except TimeoutError:
                self.raise_if_dead()

    def submit(self, tasks: list[SendTask]) -> None:
        async def put_all() -> None:
            assert self._queue is not None
            for task in tasks:
                await self._queue.put(task)

        self._call(put_all())

    def drain(self) -> list[SendOutcome]:
        out = []
        with contextlib.suppress(queue.Empty):
            while True:
                out.append(self.results.get_nowait())
        return out

    def close(self) -> None:
        if not self._closed and self._thread.is_alive():
            self._closed = True
            self.submit([None] * self.concurrency)  # type: ignore[list-item]

    def stop(self) -> None:
        self.close()
        self._thread.join(timeout=30)

    def raise_if_dead(self) -> None:
        if self.error is not None:
            raise RuntimeError("the overage sender stopped") from self.error
        if not self._thread.is_alive() and not self._closed:
            raise RuntimeError("the overage sender stopped")
