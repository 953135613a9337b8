"""The card on file as /billing names it."""

from __future__ import annotations

from aether_web.integrations.stripe.objects import CardInfo, card_from_stripe


def test_a_card_payment_method_maps_to_brand_last4_and_expiry():
    pm = {"type": "card", "card": {"brand": "visa", "display_brand": "visa", "last4": "4242",
                                   "exp_month": 4, "exp_year": 2031}}
    assert card_from_stripe(pm) == CardInfo("visa", "4242", 4, 2031)


def test_anything_but_a_card_is_none():
    assert card_from_stripe({"type": "sepa_debit", "sepa_debit": {"last4": "3000"}}) is None
    assert card_from_stripe({}) is None
