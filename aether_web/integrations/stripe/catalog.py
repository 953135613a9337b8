"""The Stripe catalogue derived from `billing/plans.py`: products, prices (by lookup key) and
the two overage meters. `ensure_catalog` creates what is missing and changes nothing else,
so it can run at every deploy, on real Stripe or on the emulator."""

from __future__ import annotations

from dataclasses import dataclass

from aether_web.billing.plans import PAID_PLANS
from aether_web.integrations.stripe.errors import StripeGatewayError

COMPUTE_METER = "aether_compute_overage"
STORAGE_METER = "aether_storage_overage"
# Meter event name -> (product id, display name). Each unit is one cent (pricing.py).
METERS = {
    COMPUTE_METER: ("aether_compute_overage", "aether compute overage"),
    STORAGE_METER: ("aether_storage_overage", "aether storage overage"),
}
# The metered prices use the meter's event name as their lookup key.
METERED_LOOKUP_KEYS = (COMPUTE_METER, STORAGE_METER)


@dataclass(frozen=True)
class CatalogItem:
    """One object of the catalogue and what `ensure_catalog` did about it."""

    kind: str  # product | price | meter
    key: str
    stripe_id: str
    action: str  # created | exists | replaced


def _product(gw, product_id: str, name: str, metadata: dict[str, str]) -> CatalogItem:
    c = gw.client.v1
    try:
        product = gw.call("retrieve product", c.products.retrieve, product_id)
        return CatalogItem("product", product_id, product.id, "exists")
    except StripeGatewayError as exc:
        if exc.http_status != 404:
            raise
    product = gw.call("create product", c.products.create,
                      params={"id": product_id, "name": name, "metadata": metadata})
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
        done.append(_product(gw, product_id, name, {"aether_meter": event_name}))
        done.append(_price(gw, event_name, product_id, {
            "unit_amount_decimal": "1",
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.stripe_id},
        }))
    return done


__all__ = ["COMPUTE_METER", "METERS", "STORAGE_METER", "CatalogItem", "ensure_catalog"]
