"""The webhook endpoint: signatures, duplicates, order, unknown types, failures and replay."""

from __future__ import annotations

import json
import time

import httpx
from sqlmodel import Session, select

from aether_web.models import StripeEvent
from aether_web.services import stripe_handlers
from tests.integration.stripe_support import Bed, bed, billing_bed, sign

FIXTURES = (bed, billing_bed)  # used by name by pytest


def _post(api, event: dict | str, signature: str | None = "sign"):
    body = event if isinstance(event, str) else json.dumps(event)
    headers = {"content-type": "application/json"}
    if signature == "sign":
        signature = sign(body)
    if signature is not None:
        headers["stripe-signature"] = signature
    return api.post("/api/billing/webhook", content=body.encode(), headers=headers)


def _events(bed: Bed, type_: str) -> list[dict]:
    """Events as Stripe sends them (raw JSON), newest first."""
    r = httpx.get(f"{bed.emu.url}/v1/events", params={"type": type_, "limit": 100},
                  headers={"authorization": "Bearer sk_test_emulator"})
    return r.json()["data"]


def _stored(engine, event_id: str) -> StripeEvent:
    with Session(engine) as s:
        return s.get(StripeEvent, event_id)


def _subscribed_user(bed: Bed, make_user, client_for, webhooks: bool = False):
    """A user who paid for Pro in Checkout; with webhooks off, nothing reached the app yet."""
    bed.webhooks_to_app(webhooks)
    user = make_user()
    bed.checkout(client_for(user), "pro")
    return user


def test_missing_wrong_and_stale_signatures_are_400(bed: Bed, api, engine) -> None:
    event = {"id": "evt_sig", "type": "invoice.paid", "created": int(time.time()),
             "data": {"object": {}}}
    body = json.dumps(event)
    r = _post(api, body, signature=None)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_signature"
    assert _post(api, body, signature=sign(body, "whsec_other")).status_code == 400
    assert _post(api, body, signature="t=1,v1=deadbeef").status_code == 400
    stale = sign(body, timestamp=int(time.time()) - 3600)
    assert _post(api, body, signature=stale).status_code == 400
    tampered = sign(body)
    assert _post(api, body.replace("evt_sig", "evt_sig2"), signature=tampered).status_code == 400
    assert _stored(engine, "evt_sig") is None  # nothing unverified is stored
    r = _post(api, "not json")
    assert r.status_code == 400 and r.json()["error"]["code"] in ("malformed_json",
                                                                  "invalid_signature")


def test_unknown_types_are_stored_and_answered_200(api, engine, bed: Bed) -> None:
    event = {"id": "evt_unknown_1", "type": "customer.tax_id.created",
             "created": int(time.time()), "data": {"object": {"id": "txi_1"}}}
    r = _post(api, event)
    assert r.status_code == 200 and r.json()["received"] is True
    row = _stored(engine, "evt_unknown_1")
    assert row.status == "ignored" and json.loads(row.payload)["type"] == event["type"]


def test_duplicates_are_processed_once(bed: Bed, make_user, client_for, api, engine) -> None:
    user = _subscribed_user(bed, make_user, client_for)
    completed = _events(bed, "checkout.session.completed")[0]
    first = _post(api, completed)
    second = _post(api, completed)
    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True
    row = _stored(engine, completed["id"])
    assert row.status == "processed" and row.attempts == 1
    assert bed.profile(user.id).plan == "pro"
    from aether_web.models import EmailOutbox

    with Session(engine) as s:  # one plan-change email, not two
        assert len(s.exec(select(EmailOutbox).where(EmailOutbox.user_id == user.id)).all()) == 1


def test_reordered_events_end_in_stripes_current_state(
        bed: Bed, make_user, client_for, api, engine) -> None:
    user = _subscribed_user(bed, make_user, client_for)
    profile_sub = _events(bed, "customer.subscription.created")[0]["data"]["object"]
    team = bed.plan_price_id("aether_team_monthly")
    item = next(i for i in profile_sub["items"]["data"]
                if i["price"]["lookup_key"] == "aether_pro_monthly")
    time.sleep(1.1)  # a later `created` second for the update
    bed.stripe.v1.subscriptions.update(profile_sub["id"], params={
        "items": [{"id": item["id"], "price": team}]})
    updated = _events(bed, "customer.subscription.updated")[0]
    created = _events(bed, "customer.subscription.created")[0]
    completed = _events(bed, "checkout.session.completed")[0]
    # newest first: the update, then the (older) creation and checkout
    for event in (updated, created, completed):
        assert _post(api, event).status_code == 200
    profile = bed.profile(user.id)
    assert profile.plan == "team" and profile.stripe_synced_at == updated["created"]
    assert _stored(engine, created["id"]).outcome.startswith("stale")


def test_deleted_then_late_update_stays_free(bed: Bed, make_user, client_for, api) -> None:
    user = _subscribed_user(bed, make_user, client_for, webhooks=True)
    bed.wait_for_plan(user.id, "pro")
    bed.settle()
    bed.webhooks_to_app(False)
    sub_id = bed.profile(user.id).stripe_subscription_id
    time.sleep(1.1)
    bed.stripe.v1.subscriptions.cancel(sub_id)
    deleted = _events(bed, "customer.subscription.deleted")[0]
    assert _post(api, deleted).status_code == 200
    assert bed.profile(user.id).plan == "free"
    # a redelivered older "updated/created" event must not bring Pro back
    old = _events(bed, "customer.subscription.created")[0]
    assert _post(api, old).status_code == 200
    assert bed.profile(user.id).plan == "free"


def test_crash_mid_processing_keeps_the_event_and_replay_fixes_it(
        bed: Bed, make_user, client_for, api, engine, monkeypatch, capsys) -> None:
    user = _subscribed_user(bed, make_user, client_for)
    completed = _events(bed, "checkout.session.completed")[0]
    real = stripe_handlers.HANDLERS["checkout.session.completed"]

    def crash_halfway(session, event, gw):
        real(session, event, gw)  # the plan is written...
        raise RuntimeError("worker died")  # ...and the transaction never commits

    monkeypatch.setitem(stripe_handlers.HANDLERS, "checkout.session.completed", crash_halfway)
    r = _post(api, completed)
    assert r.status_code == 500 and r.json()["error"]["code"] == "processing_failed"
    row = _stored(engine, completed["id"])
    assert row.status == "failed" and "worker died" in row.last_error
    assert "Traceback" in row.last_error
    assert bed.profile(user.id).plan == "free"  # rolled back as a whole

    monkeypatch.setitem(stripe_handlers.HANDLERS, "checkout.session.completed", real)
    from aether_web.cli import main

    assert main(["webhooks", "list", "--failed"]) == 0
    assert completed["id"] in capsys.readouterr().out
    assert main(["webhooks", "replay", completed["id"]]) == 0
    assert "processed" in capsys.readouterr().out
    assert bed.profile(user.id).plan == "pro"
    assert _stored(engine, completed["id"]).attempts == 2


def test_stripe_retries_a_failed_delivery_until_it_is_processed(
        bed: Bed, make_user, client_for, engine, monkeypatch) -> None:
    calls = {"n": 0}
    real = stripe_handlers.HANDLERS["checkout.session.completed"]

    def flaky(session, event, gw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database hiccup")
        return real(session, event, gw)

    monkeypatch.setitem(stripe_handlers.HANDLERS, "checkout.session.completed", flaky)
    user = _subscribed_user(bed, make_user, client_for, webhooks=True)
    bed.wait_for_plan(user.id, "pro")
    bed.settle()
    with Session(engine) as s:
        row = s.exec(select(StripeEvent).where(
            StripeEvent.type == "checkout.session.completed")).one()
    assert row.status == "processed" and row.attempts == 2 and calls["n"] == 2
