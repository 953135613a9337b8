"""A renewal invoice's life between the period's end and its finalization, as Stripe runs it.

- The renewal invoice is created as a draft and announced with ``invoice.created``.
- It finalizes at the later of its creation plus the finalization grace period (1 h by
  default, at most 72 h) and one hour after a webhook endpoint answered ``invoice.created``
  with a 2xx; without such an answer, 72 h after its creation at the latest. With no webhook
  endpoint configured there is nothing to wait for.
- Until it finalizes, meter events timestamped in the closed period count on it; at
  finalization its usage lines take the meters' totals of that moment and never change again.

Times are the customer's emulated time: its test clock's, or the wall clock's.
"""

from __future__ import annotations

from typing import Any

from . import billing
from .errors import invalid
from .store import Store, frozen_at, now
from .views import render

DEFAULT_GRACE = 3600
MAX_GRACE = 72 * 3600
AFTER_ANSWER = 3600
LATEST = 72 * 3600


def set_grace(store: Store, seconds: Any) -> int:
    """Set the finalization grace period (seconds, 0 to 72 h)."""
    try:
        value = int(seconds)
    except (TypeError, ValueError):
        raise invalid("finalization_grace_seconds must be an integer.",
                      param="finalization_grace_seconds") from None
    if not 0 <= value <= MAX_GRACE:
        raise invalid("The finalization grace period is at most 72 hours.",
                      param="finalization_grace_seconds")
    store.settings["finalization_grace_seconds"] = value
    return value


def grace(store: Store) -> int:
    return int(store.settings.get("finalization_grace_seconds", DEFAULT_GRACE))


def finalizes_at(store: Store, invoice: dict[str, Any]) -> int:
    """When a draft finalizes, given what its ``invoice.created`` webhook got so far."""
    created = invoice["created"]
    answered = invoice.get("_answered_at")
    if answered is None:
        return created + LATEST
    return min(max(created + invoice.get("_grace", grace(store)), answered + AFTER_ANSWER),
               created + LATEST)


def open_renewal_draft(store: Store, invoice: dict[str, Any]) -> None:
    """Store a renewal invoice as a draft and send ``invoice.created``."""
    invoice["_grace"] = grace(store)
    if not store.webhooks_enabled():
        invoice["_answered_at"] = invoice["created"]
    invoice["automatically_finalizes_at"] = invoice["created"] + invoice["_grace"]
    store.drafts.add(invoice["id"])
    billing.open_draft(store, invoice)


def webhook_answered(store: Store, event: dict[str, Any]) -> None:
    """A webhook endpoint answered ``event`` with a 2xx (called with ``store.lock`` held)."""
    if event.get("type") != "invoice.created":
        return
    invoice = store.collection("invoice").get(event["data"]["object"]["id"])
    if invoice is None or invoice["status"] != "draft" or invoice.get("_answered_at"):
        return
    at = store.clock_time(invoice["customer"])
    invoice["_answered_at"] = now() if at is None else at
    invoice["automatically_finalizes_at"] = finalizes_at(store, invoice)


def finalize_draft(store: Store, invoice: dict[str, Any]) -> None:
    """Finalize a draft with the meters' totals of now, then charge it (auto collection)."""
    if invoice["status"] != "draft":
        raise invalid(f"This invoice is already finalized ({invoice['status']}).",
                      code="invoice_not_editable")
    billing.refresh_metered_lines(store, invoice)
    billing.finalize_open(store, invoice)
    if invoice.get("collection_method") != "charge_automatically":
        return
    paid = billing.attempt_payment(store, invoice)
    sub_id = billing.invoice_subscription_id(invoice)
    sub = store.collection("subscription").get(sub_id) if sub_id else None
    if sub is None or sub["status"] == "canceled":
        return
    before = render(store, sub)
    if not paid:
        sub["status"] = "past_due"
    elif sub["status"] == "past_due":
        sub["status"] = "active"
    billing.subscription_event(store, sub, before, "customer.subscription.updated")


def _clock_of(store: Store, customer_id: str) -> str | None:
    customer = store.collection("customer").get(customer_id)
    return customer.get("test_clock") if customer else None


def _live_subscriptions(store: Store, clock_id: str | None) -> list[dict[str, Any]]:
    return [s for s in store.collection("subscription").values()
            if s["status"] in ("active", "past_due", "trialing", "unpaid")
            and s["items"]["data"] and _clock_of(store, s["customer"]) == clock_id]


def _drafts(store: Store, clock_id: str | None) -> list[dict[str, Any]]:
    invoices = store.collection("invoice")
    return [invoices[i] for i in sorted(store.drafts) if i in invoices
            and _clock_of(store, invoices[i]["customer"]) == clock_id]


def next_due(store: Store, clock_id: str | None, until: int) -> int | None:
    """The earliest moment up to ``until`` at which a period ends or a draft finalizes."""
    times = [s["items"]["data"][0]["current_period_end"]
             for s in _live_subscriptions(store, clock_id)]
    times += [finalizes_at(store, inv) for inv in _drafts(store, clock_id)]
    due = [t for t in times if t <= until]
    return min(due) if due else None


def run_due(store: Store, clock_id: str | None, at: int, public_url: str, *,
            renew: bool = True) -> int:
    """Finalize every draft due by ``at`` and (``renew``) renew every period that ended by
    ``at`` (a draft each), at emulated time ``at``. Returns how many things happened."""
    from . import lifecycle

    done = 0
    with frozen_at(at if clock_id else None):
        for inv in _drafts(store, clock_id):
            if finalizes_at(store, inv) <= at:
                finalize_draft(store, inv)
                done += 1
        for sub in _live_subscriptions(store, clock_id) if renew else ():
            end = sub["items"]["data"][0]["current_period_end"]
            if end <= at:
                lifecycle.close_period(store, sub, end, public_url, draft=True)
                done += 1
    return done
