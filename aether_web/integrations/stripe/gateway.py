"""Calls to Stripe. Every method answers domain records or ids and raises only
StripeUnavailable (try again later) or StripeGatewayError (Stripe refused)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import stripe

from aether_web.integrations.stripe.errors import StripeGatewayError, StripeUnavailable
from aether_web.integrations.stripe.invoicing import InvoicingCalls
from aether_web.integrations.stripe.objects import (
    CardInfo,
    InvoiceInfo,
    SubscriptionInfo,
    _id,
    card_from_stripe,
    invoice_from_stripe,
    subscription_from_stripe,
)
from aether_web.observability import log

T = TypeVar("T")
# Meter events: a second event with an identifier Stripe already holds is refused like this.
_DUPLICATE_IDENTIFIER = "already exists with identifier"


def _domain_error(what: str, exc: stripe.StripeError) -> Exception:
    """StripeUnavailable for "no answer" (network, timeout, rate limit, 5xx), else
    StripeGatewayError with Stripe's reason."""
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        log.warning("stripe %s: not answering (%s)", what, type(exc).__name__)
        return StripeUnavailable(http_status=exc.http_status)
    status = exc.http_status or 0
    if status >= 500:
        log.warning("stripe %s: server error %s", what, status)
        return StripeUnavailable(http_status=status)
    error = exc.error
    code = getattr(error, "code", None) if error else None
    param = getattr(error, "param", None) if error else None
    log.warning("stripe %s refused: %s %s %s", what, status, code, exc.user_message)
    return StripeGatewayError(stripe_code=exc.code or code, param=param, http_status=status,
                              stripe_message=str(exc.user_message or ""))


def _as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


class StripeGateway(InvoicingCalls):
    """The app's only door to Stripe, around one configured `stripe.StripeClient`."""

    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client

    async def aclose(self) -> None:
        """Close the connection pools (a no-op for a client without them)."""
        http_client = self.client._requestor._get_http_client()
        close_async = getattr(http_client, "close_async", None)
        if close_async is not None:
            await close_async()
        if getattr(http_client, "_client", None) is not None:
            http_client.close()

    # ------------------------------------------------------------------ plumbing

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except stripe.StripeError as exc:
            raise _domain_error(what, exc) from exc

    async def _call_async(self, what: str, fn: Callable[..., Awaitable[T]], *args: Any,
                          **kwargs: Any) -> T:
        try:
            return await fn(*args, **kwargs)
        except stripe.StripeError as exc:
            raise _domain_error(what, exc) from exc

    # ------------------------------------------------------------------ customers

    def create_customer(self, *, user_id: str, email: str) -> str:
        """A new customer for the user. The idempotency key makes a retried or concurrent
        creation return the same customer."""
        customer = self._call(
            "create customer", self.client.v1.customers.create,
            params={"email": email, "metadata": {"aether_user_id": user_id}},
            options={"idempotency_key": f"customer-{user_id}"},
        )
        return customer.id

    def update_customer_email(self, *, customer_id: str, email: str) -> None:
        """The address Stripe sends receipts and invoices to follows the account's."""
        self._call("update customer", self.client.v1.customers.update, customer_id,
                   params={"email": email})

    # ------------------------------------------------------------------ catalogue

    def price_ids_by_lookup_key(self, keys: list[str]) -> dict[str, str]:
        """Active prices for `keys` (missing keys are simply absent from the answer)."""
        prices = self._call("list prices", self.client.v1.prices.list,
                            params={"lookup_keys": keys, "active": True, "limit": 100})
        return {p.lookup_key: p.id for p in prices.data if p.lookup_key}

    # ------------------------------------------------------------------ checkout & portal

    def create_checkout_session(
        self, *, customer_id: str, user_id: str, plan_key: str, price_ids: list[str],
        metered_price_ids: list[str], billing_cycle_anchor: int, success_url: str,
        cancel_url: str,
    ) -> tuple[str, str]:
        """A subscription Checkout Session: the flat plan price (quantity 1) plus the metered
        overage prices (no quantity). Returns (session id, hosted URL)."""
        line_items = [{"price": p, "quantity": 1} for p in price_ids]
        line_items += [{"price": p} for p in metered_price_ids]
        session = self._call(
            "create checkout session", self.client.v1.checkout.sessions.create,
            params={
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": user_id,
                "line_items": line_items,
                "success_url": success_url,
                "cancel_url": cancel_url,
                "metadata": {"aether_user_id": user_id, "aether_plan": plan_key},
                "subscription_data": {
                    "billing_cycle_anchor": billing_cycle_anchor,
                    "metadata": {"aether_user_id": user_id, "aether_plan": plan_key},
                },
            },
        )
        return session.id, session.url

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        """The hosted Customer Portal URL for the customer."""
        session = self._call(
            "create portal session", self.client.v1.billing_portal.sessions.create,
            params={"customer": customer_id, "return_url": return_url},
        )
        return session.url

    # ------------------------------------------------------------------ subscriptions & invoices

    def retrieve_subscription(self, subscription_id: str) -> SubscriptionInfo:
        """The subscription as Stripe holds it now (the truth when events arrive out of order)."""
        sub = self._call("retrieve subscription", self.client.v1.subscriptions.retrieve,
                         subscription_id, params={"expand": ["items.data.price.product"]})
        return subscription_from_stripe(_as_dict(sub))

    def default_card(self, *, customer_id: str,
                     subscription_id: str | None = None) -> CardInfo | None:
        """The card invoices are charged to: the subscription's own default payment method,
        else the customer's invoice default; None when there is none or it is not a card."""
        pm_id = None
        if subscription_id:
            sub = _as_dict(self._call("retrieve subscription",
                                      self.client.v1.subscriptions.retrieve, subscription_id))
            pm_id = _id(sub.get("default_payment_method"))
        if not pm_id:
            customer = _as_dict(self._call("retrieve customer",
                                           self.client.v1.customers.retrieve, customer_id))
            pm_id = _id((customer.get("invoice_settings") or {}).get("default_payment_method"))
        if not pm_id:
            return None
        pm = self._call("retrieve payment method", self.client.v1.payment_methods.retrieve,
                        pm_id)
        return card_from_stripe(_as_dict(pm))

    def retrieve_invoice(self, invoice_id: str) -> InvoiceInfo:
        inv = self._call("retrieve invoice", self.client.v1.invoices.retrieve, invoice_id)
        return invoice_from_stripe(_as_dict(inv))

    # ------------------------------------------------------------------ meters

    def send_meter_event(self, *, event_name: str, identifier: str, customer_id: str,
                         value: int, timestamp: int) -> str:
        """Report usage once. Answers "sent", or "duplicate" when Stripe already holds an
        event with this identifier (an earlier attempt got through)."""
        try:
            self._call("send meter event", self.client.v1.billing.meter_events.create,
                       **_meter_event_call(event_name, identifier, customer_id, value,
                                           timestamp))
        except StripeGatewayError as exc:
            if _is_duplicate(exc):
                return "duplicate"
            raise
        return "sent"

    async def send_meter_event_async(self, *, event_name: str, identifier: str,
                                     customer_id: str, value: int, timestamp: int) -> str:
        """`send_meter_event` on the async client (httpx): "sent" or "duplicate"."""
        try:
            await self._call_async(
                "send meter event", self.client.v1.billing.meter_events.create_async,
                **_meter_event_call(event_name, identifier, customer_id, value, timestamp))
        except StripeGatewayError as exc:
            if _is_duplicate(exc):
                return "duplicate"
            raise
        return "sent"

    def cancel_meter_event(self, *, event_name: str, identifier: str) -> None:
        """Take back a meter event received in the last 24 hours (Stripe applies it shortly
        after answering). The identifier stays used: an event sent again under it is a
        duplicate."""
        self._call("cancel meter event", self.client.v1.billing.meter_event_adjustments.create,
                   params={"event_name": event_name, "type": "cancel",
                           "cancel": {"identifier": identifier}},
                   options={"idempotency_key": f"cancel-meter-event-{identifier}"})

    def active_meter_ids(self) -> dict[str, str]:
        """Active meters, by event name."""
        meters = self._call("list meters", self.client.v1.billing.meters.list,
                            params={"status": "active", "limit": 100})
        return {m.event_name: m.id for m in meters.auto_paging_iter()}

    def meter_usage(self, *, meter_id: str, customer_id: str, start: int, end: int) -> int:
        """What Stripe's meter aggregated for the customer over [start, end)."""
        summaries = self._call(
            "meter event summaries", self.client.v1.billing.meters.event_summaries.list,
            meter_id, params={"customer": customer_id, "start_time": start, "end_time": end,
                              "limit": 100})
        return int(sum(s.aggregated_value for s in summaries.auto_paging_iter()))

    # ------------------------------------------------------------------ raw access for set-up

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a client call with the gateway's error mapping (used by the catalogue set-up)."""
        return self._call(what, fn, *args, **kwargs)


def _meter_event_call(event_name: str, identifier: str, customer_id: str, value: int,
                      timestamp: int) -> dict[str, Any]:
    # The same identifier and idempotency key on every attempt: a retry never counts twice.
    return {"params": {"event_name": event_name, "identifier": identifier,
                       "timestamp": timestamp,
                       "payload": {"stripe_customer_id": customer_id, "value": str(value)}},
            "options": {"idempotency_key": f"meter-event-{identifier}"}}


def _is_duplicate(exc: StripeGatewayError) -> bool:
    return _DUPLICATE_IDENTIFIER in exc.stripe_message or (
        exc.param == "identifier" and exc.http_status == 400)
