"""Test clocks: customers created with ``test_clock`` live at the clock's frozen time, and
advancing it runs what happens in between (period ends, drafts, finalization, webhooks)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .. import period_end
from ..errors import invalid
from ..forms import as_int, require
from ..store import frozen_at, new_id, paginate
from . import Ctx, route

log = logging.getLogger("stripe_emulator.test_clocks")
KIND = "test_helpers.test_clock"
DELETES_AFTER = 7 * 86400
# How long (real seconds) an advance waits for the webhooks of one step to be answered.
WEBHOOK_WAIT = 30.0


@route("POST", "/v1/test_helpers/test_clocks")
def create_clock(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    frozen = as_int(require(params, "frozen_time"), "frozen_time")
    created = int(time.time())
    clock = {
        "id": new_id("clock", 24),
        "object": KIND,
        "created": created,
        "deletes_after": created + DELETES_AFTER,
        "frozen_time": frozen,
        "livemode": False,
        "name": params.get("name") or None,
        "status": "ready",
        "status_details": {},
    }
    ctx.store.add(clock)
    return clock


@route("GET", "/v1/test_helpers/test_clocks/{id}")
def retrieve_clock(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    return ctx.store.get(KIND, id)


@route("GET", "/v1/test_helpers/test_clocks")
def list_clocks(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return paginate(ctx.store.all(KIND), params, "/v1/test_helpers/test_clocks")


@route("DELETE", "/v1/test_helpers/test_clocks/{id}")
def delete_clock(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    """Delete the clock and the customers (and their subscriptions) attached to it."""
    store = ctx.store
    store.get(KIND, id)
    customers = {c_id for c_id, c in store.collection("customer").items()
                 if c.get("test_clock") == id}
    for kind in ("subscription", "invoice"):
        objects = store.collection(kind)
        for obj_id in [k for k, v in objects.items() if v.get("customer") in customers]:
            del objects[obj_id]
            store.drafts.discard(obj_id)
    for c_id in customers:
        del store.collection("customer")[c_id]
    del store.collection(KIND)[id]
    return {"id": id, "object": KIND, "deleted": True}


@route("POST", "/v1/test_helpers/test_clocks/{id}/advance")
def advance_clock(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    """Start moving the clock to ``frozen_time``; it is ``advancing`` until that is done."""
    clock = ctx.store.get(KIND, id)
    target = as_int(require(params, "frozen_time"), "frozen_time")
    assert target is not None
    if clock["status"] == "advancing":
        raise invalid(f"The test clock {id} is currently advancing; wait until it is ready.",
                      code="test_clock_advancing")
    if target <= clock["frozen_time"]:
        raise invalid("The frozen_time must be after the test clock's current frozen_time.",
                      param="frozen_time")
    clock["status"] = "advancing"
    clock["status_details"] = {"advancing": {"target_frozen_time": target}}
    with frozen_at(clock["frozen_time"]):
        ctx.store.emit("test_helpers.test_clock.advancing", clock)
    threading.Thread(target=_advance, args=(ctx, id, target), name=f"advance-{id}",
                     daemon=True).start()
    return clock


def _advance(ctx: Ctx, clock_id: str, target: int) -> None:
    """Walk from one due moment to the next, letting each step's webhooks be answered (at that
    emulated time) before going on."""
    store = ctx.store
    try:
        while True:
            with store.lock:
                clock = store.collection(KIND).get(clock_id)
                if clock is None:
                    return
                due = period_end.next_due(store, clock_id, target)
                step = target if due is None else max(due, clock["frozen_time"])
                clock["frozen_time"] = step
                happened = period_end.run_due(store, clock_id, step, ctx.public_url)
                store.save()
            if due is None or not happened:
                if due is not None:
                    log.warning("advancing %s: nothing happened at %s", clock_id, step)
                break
            if store.wait_for_webhooks is not None:
                store.wait_for_webhooks(WEBHOOK_WAIT)
        with store.lock, frozen_at(target):
            clock["status"], clock["status_details"] = "ready", {}
            store.emit("test_helpers.test_clock.ready", clock)
            store.save()
    except Exception:
        log.exception("advancing %s failed", clock_id)
        with store.lock:
            clock = store.collection(KIND).get(clock_id)
            if clock is not None:
                clock["status"], clock["status_details"] = "internal_failure", {}
