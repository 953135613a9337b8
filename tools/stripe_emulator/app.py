"""The Starlette application: auth, parameter decoding, idempotency, routing."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import control, faults, pages, period_end
from .errors import StripeError
from .forms import as_list, decode_form
from .resources import Ctx, Handler, load_all
from .store import API_VERSION, KEY_TTL, Store, frozen_at, new_id, now
from .views import expand, render
from .webhooks import Dispatcher

log = logging.getLogger("stripe_emulator")


@dataclass
class AppState:
    """Everything a running emulator holds; available as ``app.state.emulator``."""

    store: Store
    dispatcher: Dispatcher
    public_url: str
    extra: dict[str, Any] = field(default_factory=dict)
    faults: faults.FaultInjector = field(default_factory=faults.FaultInjector)

    def ctx(self, request_id: str | None = None, key: str | None = None) -> Ctx:
        return Ctx(self.store, self.public_url, request_id, key)


def _api_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.split(":", 1)[0]
    return None


def _auth_error(key: str | None) -> StripeError | None:
    if not key:
        return StripeError(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            status=401,
        )
    if not key.startswith("sk_test_"):
        masked = key[:8] + "*" * max(0, len(key) - 12) + key[-4:]
        return StripeError(f"Invalid API Key provided: {masked}", status=401)
    return None


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, indent=2), status_code=status, headers=headers,
                    media_type="application/json")


def _api_endpoint(handler: Handler, method: str, path: str) -> Callable[[Request], Any]:
    endpoint_name = f"{method} {path}"

    async def endpoint(request: Request) -> Response:
        state: AppState = request.app.state.emulator
        request_id = new_id("req", 14)
        headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
        fate = state.faults.decide(endpoint_name, request.url.path)
        delay = state.faults.latency()
        if delay:
            await asyncio.sleep(delay)
        try:
            if fate == faults.REJECT_429:
                raise faults.rate_limited()
            if fate in (faults.REJECT_5XX, faults.OUTAGE):
                raise faults.server_error(503 if fate == faults.OUTAGE else 500)
            err = _auth_error(_api_key(request))
            if err:
                raise err
            params = decode_form(request.url.query)
            if method == "POST":
                params.update(decode_form((await request.body()).decode("utf-8")))
            key = request.headers.get("idempotency-key") if method == "POST" else None
            response = _run(state, handler, method, request, params, key, request_id, headers)
        except StripeError as exc:
            headers.update(exc.headers)
            return _json(exc.body(request_id), exc.status, headers)
        if fate == faults.LOSE_ANSWER:
            error = faults.server_error()
            return _json(error.body(request_id), error.status, {**headers, **error.headers})
        if fate == faults.HANG:
            await asyncio.sleep(state.faults.faults.hang_seconds)
        return response

    return endpoint


def _request_time(store: Store, params: dict[str, Any], path_params: dict[str, Any]) -> int | None:
    """The emulated time of a request: that of the test clock of the customer it concerns."""
    clock = params.get("test_clock")
    if isinstance(clock, str) and clock in store.collection("test_helpers.test_clock"):
        return store.collection("test_helpers.test_clock")[clock]["frozen_time"]
    customer = params.get("customer") or path_params.get("customer")
    payload = params.get("payload")
    if not customer and isinstance(payload, dict):
        customer = payload.get("stripe_customer_id")
    if not customer:
        for kind, value in (("subscription", params.get("subscription") or path_params.get("sub")),
                            ("invoice", path_params.get("invoice"))):
            obj = store.collection(kind).get(value) if isinstance(value, str) else None
            if obj is not None:
                customer = obj.get("customer")
                break
    return store.clock_time(customer) if isinstance(customer, str) else None


def _run(state: AppState, handler: Handler, method: str, request: Request,
         params: dict[str, Any], key: str | None, request_id: str,
         headers: dict[str, str]) -> Response:
    store = state.store
    fingerprint = json.dumps([method, request.url.path, params], sort_keys=True)
    with store.lock, frozen_at(_request_time(store, params, request.path_params)):
        if key:
            saved = store.idempotency.get(key)
            if saved is not None and now() - saved["created"] >= KEY_TTL:
                del store.idempotency[key]  # Stripe forgets keys after 24 hours
                saved = None
            if saved is not None:
                if saved["fingerprint"] != fingerprint:
                    raise StripeError(
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request.",
                        type="idempotency_error")
                headers.update({"Idempotent-Replayed": "true",
                                "Original-Request": saved["request_id"]})
                return _json(saved["body"], saved["status"], headers)
        store.current_request = {"id": request_id, "idempotency_key": key}
        try:
            result = handler(state.ctx(request_id, key), params, **request.path_params)
            body = expand(store, render(store, result), as_list(params.get("expand")))
            status = 200
        except StripeError as exc:
            body, status = exc.body(request_id), exc.status
            headers.update(exc.headers)
        finally:
            store.current_request = None
        if key:
            store.idempotency[key] = {"fingerprint": fingerprint, "status": status,
                                      "body": body, "request_id": request_id,
                                      "created": now()}
        if method != "GET":
            store.save()
    return _json(body, status, headers)


async def _not_found(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith("/v1/"):
        body = StripeError(
            f"Unrecognized request URL ({request.method}: {request.url.path}).",
            status=404).body()
        return _json(body, 404)
    return JSONResponse({"error": "not found"}, status_code=404)


def _finalize_wall_clock_drafts(state: AppState, stop: threading.Event) -> None:
    """Drafts of customers without a test clock finalize as wall-clock time passes (their
    periods end only through ``close_period``)."""
    store = state.store
    while not stop.wait(1.0):
        try:
            with store.lock:
                if store.drafts:
                    period_end.run_due(store, None, now(), state.public_url, renew=False)
                    store.save()
        except Exception:  # keep ticking; the failure is in the log
            log.exception("finalizing drafts failed")


def _lifespan(state: AppState) -> Callable[[Starlette], Any]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.dispatcher.start()
        stop = threading.Event()
        ticker = threading.Thread(target=_finalize_wall_clock_drafts, args=(state, stop),
                                  name="draft-finalizer", daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
            ticker.join(timeout=5)
            state.dispatcher.stop()

    return lifespan


async def _no_favicon(_request):
    from starlette.responses import Response

    return Response(status_code=204)


def create_app(
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    public_url: str = "http://127.0.0.1:12111",
    *,
    state_file: str | None = None,
    retry_base_delay: float = 0.5,
    retry_max_attempts: int = 5,
    fault_settings: faults.Faults | None = None,
    finalization_grace_seconds: int | None = None,
) -> Starlette:
    """Build the emulator app. ``public_url`` is the address browsers use for hosted pages."""
    store = Store(state_file)
    dispatcher = Dispatcher(store, webhook_url, webhook_secret,
                            base_delay=retry_base_delay, max_attempts=retry_max_attempts)
    store.on_event = dispatcher.enqueue
    store.webhooks_enabled = lambda: bool(dispatcher.url)
    store.wait_for_webhooks = dispatcher.wait_idle
    dispatcher.on_delivered = lambda event: period_end.webhook_answered(store, event)
    if finalization_grace_seconds is not None:
        period_end.set_grace(store, finalization_grace_seconds)
    state = AppState(store, dispatcher, public_url.rstrip("/"),
                     faults=faults.FaultInjector(fault_settings))

    routes = [Route(path, _api_endpoint(fn, method, path), methods=[method])
              for method, path, fn in load_all()]
    routes += control.routes() + pages.routes()
    # Browsers ask every host for a favicon; an empty answer keeps their consoles clean.
    routes.append(Route("/favicon.ico", _no_favicon, methods=["GET"]))
    app = Starlette(
        routes=routes,
        exception_handlers={404: _not_found, 405: _not_found},
        lifespan=_lifespan(state),
    )
    app.state.emulator = state
    return app
