"""The form decoder reads exactly what stripe-python encodes."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stripe._encode import _api_encode

from tools.stripe_emulator.errors import StripeError
from tools.stripe_emulator.forms import decode_form, merge_metadata


def encode(params: dict) -> str:
    return urlencode(list(_api_encode(params)))


def test_nested_lists_and_dicts_round_trip():
    params = {
        "line_items": [{"price": "price_1", "quantity": "2"}, {"price": "price_2"}],
        "subscription_data": {"metadata": {"team_id": "t1"}, "billing_cycle_anchor": "17"},
        "expand": ["subscription", "latest_invoice"],
        "metadata": {"0": "zero", "k": ""},
    }
    assert decode_form(encode(params)) == params


def test_empty_brackets_append():
    assert decode_form("expand[]=a&expand[]=b") == {"expand": ["a", "b"]}


def test_bad_key_is_a_stripe_error():
    with pytest.raises(StripeError) as info:
        decode_form("a]b=1")
    assert info.value.status == 400


def test_metadata_merge_semantics():
    assert merge_metadata({"a": "1", "b": "2"}, {"a": "", "c": "3"}) == {"b": "2", "c": "3"}
    assert merge_metadata({"a": "1"}, "") == {}


# metadata/payload children are user keys and stay dicts even when they look like indexes
_key = st.from_regex(r"[a-z_]{1,8}", fullmatch=True).filter(
    lambda k: k not in ("metadata", "payload"))
_leaf = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_tree = st.recursive(
    _leaf,
    lambda children: st.dictionaries(_key, children, min_size=1, max_size=3)
    | st.lists(children, min_size=1, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(_key, _tree, min_size=1, max_size=4))
def test_decode_inverts_stripe_encoding(params):
    assert decode_form(encode(params)) == params
