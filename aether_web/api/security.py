"""Origin checks and security headers on every response (HTTP and the Reflex websocket).

- A state-changing request (POST, PUT, PATCH, DELETE) from a browser on another site is refused
  with 403 before any route runs: its `Origin` must be our public origin, or, without `Origin`,
  `Sec-Fetch-Site` must not say cross-site/same-site. Requests with neither header come from
  non-browsers (the orchestrator, Stripe, curl), which carry no cookies of our users and sign
  their requests. This makes log-in, sign-up and log-out CSRF-safe along with SameSite=Lax.
- The websocket of Reflex's events (`/_event`) is refused (403) from any other origin.
- Behind a proxy of `AETHER_TRUSTED_PROXIES`, the request's client becomes the rightmost
  untrusted X-Forwarded-For hop for everything downstream (throttling, sessions, logs). In
  production, X-Forwarded-For from any other peer is logged once per peer: a proxy missing
  from the list makes all its clients one address to the throttle.
- `/api/metrics` and `/api/ready`'s details are for operators only (`is_operator`).
- Every response carries a CSP (our origin, our websocket, the configured Sentry and analytics
  origins, nothing else; `frame-ancestors 'none'`), nosniff, a Referrer-Policy, HSTS in
  production, and `Cache-Control: no-store` on API answers and pages.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import json
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aether_web.client_address import forwarded_client, is_trusted
from aether_web.observability import SENTRY_LOADER, log
from aether_web.settings import Settings, get_settings

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EVENT_PATH = "/_event"
FORM_PATHS = ("/api/auth/",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_SEEN = "aether.security"


def _origin_of(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def allowed_origins(settings: Settings) -> list[str]:
    """The origins browsers may call us from (`Settings.browser_origins`)."""
    return settings.browser_origins


def is_cross_site(headers: Headers, origins: list[str]) -> bool:
    """Whether a browser sent this request from a page that is not ours."""
    origin = headers.get("origin")
    if origin is not None:
        return origin.strip().lower() not in origins
    return headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site")


def _sentry_origins(settings: Settings) -> tuple[list[str], list[str]]:
    """(script origins, connect origins) of the browser's Sentry, when configured."""
    dsn = settings.sentry_browser_dsn.strip()
    if not dsn:
        return [], []
    ingest = urlsplit(dsn)
    scripts = [_origin_of(SENTRY_LOADER), "https://browser.sentry-cdn.com"]
    return scripts, [f"{ingest.scheme}://{ingest.hostname}" + (f":{ingest.port}" if ingest.port else "")]


def content_security_policy(settings: Settings, api_url: str = "") -> str:
    """The CSP of every response. `api_url` is Reflex's backend URL when it is not ours."""
    own = settings.public_origin
    api = _origin_of(api_url) if api_url else ""
    backends = [own] + ([api] if api and api != own else [])
    sockets = [o.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
               for o in backends]
    sentry_scripts, sentry_connect = _sentry_origins(settings)
    analytics = [_origin_of(settings.plausible_script_url)] if settings.plausible_domain else []
    # No 'unsafe-eval': Reflex runs what a backend event sends to the page (rx.toast,
    # rx.call_script) through eval(), so the app uses neither; notices are state
    # (state/flash.py) and the address changes through rx.redirect.
    scripts = ["'self'", "'unsafe-inline'", *sentry_scripts, *analytics]
    connect = ["'self'", *backends[1:], *sockets, *sentry_connect, *analytics]
    if not settings.is_production:
        # (Chromium refuses IPv6 literals in CSP sources: [::1] is left to 'self'.)
        connect += [o.replace("http", "ws", 1) for o in allowed_origins(settings) if "[" not in o]
    directives = {
        "default-src": ["'self'"],
        "script-src": scripts,
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": list(dict.fromkeys(o for o in connect if o)),
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def response_headers(settings: Settings, api_url: str = "") -> list[tuple[str, str]]:
    """The headers added to every response (Cache-Control aside)."""
    headers = [
        ("content-security-policy", content_security_policy(settings, api_url)),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("cross-origin-opener-policy", "same-origin"),
        ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()"),
    ]
    if settings.is_production and settings.public_origin.startswith("https://"):
        headers.append(("strict-transport-security", "max-age=63072000; includeSubDomains"))
    return headers


@functools.cache
def _policy() -> tuple[list[str], list[tuple[str, str]]]:
    import reflex as rx

    settings = get_settings()
    return allowed_origins(settings), response_headers(settings, rx.config.get_config().api_url)


def _use_forwarded_client(scope: Scope, headers: Headers) -> None:
    """Behind a trusted proxy, the client everything downstream sees (routes, Reflex, Sentry,
    the server's access log) is the one `context.forwarded_client` finds, not the proxy."""
    settings = get_settings()
    trusted = settings.trusted_proxy_networks
    client = scope.get("client")
    if not client or "x-forwarded-for" not in headers:
        return
    if not is_trusted(client[0], trusted):
        if settings.is_production:
            _warn_untrusted_proxy(client[0])
        return

    hops = ",".join(headers.getlist("x-forwarded-for"))
    scope["client"] = (forwarded_client(client[0], hops, trusted), client[1])


@functools.lru_cache(maxsize=64)
def _warn_untrusted_proxy(peer: str) -> None:
    """Once per peer and process: in production every browser comes through a proxy, and one
    missing from AETHER_TRUSTED_PROXIES makes all its clients one address to the throttle."""
    log.warning("X-Forwarded-For from %s, which is not in AETHER_TRUSTED_PROXIES: every client "
                "it forwards counts as one address for the log-in and sign-up limits", peer)


def _acceptable_body(path: str, headers: Headers) -> bool:
    """API bodies are JSON; the log-in/sign-up/log-out forms (`/api/auth/`) may post forms.
    A request without a body needs no type."""
    if not path.startswith("/api/"):
        return True
    if headers.get("content-length", "0").strip() in ("", "0") and \
            "transfer-encoding" not in headers:
        return True
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return True
    return path.startswith(FORM_PATHS) and media in FORM_TYPES


def _refusal(status: int, code: str, message: str) -> tuple[dict, bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    start = {"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())]}
    return start, body


class SecurityMiddleware:
    """The checks and headers above, around everything else. Applied once per request even
    when stacked twice (the app and the API test clients both add it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get(_SEEN):
            await self.app(scope, receive, send)
            return
        scope[_SEEN] = True
        origins, extra = _policy()
        headers = Headers(scope=scope)
        _use_forwarded_client(scope, headers)
        path: str = scope.get("path", "")
        if scope["type"] == "websocket":
            if is_cross_site(headers, origins):
                # Closing before accepting answers the handshake with 403.
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        refusal = None
        if is_cross_site(headers, origins) and (
                scope["method"] in UNSAFE_METHODS or path.startswith(EVENT_PATH)):
            refusal = _refusal(403, "cross_origin", "Requests from other sites are not accepted.")
        elif scope["method"] in UNSAFE_METHODS and not _acceptable_body(path, headers):
            refusal = _refusal(415, "unsupported_media_type",
                               "Send the request body as JSON (Content-Type: application/json).")
        if refusal is not None:
            start, body = refusal
            await self._send_with_headers(start, send, path, extra)
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message: Message) -> None:
            await self._send_with_headers(message, send, path, extra)

        await self.app(scope, receive, send_with_headers)

    @staticmethod
    async def _send_with_headers(message: Message, send: Send, path: str,
                                 extra: list[tuple[str, str]]) -> None:
        if message["type"] == "http.response.start":
            message.setdefault("headers", [])
            out = MutableHeaders(scope=message)
            for name, value in extra:
                out[name] = value
            content_type = out.get("content-type", "")
            if path.startswith("/api/") or content_type.startswith("text/html"):
                out["cache-control"] = "no-store"
        await send(message)


def is_operator(request: Request) -> bool:
    """Whether `request` may read operator surfaces (/api/metrics, /api/ready's details): it
    carries `Authorization: Bearer <AETHER_METRICS_TOKEN>`, or no token is set, this is not
    production, and it comes straight from this machine (loopback, not forwarded)."""
    settings = get_settings()
    token = settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                                  token.encode())
    if settings.is_production or "x-forwarded-for" in request.headers:
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def operator_refusal() -> JSONResponse:
    """401 in the JSON error shape, asking for the bearer token."""
    response = JSONResponse(
        {"error": {"code": "unauthenticated",
                   "message": "Send Authorization: Bearer <AETHER_METRICS_TOKEN>."}},
        status_code=401)
    response.headers["WWW-Authenticate"] = 'Bearer realm="aether-operator"'
    return response


def security_middleware(app: ASGIApp) -> ASGIApp:
    """`app` behind the origin checks and security headers."""
    return SecurityMiddleware(app)
