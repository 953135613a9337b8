"""A period's end, run through the API over HTTP and the Stripe emulator sending it signed
webhooks: each period's overage ends up on an invoice once, whatever happens (rules 8-12).

The emulator closes a period with its `/_emulator/` control (the invoice is final at once), so
"the period ends" here is that call, and the period's month is the current one.
"""

from __future__ import annotations

import re
import time

import httpx
from sqlmodel import Session, select

from aether_web import metrics
from aether_web.db import db_now
from aether_web.integrations.stripe import COMPUTE_METER, STORAGE_METER
from aether_web.models import InvoiceReconciliation, OverageAdjustment, OverageReport
from aether_web.services import overage, support
from aether_web.services.invoicing.adjustments import bill_pending_adjustments
from aether_web.services.invoicing.invoice_gate import recheck_invoices
from aether_web.services.period_bill import period_bill
from tests.integration.stripe_support import Bed, CancelUnavailable, bed, billing_bed, wait_until
from tests.integration.test_stripe_overage import _pro_user_with_usage

FIXTURES = (bed, billing_bed)  # used by name by pytest
METERED = {"aether_compute_overage": COMPUTE_METER, "aether_storage_overage": STORAGE_METER}


def _ours(engine, user_id, month) -> dict[str, int]:
    with Session(engine) as s:
        bill = period_bill(s, user_id=user_id, month=month, now=db_now(s))
    return {COMPUTE_METER: bill.compute_units, STORAGE_METER: bill.storage_units}


def _metered(invoice) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in invoice["lines"]["data"]:
        product = (line["pricing"].get("price_details") or {}).get("product")
        if product in METERED:
            out[METERED[product]] = out.get(METERED[product], 0) + line["amount"]
    return out


def _rows(engine, model, user_id):
    with Session(engine) as s:
        return list(s.exec(select(model).where(model.user_id == user_id)).all())


def _labelled_lines(bed: Bed, customer: str) -> list[dict]:
    lines = []
    for inv in bed.stripe.v1.invoices.list(params={"customer": customer, "limit": 100}).data:
        for line in inv.to_dict()["lines"]["data"]:
            if line["description"].startswith("Overage for "):
                lines.append({**line, "_invoice": inv.to_dict()})
    return lines


def _items(bed: Bed, customer: str) -> list[dict]:
    return [i.to_dict() for i in
            bed.stripe.v1.invoice_items.list(params={"customer": customer}).data]


def test_happy_path_overage_sent_before_the_period_closes_is_on_its_invoice(
        bed: Bed, make_user, client_for, engine) -> None:
    profile, month = _pro_user_with_usage(bed, make_user, client_for, engine)
    ours = _ours(engine, profile.id, month)
    assert ours[COMPUTE_METER] > 0 and ours[STORAGE_METER] > 0
    overage.report_overage(month=month, gateway=bed.gateway, allow_open_month=True)
    invoice = bed.close_period(profile.stripe_subscription_id)["invoice"]
    bed.settle()
    assert _metered(invoice) == ours  # the invoice's amounts equal ours to the cent
    rows = wait_until(lambda: len(_rows(engine, InvoiceReconciliation, profile.id)) == 2
                      and _rows(engine, InvoiceReconciliation, profile.id))
    assert {(r.meter, r.status, r.invoice_units) for r in rows} == {
        (m, "match", u) for m, u in ours.items()}
    assert {r.status for r in _rows(engine, OverageReport, profile.id)} == {"invoiced"}
    assert _rows(engine, OverageAdjustment, profile.id) == []
    # Checkout and the invoice name what a unit counts
    names = [line["description"] for line in invoice["lines"]["data"]]
    assert any("Compute overage, $0.10 per hour, counted in 6-minute units of 1 cent" in n
               for n in names), names


def test_report_after_finalization_is_billed_once_as_a_labelled_item_on_the_next_invoice(
        bed: Bed, make_user, client_for, engine) -> None:
    profile, month = _pro_user_with_usage(bed, make_user, client_for, engine)
    ours = _ours(engine, profile.id, month)
    # the period closes (its invoice final) before anything was sent
    first = bed.close_period(profile.stripe_subscription_id)["invoice"]
    bed.settle()
    assert _metered(first) == {COMPUTE_METER: 0, STORAGE_METER: 0}
    # a late report (the month-end job running after finalization) changes nothing
    overage.report_overage(month=month, gateway=bed.gateway, allow_open_month=True)
    adjustments = wait_until(lambda: len(_rows(engine, OverageAdjustment, profile.id)) == 2
                             and _rows(engine, OverageAdjustment, profile.id))
    assert {(a.meter, a.units, a.reason) for a in adjustments} == {
        (m, u, "late") for m, u in ours.items()}
    assert {r.status for r in _rows(engine, OverageReport, profile.id)} == {"late"}
    # the jobs run again and again: still one item per meter
    for _ in range(2):
        bill_pending_adjustments(gateway=bed.gateway, engine=engine)
        recheck_invoices(gateway=bed.gateway, engine=engine)
    items = _items(bed, profile.stripe_customer_id)
    assert sorted(i["amount"] for i in items) == sorted(ours.values())
    assert all(i["description"].startswith(f"Overage for {month:%B %Y}: ") for i in items)
    # ...and they are on the next invoice, which the displays then count as billed
    second = bed.close_period(profile.stripe_subscription_id)["invoice"]
    bed.settle()
    labelled = [line for line in second["lines"]["data"]
                if line["description"].startswith("Overage for ")]
    assert sorted(line["amount"] for line in labelled) == sorted(ours.values())
    wait_until(lambda: {a.status for a in _rows(engine, OverageAdjustment, profile.id)}
               == {"billed"}, what="items billed")
    assert {r.status for r in _rows(engine, OverageReport, profile.id)} == {"item_billed"}
    short = [r for r in _rows(engine, InvoiceReconciliation, profile.id)
             if r.stripe_invoice_id == first["id"]]
    assert {r.status for r in short} == {"short"} and all("labelled item" in r.action
                                                          for r in short)
    # alerted (a metric here; log and Sentry beside it) and shown to support with what was done
    assert sum(v for (name, labels), v in metrics.snapshot().items()
               if name == "aether_billing_alerts_total" and ("kind", "late") in labels) >= 2
    with Session(engine) as s:
        view = support.user_overview(s, user_id=profile.id)
    assert {(r["status"], r["invoice"]) for r in view["overage_items"]} == {
        ("billed", second["id"])}
    assert all("after that month's invoice was final" in r["why"]
               for r in view["overage_items"])
    assert {r["status"] for r in view["invoice_checks"] if r["invoice"] == first["id"]} == {
        "short"}


def test_cancel_at_period_end_bills_the_last_period_on_an_invoice_of_its_own(
        bed: Bed, make_user, client_for, engine) -> None:
    profile, month = _pro_user_with_usage(bed, make_user, client_for, engine)
    ours = _ours(engine, profile.id, month)
    client = client_for(profile)
    assert bed.portal(client, "cancel").status_code == 303
    bed.settle()
    bed.close_period(profile.stripe_subscription_id)
    bed.wait_for_plan(profile.id, "free")
    bed.settle()
    wait_until(lambda: {a.status for a in _rows(engine, OverageAdjustment, profile.id)}
               == {"billed"}, what="the last period billed")
    labelled = _labelled_lines(bed, profile.stripe_customer_id)
    assert sorted(line["amount"] for line in labelled) == sorted(ours.values())
    own = labelled[0]["_invoice"]
    assert own["parent"] is None and own["status"] == "paid"
    assert own["description"] == f"Overage for {month:%B %Y}"


def test_cancel_now_in_the_app_invoices_the_overage_so_far_at_once(
        bed: Bed, make_user, client_for, engine) -> None:
    profile, month = _pro_user_with_usage(bed, make_user, client_for, engine)
    held_all_month = _ours(engine, profile.id, month)
    client = client_for(profile)
    # a period begun this very second is empty: nothing could be billed in it
    started = bed.stripe.v1.subscriptions.retrieve(
        profile.stripe_subscription_id).items.data[0].current_period_start
    wait_until(lambda: time.time() >= started + 2, what="a second into the period")
    r = client.post("/api/billing/cancel")
    assert r.status_code == 200, r.text
    assert bed.profile(profile.id).plan == "free"
    bed.settle()
    # rule 3: the paid interval ended at the cancel, so its allowance is prorated to it (a
    # few seconds of Pro include almost nothing); the final invoice carries exactly that
    ours = _ours(engine, profile.id, month)
    assert ours[COMPUTE_METER] > held_all_month[COMPUTE_METER]
    sub = bed.stripe.v1.subscriptions.retrieve(profile.stripe_subscription_id)
    final = bed.stripe.v1.invoices.retrieve(sub.latest_invoice).to_dict()
    assert _metered(final) == ours
    credits = [line for line in final["lines"]["data"] if line["amount"] < 0]
    assert credits and credits[0]["description"].startswith("Unused time")
    rows = wait_until(lambda: len(_rows(engine, InvoiceReconciliation, profile.id)) == 2
                      and _rows(engine, InvoiceReconciliation, profile.id))
    assert {r.status for r in rows} == {"match"}
    assert _rows(engine, OverageAdjustment, profile.id) == []
    # a second click finds nothing left to cancel
    assert client.post("/api/billing/cancel").json()["error"]["code"] == "no_subscription"


def test_cancel_now_that_stripe_does_not_answer_takes_its_overage_back(
        bed: Bed, make_user, client_for, engine) -> None:
    import pytest

    from aether_web.db import transaction
    from aether_web.errors import ServiceUnavailable
    from aether_web.services.subscription_lifecycle import cancel_now

    profile, month = _pro_user_with_usage(bed, make_user, client_for, engine)
    started = bed.stripe.v1.subscriptions.retrieve(
        profile.stripe_subscription_id).items.data[0].current_period_start
    wait_until(lambda: time.time() >= started + 2, what="a second into the period")
    with pytest.raises(ServiceUnavailable), transaction(engine) as s:
        cancel_now(s, user_id=profile.id, gateway=CancelUnavailable(bed.gateway))
    # Stripe got the overage computed as if cancelled, then took it back: nothing of a cancel
    # that did not happen is counted, and nothing of it is left here
    sent = [e for e in bed.meter_events(profile.stripe_customer_id)]
    assert sent and {e.get("canceled") for e in sent} == {True}
    assert bed.profile(profile.id).plan == "pro" and _rows(engine, OverageReport, profile.id) == []
    # the month end then reports the month as it is; Stripe counts that, once
    overage.report_overage(month=month, gateway=bed.gateway, allow_open_month=True)
    invoice = bed.close_period(profile.stripe_subscription_id)["invoice"]
    bed.settle()
    ours = _ours(engine, profile.id, month)
    wait_until(lambda: len(_rows(engine, InvoiceReconciliation, profile.id)) == 2,
               what="reconciled")
    billed = _metered(invoice)
    labelled = {a.meter: a.units for a in _rows(engine, OverageAdjustment, profile.id)}
    assert {m: billed.get(m, 0) + labelled.get(m, 0) for m in ours} == ours


def test_cancel_now_in_the_portal_still_invoices_the_overage(
        bed: Bed, make_user, client_for, engine) -> None:
    profile, month = _pro_user_with_usage(bed, make_user, client_for, engine)
    held_all_month = _ours(engine, profile.id, month)
    assert bed.portal(client_for(profile), "cancel-now").status_code == 303
    bed.wait_for_plan(profile.id, "free")
    bed.settle()
    # the paid interval ends when Stripe ended the subscription (its allowance prorated)
    ours = _ours(engine, profile.id, month)
    assert ours[COMPUTE_METER] > held_all_month[COMPUTE_METER]
    adjustments = wait_until(lambda: len(_rows(engine, OverageAdjustment, profile.id)) == 2
                             and _rows(engine, OverageAdjustment, profile.id))
    assert {(a.units, a.reason) for a in adjustments} == {
        (u, "no_final_invoice") for u in ours.values()}
    wait_until(lambda: {a.status for a in _rows(engine, OverageAdjustment, profile.id)}
               == {"billed"}, what="own invoice")
    assert sorted(line["amount"] for line in _labelled_lines(
        bed, profile.stripe_customer_id)) == sorted(ours.values())


def test_two_checkouts_in_two_tabs_leave_one_subscription(
        bed: Bed, make_user, client_for, engine) -> None:
    user = make_user()
    client = client_for(user)
    first = client.post("/api/billing/checkout", json={"plan": "pro"}).json()["checkout_url"]
    second = client.post("/api/billing/checkout", json={"plan": "pro"}).json()["checkout_url"]
    cs_first = first.rstrip("/").rsplit("/", 1)[1]
    assert bed.stripe.v1.checkout.sessions.retrieve(cs_first).status == "expired"
    assert "This checkout session is expired." in httpx.get(first).text  # the other tab
    assert second != first
    # Checkout names what each overage unit counts, beside the pricing page's rates
    items = httpx.get(second).text
    assert ("Compute overage, $0.10 per hour, counted in 6-minute units of 1 cent: $0.01 per "
            "6-min unit") in items
    assert "Storage overage, $0.50 per GB-month, counted in units of 1 cent" in items
    # A race the expiry can't stop: a session created in Stripe before the expiry, then paid.
    bed.checkout(client, "pro")
    profile = bed.wait_for_plan(user.id, "pro")
    bed.settle()
    prices = bed.gateway.price_ids_by_lookup_key(["aether_pro_monthly", *METERED_KEYS])
    raced = bed.stripe.v1.checkout.sessions.create(params={
        "mode": "subscription", "customer": profile.stripe_customer_id,
        "client_reference_id": str(user.id), "success_url": "http://x/ok",
        "line_items": [{"price": prices["aether_pro_monthly"], "quantity": 1}],
        "subscription_data": {"metadata": {"aether_user_id": str(user.id)}}})
    page = httpx.get(raced.url)
    assert page.status_code == 200
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    httpx.post(f"{bed.emu.url}{action}", data={"card_number": "4242424242424242"})
    bed.settle()
    subs = bed.stripe.v1.subscriptions.list(params={"customer": profile.stripe_customer_id,
                                                    "status": "all"}).data
    live = [s for s in subs if s.status == "active"]
    assert [s.id for s in live] == [profile.stripe_subscription_id]
    duplicate = next(s for s in subs if s.id != profile.stripe_subscription_id)
    assert duplicate.status == "canceled"
    refunds = bed.stripe.v1.refunds.list().data
    paid = bed.stripe.v1.invoices.retrieve(duplicate.latest_invoice)
    assert [r.amount for r in refunds] == [paid.amount_paid] and paid.amount_paid > 0
    assert bed.profile(user.id).stripe_subscription_id == profile.stripe_subscription_id


METERED_KEYS = (COMPUTE_METER, STORAGE_METER)



def _close_with_draft(bed: Bed, sub_id: str) -> dict:
    r = httpx.post(f"{bed.emu.url}/_emulator/subscriptions/{sub_id}/close_period",
                   json={"draft": True})
    r.raise_for_status()
    return r.json()["invoice"]


def test_the_renewal_draft_gets_its_overage_before_the_webhook_answers(
        bed: Bed, make_user, client_for, engine) -> None:
    profile, month = _pro_user_with_usage(bed, make_user, client_for, engine)
    ours = _ours(engine, profile.id, month)
    draft = _close_with_draft(bed, profile.stripe_subscription_id)  # nothing sent before
    assert draft["status"] == "draft"
    bed.settle()
    created = [d for d in bed.deliveries() if d["type"] == "invoice.created"]
    assert created[-1]["status"] == "delivered" and created[-1]["attempts"] == 1
    # the 2xx came after our overage was accepted: the draft already shows it
    assert _metered(bed.stripe.v1.invoices.retrieve(draft["id"]).to_dict()) == ours
    final = bed.stripe.v1.invoices.finalize_invoice(draft["id"]).to_dict()
    bed.settle()
    assert _metered(final) == ours
    rows = wait_until(lambda: len(_rows(engine, InvoiceReconciliation, profile.id)) == 2
                      and _rows(engine, InvoiceReconciliation, profile.id))
    assert {r.status for r in rows} == {"match"}
    assert {r.status for r in _rows(engine, OverageReport, profile.id)} == {"invoiced"}
    assert _rows(engine, OverageAdjustment, profile.id) == []


def test_stripe_down_while_the_draft_waits_then_the_recheck_job_gets_it_in(
        bed: Bed, make_user, client_for, engine) -> None:
    profile, month = _pro_user_with_usage(bed, make_user, client_for, engine)
    ours = _ours(engine, profile.id, month)
    faults = f"{bed.emu.url}/_emulator/faults"
    httpx.post(faults, json={"outage": True, "paths": ["/v1/billing/meter_events"]},
               timeout=30).raise_for_status()
    try:
        draft = _close_with_draft(bed, profile.stripe_subscription_id)
        # the hook answers 5xx each time (Stripe keeps the draft), until test mode's few
        # retries run out
        wait_until(lambda: [d["status"] for d in bed.deliveries()  # the draft's is the last
                            if d["type"] == "invoice.created"][-1] == "failed",
                   timeout=120, what="every delivery of invoice.created answered 5xx")
    finally:
        httpx.post(faults, json={"reset": True}).raise_for_status()
    assert bed.stripe.v1.invoices.retrieve(draft["id"]).status == "draft"
    # nothing counts as accepted (the failed attempts rolled back whatever they planned)
    assert [r for r in _rows(engine, OverageReport, profile.id) if r.status != "pending"] == []
    summary = recheck_invoices(gateway=bed.gateway, engine=engine)
    assert summary.startswith("replayed 1/1 invoice events"), summary
    assert {r.status for r in _rows(engine, OverageReport, profile.id)} == {"accepted"}
    assert _metered(bed.stripe.v1.invoices.retrieve(draft["id"]).to_dict()) == ours
    bed.webhooks_to_app(False)  # no invoice.finalized hook either: the job reconciles
    bed.stripe.v1.invoices.finalize_invoice(draft["id"])
    recheck_invoices(gateway=bed.gateway, engine=engine)
    rows = _rows(engine, InvoiceReconciliation, profile.id)
    assert {(r.status, r.invoice_units) for r in rows} == {("match", u) for u in ours.values()}


def test_pro_to_team_is_switched_in_the_app_with_prorations(
        bed: Bed, make_user, client_for, engine) -> None:
    user = make_user()
    client = client_for(user)
    bed.checkout(client, "pro")
    profile = bed.wait_for_plan(user.id, "pro")
    bed.settle()
    assert client.post("/api/billing/switch", json={"plan": "pro"}).json()["error"][
        "code"] == "same_plan"
    r = client.post("/api/billing/switch", json={"plan": "team"})
    assert r.status_code == 200, r.text
    assert bed.profile(user.id).plan == "team"
    sub = bed.stripe.v1.subscriptions.retrieve(profile.stripe_subscription_id)
    assert sub.id == profile.stripe_subscription_id  # the same subscription, metered items kept
    keys = sorted(item.price.lookup_key for item in sub.items.data)
    assert keys == sorted(["aether_team_monthly", *METERED_KEYS])
    preview = bed.stripe.v1.invoices.create_preview(
        params={"subscription": sub.id}).to_dict()
    assert any(line["description"].startswith("Unused time on")
               for line in preview["lines"]["data"])


def test_a_report_stripe_refuses_is_billed_once_as_a_labelled_item(
        bed: Bed, make_user, client_for, engine, monkeypatch) -> None:
    from aether_web.integrations.stripe import StripeGateway, StripeGatewayError

    profile, month = _pro_user_with_usage(bed, make_user, client_for, engine)
    ours = _ours(engine, profile.id, month)
    real_send = StripeGateway.send_meter_event

    def refuse_compute(self, **kw):
        if kw["event_name"] == COMPUTE_METER:
            raise StripeGatewayError(stripe_code="invalid_request", http_status=400,
                                     stripe_message="This event was refused.")
        return real_send(self, **kw)

    monkeypatch.setattr(StripeGateway, "send_meter_event", refuse_compute)
    draft = _close_with_draft(bed, profile.stripe_subscription_id)
    bed.settle()
    # a refusal is an answer: the hook answered 2xx, storage is in, compute was refused
    assert [d["status"] for d in bed.deliveries() if d["type"] == "invoice.created"][-1] == \
        "delivered"
    assert {(r.meter, r.status) for r in _rows(engine, OverageReport, profile.id)} == {
        (COMPUTE_METER, "refused"), (STORAGE_METER, "accepted")}
    monkeypatch.setattr(StripeGateway, "send_meter_event", real_send)
    final = bed.stripe.v1.invoices.finalize_invoice(draft["id"]).to_dict()
    bed.settle()
    assert _metered(final) == {COMPUTE_METER: 0, STORAGE_METER: ours[STORAGE_METER]}
    [adjustment] = wait_until(lambda: _rows(engine, OverageAdjustment, profile.id))
    assert (adjustment.meter, adjustment.units, adjustment.reason) == (
        COMPUTE_METER, ours[COMPUTE_METER], "refused")
    bill_pending_adjustments(gateway=bed.gateway, engine=engine)
    nxt = bed.close_period(profile.stripe_subscription_id)["invoice"]
    bed.settle()
    labelled = [line["amount"] for line in nxt["lines"]["data"]
                if line["description"].startswith(f"Overage for {month:%B %Y}: compute")]
    assert labelled == [ours[COMPUTE_METER]]
    wait_until(lambda: _rows(engine, OverageAdjustment, profile.id)[0].status == "billed",
               what="the labelled item billed")


def test_the_final_draft_of_a_subscription_ending_at_period_end_gets_its_overage(
        bed: Bed, make_user, client_for, engine) -> None:
    profile, month = _pro_user_with_usage(bed, make_user, client_for, engine)
    ours = _ours(engine, profile.id, month)
    assert bed.portal(client_for(profile), "cancel").status_code == 303
    bed.settle()
    draft = _close_with_draft(bed, profile.stripe_subscription_id)
    bed.wait_for_plan(profile.id, "free")  # Free now: the period still owes its overage
    bed.settle()
    assert _metered(bed.stripe.v1.invoices.retrieve(draft["id"]).to_dict()) == ours
    bed.stripe.v1.invoices.finalize_invoice(draft["id"])
    bed.settle()
    rows = wait_until(lambda: len(_rows(engine, InvoiceReconciliation, profile.id)) == 2
                      and _rows(engine, InvoiceReconciliation, profile.id))
    assert {r.status for r in rows} == {"match"}
    assert _rows(engine, OverageAdjustment, profile.id) == []
