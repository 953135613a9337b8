"""Billing test bed: the app's API served over HTTP and the Stripe emulator delivering signed
webhooks to it, both in threads; helpers that drive Checkout and the Portal like a browser."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import stripe
import uvicorn
from sqlmodel import Session

from tools.stripe_emulator.testing import RunningEmulator, free_port, run_in_thread

WEBHOOK_SECRET = "whsec_dev_emulator_secret"  # settings' development default


def wait_until(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _serve_api() -> tuple[str, uvicorn.Server, threading.Thread]:
    from aether_web.api.app import api_transformer

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api_transformer(), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="aether-api", daemon=True)
    thread.start()
    wait_until(lambda: server.started, what="the API server")
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture(scope="session")
def billing_bed(db_url) -> Iterator[SimpleNamespace]:
    """The API over HTTP + the emulator sending it webhooks; settings point at the emulator."""
    from aether_web.settings import get_settings

    app_url, server, thread = _serve_api()
    saved = {k: os.environ.get(k) for k in ("STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET")}
    with run_in_thread(f"{app_url}/api/billing/webhook", WEBHOOK_SECRET,
                       retry_base_delay=0.05, retry_max_attempts=4) as emu:
        os.environ["STRIPE_API_BASE"] = emu.url
        os.environ["STRIPE_WEBHOOK_SECRET"] = WEBHOOK_SECRET
        get_settings.cache_clear()
        try:
            yield SimpleNamespace(emu=emu, app_url=app_url)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            get_settings.cache_clear()
    server.should_exit = True
    thread.join(timeout=10)


class Bed:
    """One test's view: the emulator (reset, catalogue set up), the gateway and helpers."""

    def __init__(self, emu: RunningEmulator, app_url: str, engine) -> None:
        from aether_web.integrations.stripe import get_gateway

        self.emu = emu
        self.app_url = app_url
        self.engine = engine
        self.gateway = get_gateway()
        self.stripe: stripe.StripeClient = emu.client(max_network_retries=0)

    # -- emulator control
    def webhooks_to_app(self, on: bool) -> None:
        url = f"{self.app_url}/api/billing/webhook" if on else ""
        httpx.post(f"{self.emu.url}/_emulator/webhook", json={"url": url}).raise_for_status()

    def deliveries(self) -> list[dict]:
        return httpx.get(f"{self.emu.url}/_emulator/webhook_deliveries").json()["data"]

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the emulator has no webhook left to deliver."""
        wait_until(lambda: all(d["status"] in ("delivered", "failed") for d in self.deliveries()),
                   timeout, "webhook deliveries")

    def close_period(self, sub_id: str, at: int | None = None) -> dict:
        body = {"at": at} if at else {}
        r = httpx.post(f"{self.emu.url}/_emulator/subscriptions/{sub_id}/close_period",
                       json=body)
        r.raise_for_status()
        return r.json()

    def set_card(self, customer_id: str, card: str) -> None:
        httpx.post(f"{self.emu.url}/_emulator/customers/{customer_id}/card",
                   json={"card": card}).raise_for_status()

    def meter_events(self, customer: str | None = None) -> list[dict]:
        params = {"customer": customer} if customer else {}
        return httpx.get(f"{self.emu.url}/_emulator/meter_events", params=params).json()["data"]

    # -- the database
    def profile(self, user_id):
        from aether_web.models import Profile

        with Session(self.engine, expire_on_commit=False) as s:
            return s.get(Profile, user_id)

    def wait_for_plan(self, user_id, plan: str, timeout: float = 10.0):
        return wait_until(lambda: (p := self.profile(user_id)).plan == plan and p,
                          timeout, f"plan {plan}")

    # -- browser-like flows
    def checkout(self, client, plan: str = "pro", card: str = "4242424242424242"
                 ) -> httpx.Response:
        """Ask the app for Checkout, then pay on the hosted page; returns the page's answer."""
        r = client.post("/api/billing/checkout", json={"plan": plan})
        assert r.status_code == 200, r.text
        url = r.json()["checkout_url"]
        page = httpx.get(url)
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        assert action, page.text
        return httpx.post(f"{self.emu.url}{action.group(1)}", data={"card_number": card})

    def portal(self, client, action: str, **form: str) -> httpx.Response:
        r = client.post("/api/billing/portal")
        assert r.status_code == 200, r.text
        url = r.json()["portal_url"]
        assert httpx.get(url).status_code == 200
        return httpx.post(f"{url}/{action}", data=form)

    def plan_price_id(self, lookup_key: str) -> str:
        return self.gateway.price_ids_by_lookup_key([lookup_key])[lookup_key]


@pytest.fixture
def bed(billing_bed, engine) -> Iterator[Bed]:
    """A reset emulator with the catalogue set up, delivering webhooks to the app."""
    from aether_web.integrations.stripe import ensure_catalog

    httpx.post(f"{billing_bed.emu.url}/_emulator/reset").raise_for_status()
    b = Bed(billing_bed.emu, billing_bed.app_url, engine)
    b.webhooks_to_app(True)
    ensure_catalog(b.gateway)
    yield b
    # Webhooks still in flight would hold rows while the next test empties the tables.
    with contextlib.suppress(AssertionError):
        b.settle(timeout=20)
    b.webhooks_to_app(True)


class CancelUnavailable:
    """The test's gateway, except that Stripe does not answer a cancellation."""

    def __init__(self, gateway) -> None:
        self._gateway = gateway

    def __getattr__(self, name):
        return getattr(self._gateway, name)

    def cancel_subscription(self, **_kwargs):
        from aether_web.integrations.stripe import StripeUnavailable

        raise StripeUnavailable()


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(payload, secret,
                                                             timestamp=timestamp)
