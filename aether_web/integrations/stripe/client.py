"""The configured `stripe.StripeClient` (real Stripe, or the local emulator via base addresses)."""

from __future__ import annotations

import functools

import stripe

from aether_web.settings import Settings, get_settings

# stripe-python 16.1.0 pins this API version; every shape we read assumes it.
API_VERSION = "2026-10-28.endive"


def make_client(settings: Settings) -> stripe.StripeClient:
    """A client for `settings`: `stripe_api_base` (when set) replaces every Stripe host."""
    base = settings.stripe_api_base.rstrip("/")
    kwargs: dict = {"max_network_retries": 2}
    if base:
        kwargs["base_addresses"] = {"api": base, "meter_events": base, "files": base,
                                    "connect": base}
    return stripe.StripeClient(settings.stripe_api_key, stripe_version=API_VERSION, **kwargs)


@functools.cache
def _gateway_for(api_key: str, api_base: str):
    from aether_web.integrations.stripe.gateway import StripeGateway

    settings = get_settings().model_copy(
        update={"stripe_api_key": api_key, "stripe_api_base": api_base})
    return StripeGateway(make_client(settings))


def get_gateway():
    """The process-wide gateway for the current settings (one client per key and base)."""
    settings = get_settings()
    return _gateway_for(settings.stripe_api_key, settings.stripe_api_base)
