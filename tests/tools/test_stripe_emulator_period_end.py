"""A period's end as Stripe runs it: test clocks, renewal drafts, finalization timing, meter
events until finalization, 24-hour identifiers, injected faults."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
import stripe

HOUR = 3600
# The clock starts here; the subscription's first period ends a month later.
START = int(datetime(2026, 10, 31, 0, 0, tzinfo=UTC).timestamp())


def _wait_ready(client: stripe.StripeClient, clock_id: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        clock = client.v1.test_helpers.test_clocks.retrieve(clock_id)
        if clock.status != "advancing":
            return clock
        assert time.monotonic() < deadline, "clock still advancing"
        time.sleep(0.02)


def _advance(client, clock_id, to):
    client.v1.test_helpers.test_clocks.advance(clock_id, params={"frozen_time": to})
    clock = _wait_ready(client, clock_id)
    assert clock.status == "ready" and clock.frozen_time == to
    return clock


def _subscribed_clock_customer(emu, client, catalog):
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": START,
                                                              "name": "month end"})
    customer = client.v1.customers.create(params={"email": "c@example.com",
                                                  "test_clock": clock.id})
    r = httpx.post(f"{emu.url}/_emulator/customers/{customer.id}/card",
                   json={"card": "4242424242424242"})
    assert r.status_code == 200, r.text
    sub = client.v1.subscriptions.create(params={
        "customer": customer.id,
        "items": [{"price": catalog.starter_price.id, "quantity": 1},
                  {"price": catalog.metered.id}]})
    return clock, customer, sub


def _usage(client, customer_id, identifier, value, ts):
    return client.v1.billing.meter_events.create(params={
        "event_name": "compute_seconds", "identifier": identifier, "timestamp": ts,
        "payload": {"stripe_customer_id": customer_id, "value": str(value)}})


def _renewal(client, sub_id):
    invoices = client.v1.invoices.list(params={"subscription": sub_id}).data
    return [i for i in invoices if i.billing_reason == "subscription_cycle"]


def _metered_amount(invoice) -> int:
    return sum(line.amount for line in invoice.lines.data
               if str(line.pricing.unit_amount_decimal) == "0.0125")


def test_clock_objects_follow_stripes_shape(stripe_client):
    clocks = stripe_client.v1.test_helpers.test_clocks
    clock = clocks.create(params={"frozen_time": START, "name": "shape"})
    assert isinstance(clock, stripe.test_helpers.TestClock)
    assert clock.id.startswith("clock_") and clock.status == "ready"
    assert clock.frozen_time == START and clock.deletes_after > clock.created
    assert clocks.retrieve(clock.id).name == "shape"
    assert [c.id for c in clocks.list().data] == [clock.id]
    with pytest.raises(stripe.InvalidRequestError, match="after the test clock"):
        clocks.advance(clock.id, params={"frozen_time": START - 1})
    customer = stripe_client.v1.customers.create(params={"test_clock": clock.id})
    assert customer.test_clock == clock.id and customer.created == START
    deleted = clocks.delete(clock.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.customers.retrieve(customer.id)


def test_renewal_is_a_draft_until_an_hour_after_the_answer(stripe_emu, stripe_client,
                                                           stripe_catalog, stripe_receiver):
    clock, customer, sub = _subscribed_clock_customer(stripe_emu, stripe_client, stripe_catalog)
    period_end = sub["items"].data[0].current_period_end
    assert sub.start_date == START
    _advance(stripe_client, clock.id, period_end - 120)
    _usage(stripe_client, customer.id, "in-period", 800, period_end - 60)
    _advance(stripe_client, clock.id, period_end + 60)

    [draft] = _renewal(stripe_client, sub.id)
    assert draft.status == "draft" and draft.number is None
    assert draft.period_end == period_end and draft.test_clock == clock.id
    assert draft.automatically_finalizes_at == period_end + HOUR
    created = stripe_receiver.wait_for("invoice.created", 2)
    assert draft.id in {e.data.object.id for e in created}
    # late usage for the closed period still counts while the invoice is a draft
    _usage(stripe_client, customer.id, "in-draft-window", 400, period_end - 1)
    assert _metered_amount(stripe_client.v1.invoices.retrieve(draft.id)) == 15  # 1200 × 1.25¢

    _advance(stripe_client, clock.id, period_end + HOUR - 1)
    assert stripe_client.v1.invoices.retrieve(draft.id).status == "draft"
    _advance(stripe_client, clock.id, period_end + HOUR + 1)
    final = stripe_client.v1.invoices.retrieve(draft.id)
    assert final.status == "paid" and final.number
    assert final.status_transitions.finalized_at == period_end + HOUR
    assert _metered_amount(final) == 15 and final.total == 2000 + 15
    # after finalization, usage for the closed period is on no invoice
    _usage(stripe_client, customer.id, "after-finalization", 400, period_end - 2)
    assert _metered_amount(stripe_client.v1.invoices.retrieve(draft.id)) == 15
    assert {e.data.object.id for e in stripe_receiver.wait_for("invoice.finalized", 2)} >= {
        draft.id}


def test_without_a_2xx_the_draft_waits_up_to_72_hours(stripe_emu, stripe_client,
                                                      stripe_catalog, stripe_receiver):
    clock, _customer, sub = _subscribed_clock_customer(stripe_emu, stripe_client,
                                                       stripe_catalog)
    period_end = sub["items"].data[0].current_period_end
    stripe_receiver.fail_next(1000, matching='"invoice.created"')
    _advance(stripe_client, clock.id, period_end + 1)
    [draft] = _renewal(stripe_client, sub.id)
    _advance(stripe_client, clock.id, period_end + 48 * HOUR)
    assert stripe_client.v1.invoices.retrieve(draft.id).status == "draft"
    _advance(stripe_client, clock.id, period_end + 72 * HOUR + 1)
    final = stripe_client.v1.invoices.retrieve(draft.id)
    assert final.status == "paid"
    assert final.status_transitions.finalized_at == period_end + 72 * HOUR


def test_a_late_answer_and_a_longer_grace_period_set_the_finalization(
        stripe_emu, stripe_client, stripe_catalog, stripe_receiver):
    r = httpx.post(f"{stripe_emu.url}/_emulator/settings",
                   json={"finalization_grace_seconds": 5 * HOUR})
    assert r.json() == {"finalization_grace_seconds": 5 * HOUR}
    assert httpx.post(f"{stripe_emu.url}/_emulator/settings",
                      json={"finalization_grace_seconds": 73 * HOUR}).status_code == 400
    clock, _customer, sub = _subscribed_clock_customer(stripe_emu, stripe_client,
                                                       stripe_catalog)
    period_end = sub["items"].data[0].current_period_end
    stripe_receiver.fail_next(1000, matching='"invoice.created"')
    _advance(stripe_client, clock.id, period_end + 1)
    [draft] = _renewal(stripe_client, sub.id)
    assert draft.automatically_finalizes_at == period_end + 5 * HOUR
    # the endpoint answers 2xx only at +6 h (a redelivery): finalization moves to +7 h
    _advance(stripe_client, clock.id, period_end + 6 * HOUR)
    answered = {e.data.object.id for e in stripe_receiver.events("invoice.created")}
    assert draft.id not in answered  # every answer about the draft was a 500
    stripe_receiver.clear()
    created = stripe_client.v1.events.list(params={"type": "invoice.created"}).data
    event_id = next(e.id for e in created if e.data.object.id == draft.id)
    assert httpx.post(f"{stripe_emu.url}/_emulator/events/{event_id}/resend").status_code == 200
    assert stripe_receiver.wait_for("invoice.created", 1)
    stripe_emu.wait_idle()
    assert stripe_client.v1.invoices.retrieve(draft.id).automatically_finalizes_at == (
        period_end + 7 * HOUR)
    _advance(stripe_client, clock.id, period_end + 7 * HOUR - 1)
    assert stripe_client.v1.invoices.retrieve(draft.id).status == "draft"
    _advance(stripe_client, clock.id, period_end + 7 * HOUR)
    assert stripe_client.v1.invoices.retrieve(draft.id).status == "paid"


def test_identifiers_and_idempotency_keys_expire_after_24_hours_of_emulated_time(
        stripe_emu, stripe_client, stripe_catalog):
    clock, customer, _sub = _subscribed_clock_customer(stripe_emu, stripe_client,
                                                       stripe_catalog)
    _usage(stripe_client, customer.id, "once", 5, START)
    with pytest.raises(stripe.InvalidRequestError, match="already exists with identifier"):
        _usage(stripe_client, customer.id, "once", 5, START)
    params = {"email": "k@example.com", "test_clock": clock.id}
    first = stripe_client.v1.customers.create(params=params, options={"idempotency_key": "k1"})
    again = stripe_client.v1.customers.create(params=params, options={"idempotency_key": "k1"})
    assert first.id == again.id
    _advance(stripe_client, clock.id, START + 24 * HOUR)
    _usage(stripe_client, customer.id, "once", 5, START + 24 * HOUR)  # accepted again
    later = stripe_client.v1.customers.create(params=params, options={"idempotency_key": "k1"})
    assert later.id != first.id


def test_injected_faults_and_the_call_counts(stripe_emu, stripe_client, stripe_catalog):
    url = stripe_emu.url
    customer = stripe_catalog.customer.id
    httpx.post(f"{url}/_emulator/requests/clear")
    r = httpx.post(f"{url}/_emulator/faults", json={"next_429": 1, "next_5xx": 1,
                                                    "next_lost_answer": 1})
    assert r.json()["faults"]["next_429"] == 1
    with pytest.raises(stripe.RateLimitError):
        _usage(stripe_client, customer, "f1", 1, None)
    with pytest.raises(stripe.APIError):
        _usage(stripe_client, customer, "f1", 1, None)
    assert httpx.get(f"{url}/_emulator/meter_events").json()["data"] == []
    # the lost answer: Stripe counted the event, the client saw a 500
    with pytest.raises(stripe.APIError):
        stripe_client.v1.billing.meter_events.create(
            params={"event_name": "compute_seconds", "identifier": "f1",
                    "payload": {"stripe_customer_id": customer, "value": "1"}},
            options={"idempotency_key": "ik-f1"})
    replay = stripe_client.v1.billing.meter_events.create(
        params={"event_name": "compute_seconds", "identifier": "f1",
                "payload": {"stripe_customer_id": customer, "value": "1"}},
        options={"idempotency_key": "ik-f1"})
    assert replay.identifier == "f1"
    assert len(httpx.get(f"{url}/_emulator/meter_events").json()["data"]) == 1
    httpx.post(f"{url}/_emulator/faults", json={"outage": True})
    with pytest.raises(stripe.APIError) as exc:
        stripe_client.v1.customers.retrieve(customer)
    assert exc.value.http_status == 503
    httpx.post(f"{url}/_emulator/faults", json={"outage": False})
    report = httpx.get(f"{url}/_emulator/requests").json()
    assert report["calls"]["POST /v1/billing/meter_events"] == 4
    assert report["injected"] == {"429 POST /v1/billing/meter_events": 1,
                                  "5xx POST /v1/billing/meter_events": 1,
                                  "lose POST /v1/billing/meter_events": 1,
                                  "outage GET /v1/customers/{customer}": 1}


def test_a_draft_without_a_clock_can_be_finalized_through_the_api(
        stripe_emu, stripe_client, stripe_catalog):
    httpx.post(f"{stripe_emu.url}/_emulator/customers/{stripe_catalog.customer.id}/card",
               json={"card": "4242424242424242"})
    sub = stripe_client.v1.subscriptions.create(params={
        "customer": stripe_catalog.customer.id,
        "items": [{"price": stripe_catalog.starter_price.id, "quantity": 1},
                  {"price": stripe_catalog.metered.id}]})
    r = httpx.post(f"{stripe_emu.url}/_emulator/subscriptions/{sub.id}/close_period",
                   json={"draft": True})
    invoice = r.json()["invoice"]
    assert invoice["status"] == "draft" and "_grace" not in invoice
    final = stripe_client.v1.invoices.finalize_invoice(invoice["id"])
    assert final.status == "paid" and final.number
    with pytest.raises(stripe.InvalidRequestError, match="already finalized"):
        stripe_client.v1.invoices.finalize_invoice(invoice["id"])
