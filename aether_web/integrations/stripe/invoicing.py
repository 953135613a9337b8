"""Gateway calls for invoices and the subscription lifecycle: invoice lines, labelled invoice
items, invoices of their own, cancelling, switching, refunding, expiring Checkout sessions.

Mixed into `StripeGateway`; every call goes through its error mapping (`_call`) and every
write carries an idempotency key derived from what it does, so a retry never bills twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aether_web.integrations.stripe.errors import StripeGatewayError
from aether_web.integrations.stripe.objects import (
    LIVE_STATUSES,
    InvoiceInfo,
    InvoiceLineInfo,
    InvoicePreview,
    SubscriptionInfo,
    invoice_from_stripe,
    invoice_lines_from_stripe,
    invoice_preview_from_stripe,
    subscription_from_stripe,
)

T = TypeVar("T")


def _as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class InvoicingCalls:
    """Invoice and lifecycle calls (needs `client` and `_call` from the gateway)."""

    client: Any
    _call: Callable[..., Any]

    # ------------------------------------------------------------------ invoices

    def invoice_with_lines(self, invoice_id: str) -> tuple[InvoiceInfo, list[InvoiceLineInfo]]:
        """The invoice as Stripe holds it now and all of its lines (paged when needed)."""
        inv = _as_dict(self._call("retrieve invoice", self.client.v1.invoices.retrieve,
                                  invoice_id))
        lines = inv.get("lines") or {}
        if lines.get("has_more"):
            page = self._call("invoice lines", self.client.v1.invoices.line_items.list,
                              invoice_id, params={"limit": 100})
            inv["lines"] = {"data": [_as_dict(x) for x in page.auto_paging_iter()]}
        return invoice_from_stripe(inv), invoice_lines_from_stripe(inv)

    def invoice_from_event(self, event: dict[str, Any]) -> tuple[InvoiceInfo,
                                                                list[InvoiceLineInfo]] | None:
        """The invoice and its lines as a webhook event carried them (no call), or None when
        the event's copy can't stand for ours: another API version's shape (webhook
        endpoints keep the version they were created with), or not a whole invoice (its
        lines continue on another page)."""
        from aether_web.integrations.stripe.client import API_VERSION

        obj = (event.get("data") or {}).get("object") or {}
        lines = obj.get("lines") or {}
        if event.get("api_version") != API_VERSION or obj.get("object") != "invoice" \
                or not obj.get("id") or lines.get("has_more") \
                or not isinstance(lines.get("data"), list):
            return None
        return invoice_from_stripe(obj), invoice_lines_from_stripe(obj)

    def invoice_preview(self, *, customer_id: str,
                        subscription_id: str | None) -> InvoicePreview:
        """What closing the subscription's current period would bill (the next invoice)."""
        preview = self._call("invoice preview", self.client.v1.invoices.create_preview,
                             params={"customer": customer_id, "subscription": subscription_id})
        return invoice_preview_from_stripe(_as_dict(preview))

    def draft_invoice_ids(self, *, created_after: int) -> list[str]:
        """Ids of draft invoices created after `created_after` (the drafts re-check)."""
        page = self._call("list invoices", self.client.v1.invoices.list,
                          params={"status": "draft", "created": {"gt": created_after},
                                  "limit": 100})
        return [inv.id for inv in page.auto_paging_iter()]

    def final_invoice_ids(self, *, created_after: int, billing_reasons: tuple[str, ...]
                          ) -> list[str]:
        """Ids of finalized (open, paid, uncollectible) invoices created after `created_after`
        with one of `billing_reasons` (the re-check of invoices finalized while no webhook of
        theirs was answered)."""
        page = self._call("list invoices", self.client.v1.invoices.list,
                          params={"created": {"gt": created_after}, "limit": 100})
        return [inv.id for inv in page.auto_paging_iter()
                if inv.status in ("open", "paid", "uncollectible")
                and inv.billing_reason in billing_reasons]

    def create_invoice_item(self, *, customer_id: str, amount_cents: int, description: str,
                            period: tuple[int, int], metadata: dict[str, str],
                            idempotency_key: str) -> str:
        """A labelled one-off item; Stripe puts it on the customer's next invoice."""
        item = self._call(
            "create invoice item", self.client.v1.invoice_items.create,
            params={"customer": customer_id, "amount": amount_cents, "currency": "usd",
                    "description": description, "metadata": metadata,
                    "period": {"start": period[0], "end": period[1]}},
            options={"idempotency_key": idempotency_key})
        return item.id

    def invoice_pending_items_now(self, *, customer_id: str, description: str,
                                  metadata: dict[str, str],
                                  idempotency_key: str) -> InvoiceInfo:
        """An invoice of its own for the customer's pending items, finalized at once
        (charged automatically; payable from its hosted page)."""
        inv = self._call(
            "create invoice", self.client.v1.invoices.create,
            params={"customer": customer_id, "pending_invoice_items_behavior": "include",
                    "auto_advance": True, "collection_method": "charge_automatically",
                    "description": description, "metadata": metadata},
            options={"idempotency_key": idempotency_key})
        if inv.status == "draft":
            inv = self._call("finalize invoice", self.client.v1.invoices.finalize_invoice,
                             inv.id, params={"auto_advance": True},
                             options={"idempotency_key": f"{idempotency_key}-finalize"})
        return invoice_from_stripe(_as_dict(inv))

    def refund_invoice(self, *, invoice_id: str, idempotency_key: str) -> list[str]:
        """Refund every payment of the invoice (through `invoice.payments`, since basil)."""
        page = self._call("list invoice payments", self.client.v1.invoice_payments.list,
                          params={"invoice": invoice_id, "limit": 100})
        refunds = []
        for payment in page.auto_paging_iter():
            details = _as_dict(payment).get("payment") or {}
            intent = details.get("payment_intent")
            if not intent or _as_dict(payment).get("status") != "paid":
                continue
            refund = self._call("create refund", self.client.v1.refunds.create,
                                params={"payment_intent": intent,
                                        "metadata": {"aether_invoice": invoice_id}},
                                options={"idempotency_key": f"{idempotency_key}-{intent}"})
            refunds.append(refund.id)
        return refunds

    # ------------------------------------------------------------------ subscriptions

    def live_subscription_ids(self, *, customer_id: str) -> list[str]:
        """The customer's subscriptions that still bill (any status but ended), oldest first."""
        page = self._call("list subscriptions", self.client.v1.subscriptions.list,
                          params={"customer": customer_id, "limit": 100})
        subs = sorted(page.auto_paging_iter(), key=lambda s: s.created)
        return [s.id for s in subs if s.status in (*LIVE_STATUSES, "incomplete")]

    def invoice_coming(self, *, customer_id: str) -> bool:
        """Whether a subscription of the customer will invoice again (live and not set to
        end at its period's end, whose final invoice may be past already)."""
        page = self._call("list subscriptions", self.client.v1.subscriptions.list,
                          params={"customer": customer_id, "limit": 100})
        return any(s.status in LIVE_STATUSES and not s.cancel_at_period_end
                   for s in page.auto_paging_iter())

    def cancel_subscription(self, *, subscription_id: str, invoice_now: bool, prorate: bool,
                            idempotency_key: str) -> SubscriptionInfo:
        """End the subscription now; `invoice_now` bills outstanding usage on a final
        invoice, `prorate` credits the unused flat fee."""
        sub = self._call(
            "cancel subscription", self.client.v1.subscriptions.cancel, subscription_id,
            params={"invoice_now": invoice_now, "prorate": prorate,
                    "expand": ["items.data.price.product"]},
            options={"idempotency_key": idempotency_key})
        return subscription_from_stripe(_as_dict(sub))

    def switch_subscription_price(self, *, subscription_id: str, item_id: str, price_id: str,
                                  idempotency_key: str) -> SubscriptionInfo:
        """Move the flat-fee item to another plan's price; Stripe prorates the fee."""
        sub = self._call(
            "switch plan", self.client.v1.subscriptions.update, subscription_id,
            params={"items": [{"id": item_id, "price": price_id}],
                    "proration_behavior": "create_prorations",
                    "expand": ["items.data.price.product"]},
            options={"idempotency_key": idempotency_key})
        return subscription_from_stripe(_as_dict(sub))

    def expire_open_checkouts(self, *, customer_id: str, keep: str | None = None) -> int:
        """Expire the customer's open Checkout sessions but `keep` (another tab's session
        can't be paid too)."""
        page = self._call("list checkout sessions", self.client.v1.checkout.sessions.list,
                          params={"customer": customer_id, "status": "open", "limit": 100})
        expired = 0
        for cs in list(page.auto_paging_iter()):
            if cs.id == keep:
                continue
            try:
                self._call("expire checkout session",
                           self.client.v1.checkout.sessions.expire, cs.id)
            except StripeGatewayError:
                continue  # completed meantime: the webhook cancels a second subscription
            expired += 1
        return expired
