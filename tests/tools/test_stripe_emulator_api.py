"""Contract tests: every API endpoint through the real stripe-python client."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import httpx
import pytest
import stripe


def test_missing_and_live_keys_are_rejected(stripe_emu):
    response = httpx.get(f"{stripe_emu.url}/v1/customers")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    live = stripe_emu.client("sk_live_nope", max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        live.v1.customers.list()
    basic = httpx.get(f"{stripe_emu.url}/v1/customers", auth=("sk_test_basic", ""))
    assert basic.status_code == 200
    assert basic.json()["object"] == "list"


def test_unknown_path_and_missing_object_are_stripe_errors(stripe_emu, stripe_client):
    response = httpx.get(f"{stripe_emu.url}/v1/nope", headers={"Authorization": "Bearer sk_test_x"})
    assert response.status_code == 404
    assert "Unrecognized request URL" in response.json()["error"]["message"]
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.customers.retrieve("cus_missing")
    assert info.value.http_status == 404
    assert info.value.code == "resource_missing"
    assert info.value.error.param == "id"


def test_customers(stripe_client):
    c = stripe_client.v1.customers
    created = c.create(params={"email": "a@example.com", "name": "A", "metadata": {"team": "t"}})
    assert isinstance(created, stripe.Customer)
    assert created.id.startswith("cus_") and created.livemode is False
    assert created.metadata["team"] == "t"
    assert created.invoice_settings.default_payment_method is None
    c.create(params={"email": "b@example.com"})
    updated = c.update(created.id, params={"name": "A2", "metadata": {"team": ""}})
    assert updated.name == "A2" and "team" not in updated.metadata.to_dict()
    assert c.retrieve(created.id).name == "A2"
    listed = c.list(params={"email": "a@example.com"})
    assert [x.id for x in listed.data] == [created.id]
    assert listed.has_more is False and listed.url == "/v1/customers"
    everyone = c.list(params={"limit": 1})
    assert len(everyone.data) == 1 and everyone.has_more is True
    assert len(list(c.list(params={"limit": 1}).auto_paging_iter())) == 2
    found = c.search(params={"query": "email:'b@example.com'"})
    assert [x.email for x in found.data] == ["b@example.com"]


def test_default_payment_method_on_customer(stripe_emu, stripe_client, stripe_catalog):
    card = httpx.post(f"{stripe_emu.url}/_emulator/customers/{stripe_catalog.customer.id}/card",
                      json={"card": "4242424242424242"})
    pm_id = card.json()["id"]
    customer = stripe_client.v1.customers.retrieve(stripe_catalog.customer.id)
    assert customer.invoice_settings.default_payment_method == pm_id
    pm = stripe_client.v1.payment_methods.retrieve(pm_id)
    assert isinstance(pm, stripe.PaymentMethod) and pm.card.last4 == "4242"
    cleared = stripe_client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": ""}})
    assert cleared.invoice_settings.default_payment_method is None
    restored = stripe_client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": pm_id}})
    assert restored.invoice_settings.default_payment_method == pm_id


def test_products_and_prices(stripe_client, stripe_catalog):
    c = stripe_client.v1
    product = c.products.retrieve(stripe_catalog.pro.id)
    assert isinstance(product, stripe.Product) and product.metadata["aether_plan"] == "pro"
    assert {p.id for p in c.products.list().data} >= {stripe_catalog.pro.id}
    flat = c.prices.retrieve(stripe_catalog.pro_price.id)
    assert isinstance(flat, stripe.Price)
    assert flat.unit_amount == 5000 and flat.recurring.usage_type == "licensed"
    metered = c.prices.retrieve(stripe_catalog.metered.id)
    assert metered.unit_amount is None
    assert metered.unit_amount_decimal == Decimal("0.0125")
    assert metered.recurring.meter == stripe_catalog.meter.id
    by_key = c.prices.list(params={"lookup_keys": ["pro_monthly", "compute_second"]})
    assert {p.id for p in by_key.data} == {stripe_catalog.pro_price.id, stripe_catalog.metered.id}
    by_product = c.prices.list(params={"product": stripe_catalog.starter.id, "active": True})
    assert [p.id for p in by_product.data] == [stripe_catalog.starter_price.id]


def test_lookup_key_is_unique_unless_transferred(stripe_client, stripe_catalog):
    c = stripe_client.v1.prices
    params = {"product": stripe_catalog.pro.id, "currency": "usd", "unit_amount": 6000,
              "recurring": {"interval": "month"}, "lookup_key": "pro_monthly"}
    with pytest.raises(stripe.InvalidRequestError) as info:
        c.create(params=params)
    assert info.value.http_status == 400 and "lookup key" in info.value.user_message
    moved = c.create(params={**params, "transfer_lookup_key": True})
    assert moved.lookup_key == "pro_monthly"
    assert c.retrieve(stripe_catalog.pro_price.id).lookup_key is None
    assert [p.id for p in c.list(params={"lookup_keys": ["pro_monthly"]}).data] == [moved.id]


def test_metered_price_needs_a_meter(stripe_client, stripe_catalog):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.prices.create(params={
            "product": stripe_catalog.compute.id, "currency": "usd", "unit_amount": 1,
            "recurring": {"interval": "month", "usage_type": "metered"}})
    assert info.value.error.param == "recurring[meter]"


def test_meters(stripe_client, stripe_catalog):
    m = stripe_client.v1.billing.meters
    meter = m.retrieve(stripe_catalog.meter.id)
    assert isinstance(meter, stripe.billing.Meter)
    assert meter.customer_mapping.event_payload_key == "stripe_customer_id"
    assert meter.customer_mapping.type == "by_id"
    assert meter.value_settings.event_payload_key == "value"
    assert meter.default_aggregation.formula == "sum" and meter.status == "active"
    assert [x.id for x in m.list().data] == [meter.id]
    with pytest.raises(stripe.InvalidRequestError):
        m.create(params={"display_name": "dup", "event_name": "compute_seconds",
                         "default_aggregation": {"formula": "sum"}})


def _event(customer: str, identifier: str, value: str = "10", **extra):
    return {"event_name": "compute_seconds", "identifier": identifier,
            "payload": {"stripe_customer_id": customer, "value": value}, **extra}


def test_meter_events_and_summaries(stripe_client, stripe_catalog):
    c = stripe_client.v1.billing
    cus = stripe_catalog.customer.id
    t0 = int(time.time()) - 7200
    created = c.meter_events.create(params=_event(cus, "a", "10", timestamp=t0))
    assert isinstance(created, stripe.billing.MeterEvent)
    assert created.identifier == "a" and created.payload["value"] == "10"
    c.meter_events.create(params=_event(cus, "b", "5", timestamp=t0 + 3600))
    summaries = c.meters.event_summaries.list(stripe_catalog.meter.id, params={
        "customer": cus, "start_time": t0, "end_time": t0 + 7200})
    assert len(summaries.data) == 1
    summary = summaries.data[0]
    assert isinstance(summary, stripe.billing.MeterEventSummary)
    assert summary.aggregated_value == 15
    hourly = c.meters.event_summaries.list(stripe_catalog.meter.id, params={
        "customer": cus, "start_time": t0, "end_time": t0 + 7200,
        "value_grouping_window": "hour"})
    assert sorted(s.aggregated_value for s in hourly.data) == [5, 10]


def test_duplicate_meter_event_identifier_is_rejected(stripe_client, stripe_catalog):
    events = stripe_client.v1.billing.meter_events
    events.create(params=_event(stripe_catalog.customer.id, "same-id"))
    with pytest.raises(stripe.InvalidRequestError) as info:
        events.create(params=_event(stripe_catalog.customer.id, "same-id"))
    assert info.value.http_status == 400
    assert info.value.user_message == "An event already exists with identifier same-id."


@pytest.mark.parametrize(("offset", "code"), [(-36 * 86400, "timestamp_too_far_in_past"),
                                              (6 * 60, "timestamp_in_future")])
def test_meter_event_timestamp_window(stripe_client, stripe_catalog, offset, code):
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.billing.meter_events.create(params=_event(
            stripe_catalog.customer.id, f"t{offset}", timestamp=int(time.time()) + offset))
    assert info.value.code == code and info.value.error.param == "timestamp"


def test_meter_event_edges_of_the_window_are_accepted(stripe_client, stripe_catalog):
    now = int(time.time())
    events = stripe_client.v1.billing.meter_events
    events.create(params=_event(stripe_catalog.customer.id, "old", timestamp=now - 34 * 86400))
    events.create(params=_event(stripe_catalog.customer.id, "soon", timestamp=now + 4 * 60))


@pytest.mark.parametrize(("params", "param"), [
    ({"event_name": "nope"}, "event_name"),
    ({"payload": {"stripe_customer_id": "cus_unknown", "value": "1"}},
     "payload[stripe_customer_id]"),
    ({"payload": {"stripe_customer_id": "CUS", "value": "1.5"}}, "payload[value]"),
])
def test_meter_event_validation(stripe_client, stripe_catalog, params, param):
    body = _event(stripe_catalog.customer.id, "v")
    body.update(params)
    if "payload" in params and params["payload"]["stripe_customer_id"] == "CUS":
        body["payload"]["stripe_customer_id"] = stripe_catalog.customer.id
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.billing.meter_events.create(params=body)
    assert info.value.error.param == param


def test_idempotency_replays_and_rejects_other_params(stripe_emu, stripe_client):
    c = stripe_client.v1.customers
    first = c.create(params={"email": "x@example.com"}, options={"idempotency_key": "k1"})
    again = c.create(params={"email": "x@example.com"}, options={"idempotency_key": "k1"})
    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert len(c.list().data) == 1
    with pytest.raises(stripe.IdempotencyError):
        c.create(params={"email": "y@example.com"}, options={"idempotency_key": "k1"})


def test_idempotent_meter_event_retry_is_not_a_duplicate(stripe_client, stripe_catalog):
    events = stripe_client.v1.billing.meter_events
    body = _event(stripe_catalog.customer.id, "retry-me")
    first = events.create(params=body, options={"idempotency_key": "mk"})
    second = events.create(params=body, options={"idempotency_key": "mk"})
    assert first.identifier == second.identifier == "retry-me"


def test_async_client_variants(stripe_client, stripe_catalog):
    async def run():
        c = stripe_client.v1
        customer = await c.customers.create_async(params={"email": "async@example.com"})
        fetched = await c.customers.retrieve_async(customer.id)
        prices = await c.prices.list_async(params={"lookup_keys": ["starter_monthly"]})
        await c.billing.meter_events.create_async(params=_event(customer.id, "async-1", "3"))
        return customer, fetched, prices

    customer, fetched, prices = asyncio.run(run())
    assert isinstance(fetched, stripe.Customer) and fetched.id == customer.id
    assert prices.data[0].id == stripe_catalog.starter_price.id


def test_events_list_and_retrieve(stripe_client, stripe_catalog):
    events = stripe_client.v1.events.list(params={"type": "customer.created"})
    assert [e.data.object.id for e in events.data] == [stripe_catalog.customer.id]
    event = stripe_client.v1.events.retrieve(events.data[0].id)
    assert isinstance(event, stripe.Event)
    assert event.api_version == stripe.api_version == "2026-10-28.endive"
    assert event.data.object.email == "dev@example.com"
    assert isinstance(event.data.object, stripe.Customer)
