"""Decoding of Stripe-style form parameters and small value coercions.

stripe-python encodes nested parameters as ``a[b][0][c]=v`` (lists always indexed).
``decode_form`` turns the flat pairs back into nested dicts and lists.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from .errors import invalid

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART_RE = re.compile(r"\[([^\[\]]*)\]")

# Keys whose children are user-chosen strings: never turned into lists.
_MAP_KEYS = {"metadata", "payload"}


def parse_pairs(raw: str) -> list[tuple[str, str]]:
    return parse_qsl(raw, keep_blank_values=True)


def decode_form(raw: str) -> dict[str, Any]:
    """Decode a urlencoded string into nested dicts/lists."""
    return decode_pairs(parse_pairs(raw))


def decode_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        m = _KEY_RE.match(key)
        if not m:
            raise invalid(f"Invalid parameter name: {key}", param=key)
        parts = [m.group(1), *_PART_RE.findall(m.group(2))]
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                # ``a[]=x`` style: append with a fresh index
                part = str(len(node))
            if last:
                node[part] = value
            else:
                nxt = node.get(part)
                if not isinstance(nxt, dict):
                    nxt = {}
                    node[part] = nxt
                node = nxt
    return _listify(root, None)


def _listify(node: Any, parent_key: str | None) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v, k) for k, v in node.items()}
    if parent_key in _MAP_KEYS:
        return converted
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


# ---------------------------------------------------------------- coercions


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value[k] for k in sorted(value, key=lambda k: (not k.isdigit(), k))]
    return [value]


def as_int(value: Any, param: str, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(str(value))
    except ValueError:
        raise invalid(
            f"Invalid integer: {value}", param=param, code="parameter_invalid_integer"
        ) from None


def as_bool(value: Any, param: str, default: bool | None = None) -> bool | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise invalid(f"Invalid boolean: {value}", param=param)


def as_decimal(value: Any, param: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise invalid(f"Invalid decimal: {value}", param=param) from None
    if not result.is_finite():
        raise invalid(f"Invalid decimal: {value}", param=param)
    return result


def as_dict(value: Any, param: str) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid hash: {param}", param=param)
    return value


def merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    """Stripe semantics: keys are merged; an empty value removes the key; ``""`` clears."""
    if update is None:
        return current
    if update == "":
        return {}
    result = dict(current)
    for key, value in as_dict(update, "metadata").items():
        if value == "" or value is None:
            result.pop(key, None)
        else:
            result[key] = str(value)
    return result


def require(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise invalid(f"Missing required param: {name}.", param=name, code="parameter_missing")
    return value
