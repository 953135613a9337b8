"""Invoice lines as the invoice gate reads them: metered lines per meter, labelled items apart,
and the line people read for a month's overage billed on its own."""

from __future__ import annotations

from datetime import date

from aether_web.integrations.stripe import COMPUTE_METER, STORAGE_METER
from aether_web.integrations.stripe.objects import invoice_from_stripe, invoice_lines_from_stripe
from aether_web.services.invoicing.adjustments import adjustment_description, adjustment_key
from aether_web.services.invoicing.invoice_gate import bills_a_period
from aether_web.services.invoicing.reconcile import metered_units


def _line(product, quantity, amount, *, item=None, metadata=None):
    return {"id": f"il_{product}_{quantity}", "amount": amount, "quantity": quantity,
            "description": "x", "metadata": metadata or {}, "period": {"start": 1, "end": 2},
            "pricing": {"price_details": {"price": "price_1", "product": product}},
            "parent": {"invoice_item_details": {"invoice_item": item} if item else None}}


def _invoice(lines, reason="subscription_cycle", sub="sub_1"):
    return {"id": "in_1", "customer": "cus_1", "status": "open", "billing_reason": reason,
            "period_start": 1, "period_end": 2, "lines": {"data": lines},
            "parent": {"subscription_details": {"subscription": sub}} if sub else None}


def test_metered_units_per_meter_leave_labelled_items_out() -> None:
    inv = _invoice([
        _line("aether_pro", 1, 2000),
        _line("aether_compute_overage", 25, 25),
        _line("aether_storage_overage", 150, 150),
        _line(None, 1, 31, item="ii_1", metadata={"aether_adjustment": "k"}),
    ])
    lines = invoice_lines_from_stripe(inv)
    assert metered_units(lines) == {COMPUTE_METER: 25, STORAGE_METER: 150}
    assert [ln.invoice_item_id for ln in lines] == [None, None, None, "ii_1"]
    assert bills_a_period(invoice_from_stripe(inv), lines)


def test_which_invoices_bill_a_period() -> None:
    first = _invoice([_line("aether_pro", 1, 2000)], reason="subscription_create")
    assert not bills_a_period(invoice_from_stripe(first), invoice_lines_from_stripe(first))
    cancel = _invoice([_line("aether_compute_overage", 3, 3)], reason="subscription_update")
    assert bills_a_period(invoice_from_stripe(cancel), invoice_lines_from_stripe(cancel))
    own = _invoice([_line(None, 1, 31, item="ii_1")], reason="manual", sub=None)
    assert invoice_from_stripe(own).subscription_id is None
    assert not bills_a_period(invoice_from_stripe(own), invoice_lines_from_stripe(own))


def test_the_labelled_line_names_the_month_the_unit_and_the_amount() -> None:
    month = date(2026, 11, 1)
    assert adjustment_description(month, COMPUTE_METER, 25) == (
        "Overage for November 2026: compute, $0.10 per hour counted in 6-minute units of "
        "1 cent (25 units, $0.25)")
    assert adjustment_description(month, STORAGE_METER, 150).endswith("(150 units, $1.50)")
    assert adjustment_key("u1", month, STORAGE_METER) == "overage-item:u1:2026-11:storage"
