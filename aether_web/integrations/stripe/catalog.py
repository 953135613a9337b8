"""The Stripe catalogue derived from `billing/plans.py`: products, prices (by lookup key) and
the two overage meters. `ensure_catalog` creates what is missing and changes nothing else,
so it can run at every deploy, on real Stripe or on the emulator."""

from __future__ import annotations

from dataclasses import dataclass

from aether_web.billing.plans import PAID_PLANS
from aether_web.integrations.stripe.errors import StripeGatewayError

COMPUTE_METER = "aether_compute_overage"
STORAGE_METER = "aether_storage_overage"
# Meter event name -> (product id, the name people read on Checkout, the Portal and invoices).
# Each unit is one cent (pricing.py); the names relate the unit to the pricing page (rule 9).
METERS = {
    COMPUTE_METER: ("aether_compute_overage",
                    "Compute overage, $0.10 per hour, counted in 6-minute units of 1 cent"),
    STORAGE_METER: ("aether_storage_overage",
                    "Storage overage, $0.50 per GB-month, counted in units of 1 cent"),
}
# Shown beside the quantity ("25 6-min units"); Stripe allows at most 12 characters.
UNIT_LABELS = {COMPUTE_METER: "6-min unit", STORAGE_METER: "cent"}

@dataclass(frozen=True)
class CatalogItem:
    """One object of the catalogue and what `ensure_catalog` did about it."""

    kind: str  # product | price | meter
    key: str
    stripe_id: str
    action: str  # created | exists | updated | replaced


def _product(gw, product_id: str, name: str, metadata: dict[str, str],
             unit_label: str | None = None) -> CatalogItem:
    """The product, created when missing; an existing one whose name or unit label differ
    is updated (what people read follows the catalogue)."""
    c = gw.client.v1
    wanted = {"name": name, **({"unit_label": unit_label} if unit_label else {})}
    try:
        product = gw.call("retrieve product", c.products.retrieve, product_id)
    except StripeGatewayError as exc:
        if exc.http_status != 404:
            raise
    else:
        if all(getattr(product, key, None) == value for key, value in wanted.items()):
            return CatalogItem("product", product_id, product.id, "exists")
        gw.call("update product", c.products.update, product_id, params=wanted)
        return CatalogItem("product", product_id, product.id, "updated")
    product = gw.call("create product", c.products.create,
                      params={"id": product_id, "metadata": metadata, **wanted})
    return CatalogItem("product", product_id, product.id, "created")


def _price(gw, lookup_key: str, product_id: str, params: dict) -> CatalogItem:
    """A price under `lookup_key`; a different amount creates a new price that takes the key
    over (existing subscriptions keep the old price, as Stripe intends)."""
    c = gw.client.v1
    found = gw.call("list prices", c.prices.list,
                    params={"lookup_keys": [lookup_key], "active": True, "limit": 1}).data
    if found:
        price = found[0]
        same_amount = (str(price.unit_amount_decimal) == str(params.get("unit_amount_decimal",
                                                                          params.get("unit_amount"))))
        if same_amount and price.product == product_id:
            return CatalogItem("price", lookup_key, price.id, "exists")
    price = gw.call("create price", c.prices.create,
                    params={"product": product_id, "currency": "usd", "lookup_key": lookup_key,
                            "transfer_lookup_key": True, **params})
    return CatalogItem("price", lookup_key, price.id, "replaced" if found else "created")


def _meter(gw, event_name: str, display_name: str) -> CatalogItem:
    existing = gw.active_meter_ids()
    if event_name in existing:
        return CatalogItem("meter", event_name, existing[event_name], "exists")
    meter = gw.call("create meter", gw.client.v1.billing.meters.create, params={
        "display_name": display_name, "event_name": event_name,
        "default_aggregation": {"formula": "sum"},
        "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
        "value_settings": {"event_payload_key": "value"},
    })
    return CatalogItem("meter", event_name, meter.id, "created")


def ensure_catalog(gw) -> list[CatalogItem]:
    """Create the plans' products and monthly prices, the overage meters and their
    one-cent-per-unit metered prices, wherever missing. Returns what it found or made."""
    done: list[CatalogItem] = []
    for plan in PAID_PLANS:
        product_id = f"aether_{plan.key}"
        done.append(_product(gw, product_id, f"aether {plan.name}", {"aether_plan": plan.key}))
        done.append(_price(gw, plan.stripe_lookup_key, product_id, {
            "unit_amount": plan.monthly_price_cents,
            "recurring": {"interval": "month", "usage_type": "licensed"},
            "metadata": {"aether_plan": plan.key},
        }))
    for event_name, (product_id, name) in METERS.items():
        meter = _meter(gw, event_name, name)
        done.append(meter)
        done.append(_product(gw, product_id, name, {"aether_meter": event_name},
                             UNIT_LABELS[event_name]))
        done.append(_price(gw, event_name, product_id, {
            "unit_amount_decimal": "1",
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.stripe_id},
        }))
    return done


__all__ = ["COMPUTE_METER", "METERS", "STORAGE_METER", "CatalogItem", "ensure_catalog"]
