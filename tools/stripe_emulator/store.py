"""In-memory state of the emulator, optionally persisted to a JSON file."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import string
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import stripe

from .errors import invalid, missing

API_VERSION: str = stripe.api_version
_ALPHABET = string.ascii_letters + string.digits

# id prefix -> (collection, human name used in "No such ..." errors)
KINDS: dict[str, tuple[str, str]] = {
    "cus": ("customer", "customer"),
    "prod": ("product", "product"),
    "price": ("price", "price"),
    "mtr": ("billing.meter", "billing meter"),
    "cs": ("checkout.session", "checkout.session"),
    "bps": ("billing_portal.session", "billing portal session"),
    "sub": ("subscription", "subscription"),
    "si": ("subscription_item", "subscription item"),
    "in": ("invoice", "invoice"),
    "pm": ("payment_method", "PaymentMethod"),
    "evt": ("event", "event"),
    "ii": ("invoiceitem", "invoice item"),
    "re": ("refund", "refund"),
    "clock": ("test_helpers.test_clock", "test_helpers.test_clock"),
}

_PERSISTED = ("objects", "meter_events", "cards", "pending_lines", "counters", "idempotency",
              "settings")


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


# The emulated time of the request or clock step being handled (a test clock's frozen time),
# or None for wall-clock time.
_FROZEN: ContextVar[int | None] = ContextVar("stripe_emulator_frozen_time", default=None)
# Idempotency keys and meter event identifiers are remembered this long (emulated time).
KEY_TTL = 24 * 3600


def now() -> int:
    """The current time as the object being handled sees it (its test clock, or the wall)."""
    frozen = _FROZEN.get()
    return int(time.time()) if frozen is None else frozen


@contextlib.contextmanager
def frozen_at(ts: int | None) -> Iterator[None]:
    """Handle everything inside at emulated time ``ts`` (None: the wall clock)."""
    token = _FROZEN.set(ts)
    try:
        yield
    finally:
        _FROZEN.reset(token)


class Store:
    """All emulator state. Callers hold ``store.lock`` while reading or mutating."""

    def __init__(self, state_file: str | None = None) -> None:
        self.lock = threading.RLock()
        self.state_file = state_file
        self.on_event: Callable[[dict[str, Any]], None] | None = None
        # whether any webhook endpoint listens (a draft then waits for its answer)
        self.webhooks_enabled: Callable[[], bool] = lambda: self.on_event is not None
        # waits (real seconds at most) until every queued webhook was answered or given up
        self.wait_for_webhooks: Callable[[float], bool] | None = None
        # {"id", "idempotency_key"} of the API request being handled, for Event.request
        self.current_request: dict[str, Any] | None = None
        self.reset()
        if state_file and os.path.exists(state_file):
            self.load()

    # ------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        with self.lock:
            # collection -> id -> object (insertion ordered: oldest first)
            self.objects: dict[str, dict[str, dict[str, Any]]] = {}
            # accepted meter events: {identifier, event_name, meter, customer, value, timestamp}
            self.meter_events: list[dict[str, Any]] = []
            # payment method id -> card number
            self.cards: dict[str, str] = {}
            # subscription id -> proration lines waiting for the next invoice
            self.pending_lines: dict[str, list[dict[str, Any]]] = {}
            self.counters: dict[str, int] = {}
            # idempotency key -> {"fingerprint", "status", "body", "created"}
            self.idempotency: dict[str, dict[str, Any]] = {}
            self.deliveries: list[dict[str, Any]] = []
            # draft invoice ids waiting for finalization
            self.drafts: set[str] = set()
            # account settings, e.g. {"finalization_grace_seconds": 3600}
            self.settings: dict[str, Any] = {}
            self._index_meter_events()

    def _index_meter_events(self) -> None:
        # identifier -> newest event with it; (meter, customer) -> events (the hot paths)
        self.meter_identifiers: dict[str, dict[str, Any]] = {}
        self.meter_usage: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for event in self.meter_events:
            self._index_meter_event(event)

    def _index_meter_event(self, event: dict[str, Any]) -> None:
        self.meter_identifiers[event["identifier"]] = event
        self.meter_usage.setdefault((event["meter"], event["customer"]), []).append(event)

    def add_meter_event(self, event: dict[str, Any]) -> None:
        self.meter_events.append(event)
        self._index_meter_event(event)

    def clock_time(self, customer_id: str | None) -> int | None:
        """The frozen time of the customer's test clock, or None when it has none."""
        if not customer_id:
            return None
        customer = self.collection("customer").get(customer_id)
        clock_id = customer.get("test_clock") if customer else None
        clock = self.collection("test_helpers.test_clock").get(clock_id) if clock_id else None
        return clock["frozen_time"] if clock else None

    def load(self) -> None:
        assert self.state_file
        with open(self.state_file, encoding="utf-8") as fh:
            data = json.load(fh)
        with self.lock:
            for name in _PERSISTED:
                if name in data:
                    setattr(self, name, data[name])
            self.drafts = {i for i, inv in self.collection("invoice").items()
                           if inv.get("status") == "draft"}
            self._index_meter_events()

    def save(self) -> None:
        if not self.state_file:
            return
        with self.lock:
            data = {name: getattr(self, name) for name in _PERSISTED}
            text = json.dumps(data)
        directory = os.path.dirname(os.path.abspath(self.state_file))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".stripe-emulator-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.state_file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    # ------------------------------------------------------------ objects
    def collection(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.objects.setdefault(kind, {})

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.collection(obj["object"])[obj["id"]] = obj
        return obj

    def get(self, kind: str, obj_id: Any, param: str = "id") -> dict[str, Any]:
        if not isinstance(obj_id, str) or not obj_id:
            raise invalid(f"Invalid {kind} id", param=param)
        obj = self.collection(kind).get(obj_id)
        if obj is None:
            human = next((h for c, h in KINDS.values() if c == kind), kind)
            raise missing(human, obj_id, param=param)
        return obj

    def find(self, obj_id: str) -> dict[str, Any] | None:
        """Look an object up by id alone (used by ``expand``)."""
        prefix = obj_id.split("_", 1)[0]
        kind = KINDS.get(prefix)
        if kind is None:
            return None
        return self.collection(kind[0]).get(obj_id)

    def all(self, kind: str) -> list[dict[str, Any]]:
        """Objects of a kind, newest first (Stripe's list order)."""
        return list(reversed(self.collection(kind).values()))

    def next_number(self, name: str) -> int:
        self.counters[name] = self.counters.get(name, 0) + 1
        return self.counters[name]

    # ------------------------------------------------------------ events
    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        previous_attributes: dict[str, Any] | None = None,
        request: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        public = {k: v for k, v in obj.items() if not k.startswith("_")}
        data: dict[str, Any] = {"object": json.loads(json.dumps(public))}
        if previous_attributes is not None:
            data["previous_attributes"] = json.loads(json.dumps(previous_attributes))
        event = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1 if self.on_event else 0,
            "request": request or self.current_request or {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        self.add(event)
        if self.on_event:
            self.on_event(event)
        return event


def paginate(
    items: Iterable[dict[str, Any]], params: dict[str, Any], url: str
) -> dict[str, Any]:
    """Build a Stripe list object honouring ``limit``, ``starting_after``, ``ending_before``."""
    rows = list(items)
    try:
        limit = int(params.get("limit") or 10)
    except ValueError:
        raise invalid("Invalid integer: limit", param="limit") from None
    if not 1 <= limit <= 100:
        raise invalid("limit must be between 1 and 100", param="limit")
    after, before = params.get("starting_after"), params.get("ending_before")
    ids = [r.get("id") for r in rows]
    if after:
        if after not in ids:
            raise invalid(f"No such object: '{after}'", param="starting_after")
        rows = rows[ids.index(after) + 1 :]
        page, has_more = rows[:limit], len(rows) > limit
    elif before:
        if before not in ids:
            raise invalid(f"No such object: '{before}'", param="ending_before")
        rows = rows[: ids.index(before)]
        page, has_more = rows[-limit:], len(rows) > limit
    else:
        page, has_more = rows[:limit], len(rows) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": url}
