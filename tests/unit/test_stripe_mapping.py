"""The Stripe gateway's mapping, plan resolution, identifiers and entitlement rules (pure)."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import stripe

from aether_web.errors import InvalidInput
from aether_web.integrations.stripe import (
    InvalidSignature,
    checkout_from_stripe,
    invoice_from_stripe,
    plan_key_for_price,
    subscription_from_stripe,
    verify_event,
)
from aether_web.services.billing import next_month_anchor, paid_plan
from aether_web.services.overage import overage_identifier, parse_month, report_timestamp
from aether_web.services.subscriptions import entitled_plan


def _price(lookup_key=None, usage="licensed", product="prod_x", metadata=None):
    return {"id": "price_1", "lookup_key": lookup_key, "product": product,
            "metadata": metadata or {}, "recurring": {"usage_type": usage}}


def _sub(items, status="active"):
    return {"id": "sub_1", "customer": "cus_1", "status": status, "created": 10,
            "cancel_at_period_end": False, "metadata": {"aether_user_id": "u-1"},
            "items": {"data": items}}


def _item(price, start=100, end=200):
    return {"id": f"si_{price['lookup_key']}", "price": price, "current_period_start": start,
            "current_period_end": end}


@pytest.mark.parametrize(("price", "plan"), [
    (_price("aether_pro_monthly"), "pro"),
    (_price("aether_team_monthly"), "team"),
    (_price(None, product={"id": "prod_t", "metadata": {"aether_plan": "team"}}), "team"),
    (_price(None, metadata={"aether_plan": "pro"}), "pro"),
    (_price("aether_compute_overage", usage="metered"), None),
    (_price("something_else"), None),
    (_price(None, product={"id": "p", "metadata": {"aether_plan": "free"}}), None),
    (None, None),
])
def test_plan_for_price(price, plan) -> None:
    assert plan_key_for_price(price) == plan


def test_subscription_plan_comes_from_the_licensed_item() -> None:
    sub = subscription_from_stripe(_sub([
        _item(_price("aether_compute_overage", usage="metered"), 1, 2),
        _item(_price("aether_team_monthly"), 100, 200),
        _item(_price("aether_storage_overage", usage="metered"), 1, 2),
    ], status="past_due"))
    assert sub.plan_key == "team" and sub.status == "past_due" and sub.is_live
    assert (sub.current_period_start, sub.current_period_end) == (100, 200)
    assert sub.user_id == "u-1" and sub.customer_id == "cus_1"
    assert set(sub.item_ids_by_lookup_key) == {"aether_compute_overage", "aether_team_monthly",
                                               "aether_storage_overage"}


def test_a_subscription_without_a_known_plan_has_none() -> None:
    sub = subscription_from_stripe(_sub([_item(_price("other"))], status="canceled"))
    assert sub.plan_key is None and not sub.is_live


def test_invoice_subscription_is_under_parent() -> None:
    inv = invoice_from_stripe({
        "id": "in_1", "customer": {"id": "cus_1"}, "status": "paid", "total": 2031,
        "amount_paid": 2031, "amount_due": 2031, "currency": "usd", "created": 5,
        "parent": {"subscription_details": {"subscription": "sub_9"}},
        "status_transitions": {"paid_at": 6}, "hosted_invoice_url": "https://x/in_1"})
    assert (inv.customer_id, inv.subscription_id, inv.paid_at) == ("cus_1", "sub_9", 6)
    assert inv.total == 2031


def test_checkout_user_is_the_client_reference() -> None:
    cs = checkout_from_stripe({"id": "cs_1", "customer": "cus_1", "subscription": "sub_1",
                               "client_reference_id": "u-7", "metadata": {}})
    assert (cs.user_id, cs.subscription_id) == ("u-7", "sub_1")


NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.mark.parametrize(("status", "grace", "expected"), [
    ("active", None, "team"),
    ("trialing", None, "team"),
    ("past_due", NOW + timedelta(days=1), "team"),
    ("past_due", NOW - timedelta(seconds=1), "free"),
    ("canceled", None, "free"),
    ("unpaid", None, "free"),
    ("incomplete", None, "pro"),
])
def test_entitled_plan(status, grace, expected) -> None:
    assert entitled_plan(status=status, plan_key="team", current_plan="pro",
                         grace_ends_at=grace, now=NOW) == expected


def test_identifiers_and_months() -> None:
    assert overage_identifier("u1", date(2026, 1, 1), "compute") == "u1:2026-01:compute"
    assert overage_identifier("u1", date(2026, 12, 1), "storage") == "u1:2026-12:storage"
    with pytest.raises(ValueError):
        overage_identifier("u1", date(2026, 1, 1), "gpu")
    assert parse_month("2026-02") == date(2026, 2, 1)
    for bad in ("2026-13", "feb", "", "2026"):
        with pytest.raises(InvalidInput):
            parse_month(bad)


def test_usage_is_stamped_inside_its_month() -> None:
    closed = report_timestamp(date(2026, 2, 1), NOW)
    assert datetime.fromtimestamp(closed, UTC) == datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC)
    assert report_timestamp(date(2026, 3, 1), NOW) == int(NOW.timestamp())


def test_checkout_anchor_is_the_next_month_start() -> None:
    assert next_month_anchor(NOW) == int(datetime(2026, 4, 1, tzinfo=UTC).timestamp())
    dec = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert next_month_anchor(dec) == int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    assert paid_plan(" Team ").key == "team"
    for bad in ("free", "gold", None):
        with pytest.raises(InvalidInput):
            paid_plan(bad)


def test_verify_event() -> None:
    body = json.dumps({"id": "evt_1", "type": "invoice.paid", "created": 1})
    good = stripe.WebhookSignature.generate_signature_header(body, "whsec_a")
    assert verify_event(body.encode(), good, "whsec_a")["id"] == "evt_1"
    for header in (None, "", "garbage", good.replace("v1=", "v1=0")):
        with pytest.raises(InvalidSignature):
            verify_event(body.encode(), header, "whsec_a")
    with pytest.raises(InvalidSignature):
        verify_event(body.encode(), good, "whsec_b")
    old = stripe.WebhookSignature.generate_signature_header(body, "whsec_a",
                                                            timestamp=int(time.time()) - 301)
    with pytest.raises(InvalidSignature):
        verify_event(body.encode(), old, "whsec_a")
    not_event = json.dumps([1, 2])
    sig = stripe.WebhookSignature.generate_signature_header(not_event, "whsec_a")
    with pytest.raises(InvalidInput):
        verify_event(not_event.encode(), sig, "whsec_a")


def test_an_events_invoice_copy_stands_only_when_whole_and_of_our_api_version() -> None:
    from aether_web.integrations.stripe import StripeGateway
    from aether_web.integrations.stripe.client import API_VERSION

    invoice = {"id": "in_1", "object": "invoice", "customer": "cus_1", "status": "draft",
               "created": 1_700_000_000, "billing_reason": "subscription_cycle",
               "parent": {"subscription_details": {"subscription": "sub_1"}},
               "lines": {"data": [], "has_more": False}}

    def carried(**changes):
        event = {"api_version": API_VERSION, "data": {"object": {**invoice, **changes}}}
        return StripeGateway.invoice_from_event(None, event)  # type: ignore[arg-type]

    info, lines = carried()
    assert (info.id, info.subscription_id, info.status, lines) == ("in_1", "sub_1", "draft", [])
    assert carried(lines={"data": [], "has_more": True}) is None  # lines on another page
    assert carried(object="invoiceitem") is None
    older = {"api_version": "2020-08-27", "data": {"object": invoice}}
    assert StripeGateway.invoice_from_event(None, older) is None  # type: ignore[arg-type]
