"""Signed webhook delivery with retries, on a background thread."""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import stripe

from .store import Store, now

log = logging.getLogger("stripe_emulator.webhooks")


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload``."""
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)


class Dispatcher:
    """Delivers events to ``url``; a failed attempt is retried after ``base_delay * 2**n``."""

    def __init__(
        self,
        store: Store,
        url: str | None,
        secret: str | None,
        *,
        base_delay: float = 0.5,
        max_attempts: int = 5,
        timeout: float = 10.0,
    ) -> None:
        self.store = store
        self.url = url
        self.secret = secret or "whsec_emulator"
        self.base_delay = base_delay
        self.max_attempts = max_attempts
        self.timeout = timeout
        self._queue: list[tuple[float, int, dict[str, Any]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stop = False
        self._busy = False
        self._thread: threading.Thread | None = None
        # called (store.lock held) with each event an endpoint answered with a 2xx
        self.on_delivered: Callable[[dict[str, Any]], None] | None = None

    # called with store.lock held: must not block
    def enqueue(self, event: dict[str, Any]) -> None:
        if not self.url:
            return
        delivery = {
            "event_id": event["id"],
            "type": event["type"],
            "url": self.url,
            "attempts": 0,
            "status": "pending",
            "status_code": None,
            "error": None,
            "created": now(),
            "delivered_at": None,
            "payload": json.dumps(event, indent=2),
        }
        self.store.deliveries.append(delivery)
        with self._cond:
            heapq.heappush(self._queue, (time.monotonic(), next(self._seq), delivery))
            self._cond.notify()

    def start(self) -> None:
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="webhook-dispatcher",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def clear(self) -> None:
        with self._cond:
            self._queue.clear()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until ``idle()`` (True) or ``timeout`` real seconds passed (False)."""
        deadline = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def resend(self, event: dict[str, Any]) -> None:
        """Deliver an event again, as the Dashboard's "Resend" does."""
        self.enqueue(event)

    def idle(self) -> bool:
        """True when nothing is queued and no delivery attempt is in progress."""
        with self._cond:
            return not self._queue and not self._busy

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while True:
                with self._cond:
                    while not self._stop and (
                        not self._queue or self._queue[0][0] > time.monotonic()
                    ):
                        wait = self._queue[0][0] - time.monotonic() if self._queue else None
                        self._cond.wait(timeout=wait)
                    if self._stop:
                        return
                    _, _, delivery = heapq.heappop(self._queue)
                    self._busy = True
                try:
                    self._attempt(client, delivery)
                finally:
                    with self._cond:
                        self._busy = False

    def _attempt(self, client: httpx.Client, delivery: dict[str, Any]) -> None:
        payload = delivery["payload"]
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(payload, self.secret),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        code: int | None = None
        error: str | None = None
        try:
            response = client.post(delivery["url"], content=payload.encode(), headers=headers)
            code = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        with self.store.lock:
            delivery["attempts"] += 1
            delivery["status_code"] = code
            delivery["error"] = error
            if code is not None and 200 <= code < 300:
                delivery["status"] = "delivered"
                delivery["delivered_at"] = now()
                event = self.store.collection("event").get(delivery["event_id"])
                if event:
                    event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
                    if self.on_delivered is not None:
                        self.on_delivered(event)
                return
            if delivery["attempts"] >= self.max_attempts:
                delivery["status"] = "failed"
                log.warning("webhook %s gave up after %s attempts", delivery["event_id"],
                            delivery["attempts"])
                return
            delivery["status"] = "retrying"
        delay = self.base_delay * (2 ** (delivery["attempts"] - 1))
        with self._cond:
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._seq), delivery))
            self._cond.notify()
