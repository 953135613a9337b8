"""Fixtures for the Stripe emulator tests (names prefixed ``stripe_`` to stay out of the way)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import stripe

from tools.stripe_emulator.testing import RunningEmulator, run_in_thread

STRIPE_WEBHOOK_SECRET = "whsec_test_emulator_secret"


@dataclass
class WebhookReceiver:
    """A tiny HTTP server that records webhook POSTs and can answer 500 on demand."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    failures_left: int = 0
    fail_matching: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int, matching: str = "") -> None:
        """Answer 500 to the next ``count`` requests whose body contains ``matching``."""
        with self.lock:
            self.failures_left = count
            self.fail_matching = matching

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.failures_left = 0

    def events(self, event_type: str | None = None) -> list[stripe.Event]:
        """Successfully received events, verified with the webhook secret."""
        with self.lock:
            rows = [r for r in self.requests if r["answered"] == 200]
        out = [stripe.Webhook.construct_event(r["body"], r["signature"], STRIPE_WEBHOOK_SECRET)
               for r in rows]
        return [e for e in out if event_type is None or e.type == event_type]

    def wait_for(self, event_type: str, count: int = 1, timeout: float = 10.0
                 ) -> list[stripe.Event]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(event_type)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            with receiver.lock:
                fail = receiver.failures_left > 0 and receiver.fail_matching in body
                status = 500 if fail else 200
                if status == 500:
                    receiver.failures_left -= 1
                receiver.requests.append({"body": body, "answered": status,
                                          "signature": self.headers.get("Stripe-Signature")})
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="session")
def stripe_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()


@pytest.fixture(scope="session")
def stripe_emu_server(stripe_receiver: WebhookReceiver) -> Iterator[RunningEmulator]:
    with run_in_thread(stripe_receiver.url, STRIPE_WEBHOOK_SECRET, retry_base_delay=0.05,
                       retry_max_attempts=4) as running:
        yield running


@pytest.fixture
def stripe_emu(stripe_emu_server: RunningEmulator,
               stripe_receiver: WebhookReceiver) -> RunningEmulator:
    """The shared emulator, reset before each test."""
    stripe_emu_server.reset()
    stripe_receiver.clear()
    return stripe_emu_server


@pytest.fixture
def stripe_client(stripe_emu: RunningEmulator) -> stripe.StripeClient:
    return stripe_emu.client("sk_test_emulator", max_network_retries=0)


@pytest.fixture
def stripe_catalog(stripe_client: stripe.StripeClient) -> SimpleNamespace:
    """A compute meter, two plans (Starter $20, Pro $50) and a metered compute price."""
    c = stripe_client.v1
    meter = c.billing.meters.create(params={
        "display_name": "Compute seconds", "event_name": "compute_seconds",
        "default_aggregation": {"formula": "sum"}})
    starter = c.products.create(params={"name": "Starter", "metadata": {"aether_plan": "starter"}})
    pro = c.products.create(params={"name": "Pro", "metadata": {"aether_plan": "pro"}})
    compute = c.products.create(params={"name": "Compute"})
    starter_price = c.prices.create(params={
        "product": starter.id, "currency": "usd", "unit_amount": 2000,
        "recurring": {"interval": "month"}, "lookup_key": "starter_monthly"})
    pro_price = c.prices.create(params={
        "product": pro.id, "currency": "usd", "unit_amount": 5000,
        "recurring": {"interval": "month"}, "lookup_key": "pro_monthly"})
    metered = c.prices.create(params={
        "product": compute.id, "currency": "usd", "unit_amount_decimal": "0.0125",
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        "lookup_key": "compute_second"})
    customer = c.customers.create(params={"email": "dev@example.com", "name": "Dev"})
    return SimpleNamespace(meter=meter, starter=starter, pro=pro, compute=compute,
                           starter_price=starter_price, pro_price=pro_price, metered=metered,
                           customer=customer)


def _checkout_and_pay(emu: RunningEmulator, client: stripe.StripeClient,
                      catalog: SimpleNamespace, card: str = "4242424242424242",
                      **extra: Any) -> tuple[Any, httpx.Response]:
    """Create a Checkout Session for Starter + compute and submit the hosted page form."""
    params = {
        "mode": "subscription", "customer": catalog.customer.id,
        "line_items": [{"price": catalog.starter_price.id, "quantity": 1},
                       {"price": catalog.metered.id}],
        "success_url": "http://app.test/billing/done?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://app.test/billing", "client_reference_id": "team_1",
        "metadata": {"team_id": "team_1"},
        "subscription_data": {"metadata": {"team_id": "team_1"}},
    }
    params.update(extra)
    session = client.v1.checkout.sessions.create(params=params)
    page = httpx.get(session.url)
    assert page.status_code == 200
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action, page.text
    response = httpx.post(f"{emu.url}{action.group(1)}", data={"card_number": card})
    return session, response


@pytest.fixture
def stripe_checkout(stripe_emu: RunningEmulator, stripe_client: stripe.StripeClient,
                    stripe_catalog: SimpleNamespace):
    """``stripe_checkout(card=..., **session_params) -> (session, response)``."""

    def run(card: str = "4242424242424242", **extra: Any) -> tuple[Any, httpx.Response]:
        return _checkout_and_pay(stripe_emu, stripe_client, stripe_catalog, card, **extra)

    return run
