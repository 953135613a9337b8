"""Hosted HTML pages: Checkout, Customer Portal, invoices."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from . import billing, hosted
from .errors import StripeError
from .forms import decode_form
from .store import Store

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;
color:#1a1a1a}
label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input,select{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}
button{font-size:1rem;padding:.5rem 1rem;margin-top:.75rem;cursor:pointer}
.error{color:#9b1c1c;font-weight:600}.notice{color:#14532d;font-weight:600}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;
text-align:left}
.test-banner{background:#fff4d6;padding:.5rem;border-radius:4px}
"""

_NOTICES = {
    "switched": "Your plan was changed.",
    "canceled": "Your subscription will be canceled at the end of the period.",
    "renewed": "Your subscription will continue.",
    "ended": "Your subscription was canceled.",
    "card": "Your payment method was updated.",
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body><main>"
        f'<p class="test-banner">Test mode (Stripe emulator)</p>{body}</main></body></html>'
    )
    return HTMLResponse(html, status_code=status)


def _date(ts: int | None) -> str:
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _price_label(store: Store, price: dict[str, Any]) -> str:
    product = store.collection("product").get(price["product"]) or {"name": price["product"]}
    interval = billing.recurring_of(price).get("interval", "month")
    unit = billing.money(billing.unit_decimal(price))
    if billing.is_metered(price):
        per = product.get("unit_label") or "unit"  # Stripe shows the product's unit label
        return f"{product['name']}: {unit} per {per}, billed monthly by usage"
    return f"{product['name']}: {unit} / {interval}"


def _state(request: Request):
    return request.app.state.emulator


async def _form(request: Request) -> dict[str, Any]:
    return decode_form((await request.body()).decode("utf-8"))


# ---------------------------------------------------------------- checkout


def _checkout_body(store: Store, session: dict[str, Any], error: str | None) -> str:
    prices = [store.get("price", s["price"]) for s in session["_line_items"]]
    licensed = [p for p in prices if not billing.is_metered(p)]
    main = licensed[0] if licensed else prices[0]
    heading = escape(_price_label(store, main))
    items = "".join(f"<li>{escape(_price_label(store, p))}</li>" for p in prices)
    total = billing.money(session["amount_total"] or 0)
    parts = [f"<h1>Subscribe: {heading}</h1>",
             f'<p>Due today: <strong id="amount-due">{total}</strong></p>',
             f'<ul id="line-items">{items}</ul>']
    if session["status"] != "open":
        parts.append(f'<p class="error" role="alert" id="session-status">This checkout session '
                     f"is {escape(session['status'])}.</p>")
        return "".join(parts)
    if error:
        parts.append(f'<p class="error" role="alert" id="card-error">{escape(error)}</p>')
    email = ""
    if not session["customer"]:
        value = escape(session.get("customer_email") or "")
        email = (f'<label for="email">Email</label><input id="email" name="email" type="email"'
                 f' autocomplete="email" value="{value}" required>')
    parts.append(
        f'<form method="post" action="/checkout/{session["id"]}">{email}'
        '<label for="card-number">Card number</label>'
        '<input id="card-number" name="card_number" inputmode="numeric" '
        'autocomplete="cc-number" placeholder="4242 4242 4242 4242" required>'
        f'<button id="pay" type="submit">Pay {total} and subscribe</button></form>'
    )
    if session.get("cancel_url"):
        parts.append(f'<p><a id="cancel" href="{escape(session["cancel_url"])}">'
                     "Cancel and go back</a></p>")
    return "".join(parts)


async def checkout_page(request: Request) -> Response:
    state = _state(request)
    with state.store.lock:
        session = state.store.collection("checkout.session").get(request.path_params["cs"])
        if session is None:
            return _page("Not found", "<h1>Checkout session not found</h1>", 404)
        return _page("Checkout", _checkout_body(state.store, session, None))


async def checkout_pay(request: Request) -> Response:
    state = _state(request)
    form = await _form(request)
    with state.store.lock:
        session = state.store.collection("checkout.session").get(request.path_params["cs"])
        if session is None:
            return _page("Not found", "<h1>Checkout session not found</h1>", 404)
        try:
            hosted.complete_checkout(state.ctx(), session, str(form.get("card_number", "")),
                                     form.get("email") or None)
        except StripeError as exc:
            state.store.save()
            # Like Stripe's page, a decline is shown on a page that loaded fine (200).
            return _page("Checkout", _checkout_body(state.store, session, exc.message))
        state.store.save()
        return RedirectResponse(session["success_url"], status_code=303)


# ---------------------------------------------------------------- portal


def _portal_body(store: Store, portal: dict[str, Any], notice: str | None,
                 error: str | None) -> str:
    base = f"/portal/{portal['id']}"
    customer = store.get("customer", portal["customer"])
    parts = ["<h1>Manage your subscription</h1>"]
    if notice in _NOTICES:
        parts.append(f'<p class="notice" role="status" id="portal-message">'
                     f"{_NOTICES[notice]}</p>")
    if error:
        parts.append(f'<p class="error" role="alert" id="portal-error">{escape(error)}</p>')
    sub = hosted.portal_subscription(store, customer["id"])
    if sub is None:
        parts.append('<p id="no-subscription">You have no subscription.</p>')
    else:
        parts.append(_subscription_section(store, sub, base))
    pm_id = customer["invoice_settings"]["default_payment_method"]
    pm = store.collection("payment_method").get(pm_id) if pm_id else None
    card = f"{pm['card']['brand'].title()} ending in {pm['card']['last4']}" if pm else "None"
    parts.append(
        f'<h2>Payment method</h2><p id="card-on-file">{escape(card)}</p>'
        f'<form method="post" action="{base}/card">'
        '<label for="card-number">New card number</label>'
        '<input id="card-number" name="card_number" inputmode="numeric" '
        'autocomplete="cc-number" required>'
        '<button id="update-card" type="submit">Update card</button></form>')
    invoices = [i for i in store.all("invoice") if i["customer"] == customer["id"]]
    if invoices:
        rows = "".join(
            f'<tr><td><a href="/invoices/{i["id"]}">{escape(i["number"] or i["id"])}</a></td>'
            f"<td>{_date(i['created'])}</td><td>{billing.money(i['total'])}</td>"
            f"<td>{escape(i['status'])}</td></tr>" for i in invoices[:12])
        parts.append('<h2>Invoices</h2><table id="invoices"><thead><tr><th>Number</th>'
                     f"<th>Date</th><th>Total</th><th>Status</th></tr></thead>{rows}</table>")
    if portal.get("return_url"):
        parts.append(f'<p><a id="return" href="{escape(portal["return_url"])}">'
                     "Return to the app</a></p>")
    return "".join(parts)


def _subscription_section(store: Store, sub: dict[str, Any], base: str) -> str:
    item = hosted.lifecycle.licensed_item(store, sub) or sub["items"]["data"][0]
    price = store.get("price", item["price"])
    period_end = item["current_period_end"]
    if sub["status"] == "canceled":
        when = f"Ended {_date(sub['ended_at'])}"
    elif sub["cancel_at_period_end"]:
        when = f"Cancels {_date(period_end)}"
    else:
        when = f"Renews {_date(period_end)}"
    parts = [
        "<h2>Current plan</h2><dl>",
        f'<dt>Plan</dt><dd id="current-plan">{escape(_price_label(store, price))}</dd>',
        f'<dt>Status</dt><dd id="subscription-status">{escape(sub["status"])}</dd>',
        f'<dt>Period</dt><dd id="period-end">{when}</dd></dl>',
    ]
    if sub["status"] == "canceled":
        return "".join(parts)
    options = [p for p in hosted.plan_prices(store) if p["id"] != item["price"]]
    if options:
        opts = "".join(f'<option value="{p["id"]}">{escape(_price_label(store, p))}</option>'
                       for p in options)
        parts.append(f'<form method="post" action="{base}/switch">'
                     f'<label for="plan">Change plan</label><select id="plan" name="price">'
                     f'{opts}</select><button id="switch-plan" type="submit">Switch plan'
                     "</button></form>")
    if sub["cancel_at_period_end"]:
        parts.append(f'<form method="post" action="{base}/renew"><button id="renew-subscription"'
                     ' type="submit">Don\'t cancel</button></form>')
    else:
        parts.append(f'<form method="post" action="{base}/cancel"><button '
                     'id="cancel-subscription" type="submit">Cancel at period end</button>'
                     "</form>")
    parts.append(f'<form method="post" action="{base}/cancel-now"><button id="cancel-now" '
                 'type="submit">Cancel immediately</button></form>')
    return "".join(parts)


async def portal_page(request: Request) -> Response:
    state = _state(request)
    with state.store.lock:
        portal = state.store.collection("billing_portal.session").get(request.path_params["bps"])
        if portal is None:
            return _page("Not found", "<h1>Portal session not found</h1>", 404)
        notice = request.query_params.get("notice")
        return _page("Billing portal", _portal_body(state.store, portal, notice, None))


_ACTIONS = {
    "switch": (lambda ctx, cus, form: hosted.switch_plan(ctx, cus, str(form.get("price", ""))),
               "switched"),
    "cancel": (lambda ctx, cus, form: hosted.set_cancel_at_period_end(ctx, cus, True),
               "canceled"),
    "renew": (lambda ctx, cus, form: hosted.set_cancel_at_period_end(ctx, cus, False),
              "renewed"),
    "cancel-now": (lambda ctx, cus, form: hosted.cancel_now(ctx, cus), "ended"),
    "card": (lambda ctx, cus, form: hosted.update_card(ctx, cus,
                                                       str(form.get("card_number", ""))), "card"),
}


async def portal_action(request: Request) -> Response:
    state = _state(request)
    action = _ACTIONS.get(request.path_params["action"])
    form = await _form(request)
    with state.store.lock:
        portal = state.store.collection("billing_portal.session").get(request.path_params["bps"])
        if portal is None or action is None:
            return _page("Not found", "<h1>Not found</h1>", 404)
        try:
            action[0](state.ctx(), portal["customer"], form)
        except StripeError as exc:
            return _page("Billing portal",
                         _portal_body(state.store, portal, None, exc.message))
        finally:
            state.store.save()
        return RedirectResponse(f"/portal/{portal['id']}?notice={action[1]}", status_code=303)


# ---------------------------------------------------------------- invoices


async def invoice_page(request: Request) -> Response:
    state = _state(request)
    with state.store.lock:
        inv = state.store.collection("invoice").get(request.path_params["inv"])
        if inv is None:
            return _page("Not found", "<h1>Invoice not found</h1>", 404)
        rows = "".join(
            f"<tr><td>{escape(line['description'] or '')}</td>"
            f"<td>{_date(line['period']['start'])} – {_date(line['period']['end'])}</td>"
            f"<td>{line['quantity']}</td><td>{billing.money(line['amount'])}</td></tr>"
            for line in inv["lines"]["data"])
        body = (
            f"<h1>Invoice {escape(inv['number'] or inv['id'])}</h1>"
            f'<p>Status: <strong id="invoice-status">{escape(inv["status"])}</strong></p>'
            f"<p>Billed to {escape(inv['customer_email'] or inv['customer'])} for "
            f"{_date(inv['period_start'])} – {_date(inv['period_end'])}</p>"
            '<table id="invoice-lines"><thead><tr><th>Description</th><th>Period</th>'
            f"<th>Qty</th><th>Amount</th></tr></thead><tbody>{rows}</tbody></table>"
            f'<p>Total: <strong id="invoice-total">{billing.money(inv["total"])}</strong></p>'
            f'<p>Amount paid: <span id="amount-paid">{billing.money(inv["amount_paid"])}'
            "</span></p>"
        )
        return _page(f"Invoice {inv['number'] or inv['id']}", body)


def routes() -> list[Route]:
    return [
        Route("/checkout/{cs}", checkout_page, methods=["GET"]),
        Route("/checkout/{cs}", checkout_pay, methods=["POST"]),
        Route("/portal/{bps}", portal_page, methods=["GET"]),
        Route("/portal/{bps}/{action}", portal_action, methods=["POST"]),
        Route("/invoices/{inv}", invoice_page, methods=["GET"]),
    ]
