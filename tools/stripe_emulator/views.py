"""Turn stored records into API response objects (embedding prices, expanding fields)."""

from __future__ import annotations

import copy
from typing import Any

from .errors import invalid
from .store import Store


def plan_from_price(price: dict[str, Any]) -> dict[str, Any]:
    recurring = price.get("recurring") or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price.get("unit_amount"),
        "amount_decimal": price.get("unit_amount_decimal"),
        "billing_scheme": price.get("billing_scheme", "per_unit"),
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count", 1),
        "livemode": False,
        "metadata": price.get("metadata", {}),
        "meter": recurring.get("meter"),
        "nickname": price.get("nickname"),
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": recurring.get("usage_type", "licensed"),
    }


def render_item(store: Store, item: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(item)
    price_id = item["price"] if isinstance(item["price"], str) else item["price"]["id"]
    price = store.collection("price").get(price_id)
    if price is not None:
        out["price"] = copy.deepcopy(price)
        out["plan"] = plan_from_price(price)
    return out


def render(store: Store, obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``obj`` as the API shows it."""
    kind = obj.get("object")
    if any(k.startswith("_") for k in obj):
        obj = {k: v for k, v in obj.items() if not k.startswith("_")}
    if kind == "subscription":
        out = copy.deepcopy(obj)
        out["items"]["data"] = [render_item(store, i) for i in obj["items"]["data"]]
        return out
    if kind == "subscription_item":
        return render_item(store, obj)
    if kind in ("list", "search_result") and isinstance(obj.get("data"), list):
        out = dict(obj)
        out["data"] = [render(store, o) if isinstance(o, dict) else o for o in obj["data"]]
        return out
    return copy.deepcopy(obj)


def expand(store: Store, obj: Any, paths: list[str]) -> Any:
    for path in paths:
        if not isinstance(path, str) or not path:
            raise invalid("Invalid expand path", param="expand")
        obj = _expand_path(store, obj, path.split("."), path)
    return obj


def _lookup(store: Store, value: Any, path: str) -> Any:
    if isinstance(value, str):
        found = store.find(value)
        if found is None:
            return value
        return render(store, found)
    return value


def _expand_path(store: Store, obj: Any, parts: list[str], path: str) -> Any:
    if not parts:
        return obj
    if isinstance(obj, list):
        return [_expand_path(store, o, parts, path) for o in obj]
    if not isinstance(obj, dict):
        return obj
    head, rest = parts[0], parts[1:]
    if head not in obj:
        raise invalid(
            f"This property cannot be expanded ({path}).", param="expand"
        )
    value = obj[head]
    if isinstance(value, str):
        value = _lookup(store, value, path)
    if rest:
        value = _expand_path(store, value, rest, path)
    obj[head] = value
    return obj
