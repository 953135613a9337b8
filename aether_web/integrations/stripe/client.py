"""The configured `stripe.StripeClient` (real Stripe, or the local emulator via base addresses)."""

from __future__ import annotations

import functools
import ssl

import httpx
import stripe

from aether_web.settings import Settings, get_settings

# stripe-python 16.1.0 pins this API version; every shape we read assumes it.
API_VERSION = "2026-10-28.endive"


def make_client(settings: Settings) -> stripe.StripeClient:
    """A client for `settings`: `stripe_api_base` (when set) replaces every Stripe host.

    Calls time out after `stripe_timeout_seconds` (2 s to connect) and are retried once: a
    page waiting on Stripe answers within seconds even when Stripe is slow or unreachable
    (stripe-python's own default is 80 s).
    """
    base = (settings.stripe_api_base or "").rstrip("/")
    timeout = httpx.Timeout(settings.stripe_timeout_seconds, connect=2.0)
    kwargs: dict = {"max_network_retries": 1,
                    "http_client": stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True)}
    if base:
        kwargs["base_addresses"] = {"api": base, "meter_events": base, "files": base,
                                    "connect": base}
    return stripe.StripeClient(settings.stripe_api_key, stripe_version=API_VERSION, **kwargs)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs tens of milliseconds: one context for every sender client.
    return ssl.create_default_context(cafile=stripe.ca_bundle_path)


def make_sender_client(settings: Settings, *, connections: int = 100,
                       timeout: float = 20.0) -> stripe.StripeClient:
    """A client for many concurrent calls: stripe-python's async methods over an httpx pool of
    `connections` keep-alive connections, and no retries of its own (the sender retries with
    the same identifier and idempotency key, with backoff, for as long as it takes)."""
    import httpx

    # Built without certificates of its own, then given httpx clients that verify with the
    # shared context: the pool size is what we change (stripe sets no limits).
    http_client = stripe.HTTPXClient(timeout=timeout, verify_ssl_certs=False)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    http_client._client_async = httpx.AsyncClient(limits=limits, timeout=timeout,
                                                  verify=_ssl_context())
    http_client._client = httpx.Client(limits=limits, timeout=timeout, verify=_ssl_context())
    base = settings.stripe_api_base.rstrip("/")
    kwargs: dict = {"max_network_retries": 0, "http_client": http_client}
    if base:
        kwargs["base_addresses"] = {"api": base, "meter_events": base, "files": base,
                                    "connect": base}
    return stripe.StripeClient(settings.stripe_api_key, stripe_version=API_VERSION, **kwargs)


def sender_gateway(*, connections: int = 100, timeout: float = 20.0):
    """A gateway on `make_sender_client` for the current settings (the caller closes it with
    `await gateway.aclose()`)."""
    from aether_web.integrations.stripe.gateway import StripeGateway

    client = make_sender_client(get_settings(), connections=connections, timeout=timeout)
    return StripeGateway(client)


@functools.cache
def _gateway_for(api_key: str, api_base: str | None):
    from aether_web.integrations.stripe.gateway import StripeGateway

    settings = get_settings().model_copy(
        update={"stripe_api_key": api_key, "stripe_api_base": api_base})
    return StripeGateway(make_client(settings))


def get_gateway():
    """The process-wide gateway for the current settings (one client per key and base)."""
    settings = get_settings()
    return _gateway_for(settings.stripe_api_key, settings.stripe_api_base)
