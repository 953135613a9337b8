"""Subscriptions, invoices, period close, payment failure, webhooks and persistence."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import httpx
import pytest
import stripe

from tools.stripe_emulator.testing import free_port, run_in_thread

REPO_ROOT = Path(__file__).resolve().parents[2]


def _card(emu, customer_id, number="4242424242424242"):
    response = httpx.post(f"{emu.url}/_emulator/customers/{customer_id}/card",
                          json={"card": number})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def _subscribe(client, catalog, **extra):
    return client.v1.subscriptions.create(params={
        "customer": catalog.customer.id,
        "items": [{"price": catalog.starter_price.id, "quantity": 1},
                  {"price": catalog.metered.id}],
        "metadata": {"team_id": "t1"}, **extra})


def _usage(client, catalog, identifier, value, ts=None):
    params = {"event_name": "compute_seconds", "identifier": identifier,
              "payload": {"stripe_customer_id": catalog.customer.id, "value": str(value)}}
    if ts is not None:
        params["timestamp"] = ts
    client.v1.billing.meter_events.create(params=params)


def test_subscription_create_retrieve_list(stripe_emu, stripe_client, stripe_catalog,
                                           stripe_receiver):
    _card(stripe_emu, stripe_catalog.customer.id)
    sub = _subscribe(stripe_client, stripe_catalog)
    assert isinstance(sub, stripe.Subscription)
    assert sub.status == "active" and sub.metadata["team_id"] == "t1"
    items = sub["items"].data
    assert len(items) == 2
    flat = next(i for i in items if i.price.id == stripe_catalog.starter_price.id)
    assert isinstance(flat, stripe.SubscriptionItem)
    assert flat.current_period_end > flat.current_period_start >= sub.created
    assert flat.quantity == 1 and flat.subscription == sub.id
    metered = next(i for i in items if i.price.id == stripe_catalog.metered.id)
    assert "quantity" not in metered.to_dict()
    fetched = stripe_client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice",
                                                                                 "customer"]})
    assert isinstance(fetched.latest_invoice, stripe.Invoice)
    assert fetched.latest_invoice.status == "paid" and fetched.latest_invoice.amount_paid == 2000
    assert fetched.customer.id == stripe_catalog.customer.id
    listed = stripe_client.v1.subscriptions.list(params={"customer": stripe_catalog.customer.id,
                                                         "status": "active"})
    assert [s.id for s in listed.data] == [sub.id]
    created = stripe_receiver.wait_for("customer.subscription.created")
    assert created and created[0].data.object.id == sub.id


def test_subscription_without_card_is_incomplete(stripe_client, stripe_catalog):
    sub = _subscribe(stripe_client, stripe_catalog)
    assert sub.status == "incomplete"
    invoice = stripe_client.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.status == "open" and invoice.amount_remaining == 2000


def test_update_swaps_price_with_previous_attributes(stripe_emu, stripe_client, stripe_catalog,
                                                     stripe_receiver):
    _card(stripe_emu, stripe_catalog.customer.id)
    sub = _subscribe(stripe_client, stripe_catalog)
    flat = next(i for i in sub["items"].data if i.price.id == stripe_catalog.starter_price.id)
    updated = stripe_client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": flat.id, "price": stripe_catalog.pro_price.id}],
        "proration_behavior": "none", "metadata": {"plan": "pro"}})
    prices = {i.price.id for i in updated["items"].data}
    assert prices == {stripe_catalog.pro_price.id, stripe_catalog.metered.id}
    assert updated.metadata.to_dict() == {"team_id": "t1", "plan": "pro"}
    events = stripe_receiver.wait_for("customer.subscription.updated")
    assert events, "no customer.subscription.updated delivered"
    previous = events[-1].data.previous_attributes
    assert previous["metadata"].to_dict() == {"team_id": "t1"}
    old_prices = {i["price"]["id"] for i in previous["items"]["data"]}
    assert stripe_catalog.starter_price.id in old_prices


def test_cancel_at_period_end_then_delete(stripe_emu, stripe_client, stripe_catalog,
                                          stripe_receiver):
    _card(stripe_emu, stripe_catalog.customer.id)
    sub = _subscribe(stripe_client, stripe_catalog)
    pending = stripe_client.v1.subscriptions.update(sub.id,
                                                    params={"cancel_at_period_end": True})
    assert pending.cancel_at_period_end is True and pending.status == "active"
    assert pending.cancel_at == pending["items"].data[0].current_period_end
    canceled = stripe_client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled" and canceled.ended_at is not None
    assert stripe_client.v1.subscriptions.list(params={
        "customer": stripe_catalog.customer.id}).data == []
    deleted = stripe_receiver.wait_for("customer.subscription.deleted")
    assert deleted and deleted[0].data.object.status == "canceled"


def _expected_cents(units: int, unit_decimal: str) -> int:
    return int((Decimal(units) * Decimal(unit_decimal)).quantize(Decimal(1), ROUND_HALF_UP))


def test_close_period_bills_flat_plus_rounded_usage(stripe_emu, stripe_client, stripe_catalog,
                                                    stripe_receiver):
    _card(stripe_emu, stripe_catalog.customer.id)
    sub = _subscribe(stripe_client, stripe_catalog)
    start = sub["items"].data[0].current_period_start
    for i, value in enumerate([3700, 4000, 2420]):
        _usage(stripe_client, stripe_catalog, f"u{i}", value)
    _usage(stripe_client, stripe_catalog, "before-period", 999, ts=start - 60)
    preview = stripe_client.v1.invoices.create_preview(params={"subscription": sub.id})
    assert isinstance(preview, stripe.Invoice)
    # 10120 units x 0.0125 cents = 126.5 cents: half-up gives 127 (half-even would give 126)
    usage_cents = _expected_cents(10120, "0.0125")
    assert usage_cents == 127
    assert preview.total == 2000 + usage_cents
    assert preview.parent.subscription_details.subscription == sub.id
    line = next(x for x in preview.lines.data
                if x.pricing.price_details.price == stripe_catalog.metered.id)
    assert line.quantity == 10120 and line.amount == usage_cents
    closed = httpx.post(f"{stripe_emu.url}/_emulator/subscriptions/{sub.id}/close_period")
    assert closed.status_code == 200, closed.text
    invoice = stripe_client.v1.invoices.retrieve(closed.json()["invoice"]["id"])
    assert invoice.total == invoice.amount_paid == 2000 + usage_cents
    assert invoice.status == "paid" and invoice.billing_reason == "subscription_cycle"
    assert invoice.period_start == start
    assert invoice.number.endswith("-0002")
    after = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert after["items"].data[0].current_period_start == invoice.period_end
    listed = stripe_client.v1.invoices.list(params={"subscription": sub.id, "status": "paid"})
    assert {i.id for i in listed.data} == {invoice.id, sub.latest_invoice}
    assert any(e.data.object.id == invoice.id for e in stripe_receiver.wait_for("invoice.paid", 2))
    page = httpx.get(invoice.hosted_invoice_url)
    assert page.status_code == 200 and invoice.number in page.text and "$21.27" in page.text


def test_close_period_at_only_counts_usage_inside_the_period(stripe_emu, stripe_client,
                                                             stripe_catalog):
    _card(stripe_emu, stripe_catalog.customer.id)
    sub = _subscribe(stripe_client, stripe_catalog)
    now = int(time.time())
    _usage(stripe_client, stripe_catalog, "in", 800, ts=now)
    _usage(stripe_client, stripe_catalog, "late", 800, ts=now + 120)
    closed = httpx.post(f"{stripe_emu.url}/_emulator/subscriptions/{sub.id}/close_period",
                        json={"at": now + 60})
    invoice = closed.json()["invoice"]
    assert invoice["period_end"] == now + 60
    assert invoice["total"] == 2000 + 10  # 800 x 0.0125 = 10 cents; the late event is excluded


def test_failed_renewal_goes_past_due_then_recovers(stripe_emu, stripe_client, stripe_catalog,
                                                    stripe_receiver):
    _card(stripe_emu, stripe_catalog.customer.id)
    sub = _subscribe(stripe_client, stripe_catalog)
    _card(stripe_emu, stripe_catalog.customer.id, "4000000000000002")
    closed = httpx.post(f"{stripe_emu.url}/_emulator/subscriptions/{sub.id}/close_period")
    invoice_id = closed.json()["invoice"]["id"]
    assert closed.json()["invoice"]["status"] == "open"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    failed = stripe_receiver.wait_for("invoice.payment_failed")
    assert failed and failed[0].data.object.id == invoice_id
    with pytest.raises(stripe.CardError):
        stripe_client.v1.invoices.pay(invoice_id)
    _card(stripe_emu, stripe_catalog.customer.id)
    paid = httpx.post(f"{stripe_emu.url}/_emulator/invoices/{invoice_id}/pay")
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    updates = stripe_receiver.wait_for("customer.subscription.updated", 2)
    assert updates[-1].data.object.status == "active"
    assert updates[-1].data.previous_attributes["status"] == "past_due"


def test_cancel_at_period_end_ends_on_close(stripe_emu, stripe_client, stripe_catalog):
    _card(stripe_emu, stripe_catalog.customer.id)
    sub = _subscribe(stripe_client, stripe_catalog)
    stripe_client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    _usage(stripe_client, stripe_catalog, "final", 400)
    closed = httpx.post(f"{stripe_emu.url}/_emulator/subscriptions/{sub.id}/close_period").json()
    assert closed["invoice"]["total"] == 5  # only the final usage, no next-period fee
    assert closed["subscription"]["status"] == "canceled"


def test_prorated_switch_lands_on_next_invoice(stripe_emu, stripe_client, stripe_catalog):
    _card(stripe_emu, stripe_catalog.customer.id)
    sub = _subscribe(stripe_client, stripe_catalog)
    flat = next(i for i in sub["items"].data if i.price.id == stripe_catalog.starter_price.id)
    stripe_client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": flat.id, "price": stripe_catalog.pro_price.id}]})
    preview = stripe_client.v1.invoices.create_preview(params={"customer": sub.customer})
    prorations = [x for x in preview.lines.data
                  if x.parent.subscription_item_details.proration]
    assert sorted(x.amount for x in prorations)[0] < 0 < sorted(x.amount for x in prorations)[1]
    # almost the whole period is left: about -$20 + $50, plus Pro for the next period
    assert 7990 <= preview.total <= 8000


def test_webhooks_are_signed_and_retried(stripe_emu, stripe_client, stripe_receiver):
    stripe_receiver.fail_next(2, matching="hook@example.com")
    customer = stripe_client.v1.customers.create(params={"email": "hook@example.com"})
    events = stripe_receiver.wait_for("customer.created")
    assert [e.data.object.id for e in events] == [customer.id]
    assert events[0].api_version == "2026-10-28.endive"
    answered = [r["answered"] for r in stripe_receiver.requests
                if json.loads(r["body"])["data"]["object"]["id"] == customer.id]
    assert answered == [500, 500, 200]
    deliveries = httpx.get(f"{stripe_emu.url}/_emulator/webhook_deliveries").json()["data"]
    mine = next(d for d in deliveries if d["event_id"] == events[0].id)
    assert mine["attempts"] == 3 and mine["status"] == "delivered"
    assert stripe_client.v1.events.retrieve(events[0].id).pending_webhooks == 0
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(stripe_receiver.requests[-1]["body"],
                                       stripe_receiver.requests[-1]["signature"], "whsec_wrong")


def test_webhook_gives_up_after_max_attempts(stripe_emu, stripe_client, stripe_receiver):
    stripe_receiver.fail_next(10, matching="never@example.com")
    stripe_client.v1.customers.create(params={"email": "never@example.com"})
    failed = stripe_emu.wait_for_deliveries(1, status="failed")
    assert failed and failed[0]["attempts"] == 4 and failed[0]["status_code"] == 500


def test_state_file_survives_restart(tmp_path):
    state = tmp_path / "state.json"
    with run_in_thread(state_file=str(state)) as emu:
        customer = emu.client().v1.customers.create(params={"email": "keep@example.com"})
    assert state.exists()
    with run_in_thread(state_file=str(state)) as emu:
        assert emu.client().v1.customers.retrieve(customer.id).email == "keep@example.com"


def test_cli_serves_health_and_api():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.stripe_emulator", "--port", str(port)],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/_emulator/health")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "emulator did not start"
                time.sleep(0.1)
        assert response.json() == {"status": "ok"}
        session = httpx.post(f"http://127.0.0.1:{port}/v1/billing_portal/sessions",
                             auth=("sk_test_cli", ""), data={"customer": "cus_nope"})
        assert session.status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_expand_on_lists_and_nested_fields(stripe_emu, stripe_client, stripe_catalog):
    pm_id = _card(stripe_emu, stripe_catalog.customer.id)
    sub = _subscribe(stripe_client, stripe_catalog)
    listed = stripe_client.v1.subscriptions.list(params={
        "customer": stripe_catalog.customer.id, "expand": ["data.latest_invoice"]})
    assert isinstance(listed.data[0].latest_invoice, stripe.Invoice)
    invoice = stripe_client.v1.invoices.retrieve(sub.latest_invoice, params={
        "expand": ["parent.subscription_details.subscription"]})
    assert invoice.parent.subscription_details.subscription.id == sub.id
    customer = stripe_client.v1.customers.retrieve(stripe_catalog.customer.id, params={
        "expand": ["invoice_settings.default_payment_method"]})
    assert customer.invoice_settings.default_payment_method.id == pm_id
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.invoices.retrieve(sub.latest_invoice, params={"expand": ["nope"]})
    assert info.value.error.param == "expand"
