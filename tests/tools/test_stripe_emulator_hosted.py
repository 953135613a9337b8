"""Hosted Checkout and Customer Portal pages, driven with plain HTTP form posts."""

from __future__ import annotations

import re
import time

import httpx
import pytest
import stripe


def _sub_for(client, customer_id):
    subs = client.v1.subscriptions.list(params={"customer": customer_id, "status": "all"}).data
    assert subs, "no subscription"
    return subs[0]


def test_checkout_page_is_accessible_and_labelled(stripe_client, stripe_catalog):
    session = stripe_client.v1.checkout.sessions.create(params={
        "mode": "subscription", "customer": stripe_catalog.customer.id,
        "line_items": [{"price": stripe_catalog.starter_price.id, "quantity": 1},
                       {"price": stripe_catalog.metered.id}],
        "success_url": "http://app.test/ok", "cancel_url": "http://app.test/back"})
    assert isinstance(session, stripe.checkout.Session)
    assert session.url.endswith(f"/checkout/{session.id}") and session.status == "open"
    assert session.amount_total == 2000
    html = httpx.get(session.url).text
    assert re.search(r"<h1>Subscribe: Starter: \$20\.00 / month</h1>", html)
    assert '<label for="card-number">' in html and 'id="card-number"' in html
    assert '<button id="pay"' in html
    assert '<a id="cancel" href="http://app.test/back"' in html


def test_checkout_success(stripe_client, stripe_catalog, stripe_checkout, stripe_receiver):
    session, response = stripe_checkout()
    assert response.status_code == 303
    assert response.headers["location"] == f"http://app.test/billing/done?session={session.id}"
    done = stripe_client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["subscription", "line_items"]})
    assert done.status == "complete" and done.payment_status == "paid"
    assert done.client_reference_id == "team_1" and done.metadata["team_id"] == "team_1"
    assert isinstance(done.subscription, stripe.Subscription)
    sub = done.subscription
    assert sub.status == "active" and sub.metadata["team_id"] == "team_1"
    assert all(i.current_period_end > i.current_period_start for i in sub["items"].data)
    assert [li.price.id for li in done.line_items.data] == [stripe_catalog.starter_price.id,
                                                            stripe_catalog.metered.id]
    invoice = stripe_client.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.status == "paid" and invoice.total == 2000
    completed = stripe_receiver.wait_for("checkout.session.completed")
    assert completed and completed[0].data.object.subscription == sub.id
    assert stripe_receiver.wait_for("customer.subscription.created")
    assert stripe_receiver.wait_for("invoice.paid")
    listed = stripe_client.v1.checkout.sessions.list(params={"subscription": sub.id})
    assert [s.id for s in listed.data] == [session.id]


def test_checkout_decline_rerenders_and_creates_nothing(stripe_client, stripe_catalog,
                                                        stripe_checkout):
    session, response = stripe_checkout(card="4000000000000002")
    assert response.status_code == 200
    assert 'role="alert"' in response.text and "Your card was declined." in response.text
    assert 'id="card-number"' in response.text
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert stripe_client.v1.subscriptions.list(params={"status": "all"}).data == []


def test_checkout_billing_cycle_anchor_prorates_first_invoice(stripe_client, stripe_catalog,
                                                              stripe_checkout):
    anchor = int(time.time()) + 10 * 86400
    _session, response = stripe_checkout(subscription_data={"billing_cycle_anchor": anchor,
                                                            "metadata": {"team_id": "t"}})
    assert response.status_code == 303
    sub = _sub_for(stripe_client, stripe_catalog.customer.id)
    assert sub["items"].data[0].current_period_end == anchor
    invoice = stripe_client.v1.invoices.retrieve(sub.latest_invoice)
    assert 0 < invoice.total < 2000


def test_checkout_expire(stripe_client, stripe_catalog):
    session = stripe_client.v1.checkout.sessions.create(params={
        "mode": "subscription", "customer": stripe_catalog.customer.id,
        "line_items": [{"price": stripe_catalog.starter_price.id, "quantity": 1}],
        "success_url": "http://app.test/ok"})
    expired = stripe_client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired" and expired.url is None
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.checkout.sessions.expire(session.id)


def _portal(client, emu, customer_id):
    session = client.v1.billing_portal.sessions.create(params={
        "customer": customer_id, "return_url": "http://app.test/settings"})
    assert isinstance(session, stripe.billing_portal.Session)
    assert session.url == f"{emu.url}/portal/{session.id}"
    return session


def test_portal_shows_subscription_and_switches_plan(stripe_emu, stripe_client, stripe_catalog,
                                                     stripe_checkout, stripe_receiver):
    stripe_checkout()
    portal = _portal(stripe_client, stripe_emu, stripe_catalog.customer.id)
    html = httpx.get(portal.url).text
    assert 'id="current-plan">Starter' in html and 'id="subscription-status">active' in html
    assert '<a id="return" href="http://app.test/settings"' in html
    assert f'<option value="{stripe_catalog.pro_price.id}">' in html
    assert stripe_catalog.metered.id not in html.split('id="plan"')[1].split("</select>")[0]
    switched = httpx.post(f"{portal.url}/switch", data={"price": stripe_catalog.pro_price.id},
                          follow_redirects=True)
    assert "Your plan was changed." in switched.text and 'id="current-plan">Pro' in switched.text
    sub = _sub_for(stripe_client, stripe_catalog.customer.id)
    assert {i.price.id for i in sub["items"].data} == {stripe_catalog.pro_price.id,
                                                       stripe_catalog.metered.id}
    updates = stripe_receiver.wait_for("customer.subscription.updated")
    assert updates and "items" in updates[-1].data.previous_attributes
    preview = stripe_client.v1.invoices.create_preview(params={"subscription": sub.id})
    assert any(x.parent.subscription_item_details.proration for x in preview.lines.data)


def test_portal_cancel_at_period_end_and_renew(stripe_emu, stripe_client, stripe_catalog,
                                               stripe_checkout):
    stripe_checkout()
    portal = _portal(stripe_client, stripe_emu, stripe_catalog.customer.id)
    page = httpx.post(f"{portal.url}/cancel", follow_redirects=True).text
    assert 'id="renew-subscription"' in page and "Cancels " in page
    sub = _sub_for(stripe_client, stripe_catalog.customer.id)
    assert sub.cancel_at_period_end is True and sub.status == "active"
    httpx.post(f"{portal.url}/renew")
    assert _sub_for(stripe_client, stripe_catalog.customer.id).cancel_at_period_end is False


def test_portal_cancel_now(stripe_emu, stripe_client, stripe_catalog, stripe_checkout,
                           stripe_receiver):
    stripe_checkout()
    portal = _portal(stripe_client, stripe_emu, stripe_catalog.customer.id)
    page = httpx.post(f"{portal.url}/cancel-now", follow_redirects=True).text
    assert 'id="subscription-status">canceled' in page
    assert _sub_for(stripe_client, stripe_catalog.customer.id).status == "canceled"
    deleted = stripe_receiver.wait_for("customer.subscription.deleted")
    assert deleted and deleted[0].data.object.status == "canceled"


def test_portal_failing_card_makes_renewal_fail(stripe_emu, stripe_client, stripe_catalog,
                                                stripe_checkout):
    stripe_checkout()
    portal = _portal(stripe_client, stripe_emu, stripe_catalog.customer.id)
    page = httpx.post(f"{portal.url}/card", data={"card_number": "4000 0000 0000 0002"},
                      follow_redirects=True).text
    assert 'id="card-on-file">Visa ending in 0002' in page
    sub = _sub_for(stripe_client, stripe_catalog.customer.id)
    closed = httpx.post(f"{stripe_emu.url}/_emulator/subscriptions/{sub.id}/close_period").json()
    assert closed["invoice"]["status"] == "open"
    assert _sub_for(stripe_client, stripe_catalog.customer.id).status == "past_due"
    httpx.post(f"{portal.url}/card", data={"card_number": "4242424242424242"})
    assert _sub_for(stripe_client, stripe_catalog.customer.id).status == "active"
    assert stripe_client.v1.invoices.retrieve(closed["invoice"]["id"]).status == "paid"


def test_portal_rejects_invalid_card_number(stripe_emu, stripe_client, stripe_catalog,
                                            stripe_checkout):
    stripe_checkout()
    portal = _portal(stripe_client, stripe_emu, stripe_catalog.customer.id)
    response = httpx.post(f"{portal.url}/card", data={"card_number": "1234"})
    assert response.status_code == 200 and "Your card number is invalid." in response.text
