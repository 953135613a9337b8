"""What an attacker tries against origins, framing, operator surfaces, proxies and inputs."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from aether_web.api.app import api_transformer
from aether_web.api.hooks import MAX_BYTES, sign
from aether_web.api.security import content_security_policy, response_headers, security_middleware
from aether_web.client_address import forwarded_client
from aether_web.settings import Settings, get_settings

OWN = "http://localhost:3000"
EVIL = "https://evil.example"
RIGHT = "correct-horse-battery"
OPERATOR = {"Authorization": "Bearer test-metrics-token"}
HOOK_SECRET = "test-hook-secret-0001"


def _form_login(client, email, headers):
    return client.post("/api/auth/login", data={"email": email, "password": RIGHT},
                       headers=headers, follow_redirects=False)


# Cross-origin reads and CSRF ---------------------------------------------------------------


def test_reflex_cors_does_not_let_another_origin_read_with_credentials(client_for, make_user):
    from reflex.app import App

    client = client_for(make_user())
    App._add_cors(client.app)  # what Reflex does to our API app, with our rxconfig
    evil = client.get("/api/auth/me", headers={"Origin": EVIL})
    assert evil.status_code == 200  # the request runs, but the browser gets no read access
    assert "access-control-allow-origin" not in evil.headers
    own = client.get("/api/auth/me", headers={"Origin": OWN})
    assert own.headers["access-control-allow-origin"] == OWN
    preflight = client.options("/api/billing/checkout", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 400 and "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize("headers", [{"Origin": EVIL}, {"Origin": "null"},
                                     {"Sec-Fetch-Site": "cross-site"},
                                     {"Sec-Fetch-Site": "same-site"}])
def test_login_csrf_is_refused(api, make_user, headers):
    user = make_user()
    r = _form_login(api, user.email, headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "cross_origin"
    assert "set-cookie" not in r.headers


def test_cross_site_signup_and_logout_are_refused(client_for, make_user, api):
    r = api.post("/api/auth/signup", data={"email": "csrf@example.com",
                                           "password": "long-password-1"},
                 headers={"Origin": EVIL}, follow_redirects=False)
    assert r.status_code == 403
    client = client_for(make_user())
    assert client.post("/api/auth/logout", headers={"Origin": EVIL}).status_code == 403
    assert client.get("/api/auth/me").status_code == 200  # still signed in


def test_same_origin_forms_and_non_browsers_still_work(api, make_user):
    user = make_user()
    assert _form_login(api, user.email, {"Origin": OWN}).status_code == 303
    assert _form_login(api, user.email, {"Sec-Fetch-Site": "same-origin"}).status_code == 303
    assert _form_login(api, user.email, {}).status_code == 303  # curl, no browser headers


def test_reflex_websocket_from_another_origin_is_refused():
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def echo(scope, receive, send):
        socket = WebSocket(scope, receive, send)
        await socket.accept()
        await socket.send_text("hello")
        await socket.close()

    client = TestClient(security_middleware(echo))
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(
            "/_event/?EIO=4&transport=websocket", headers={"Origin": EVIL}):
        pass
    assert refused.value.code == 1008
    with client.websocket_connect("/_event/?EIO=4&transport=websocket",
                                  headers={"Origin": OWN}) as socket:
        assert socket.receive_text() == "hello"


def test_json_routes_refuse_other_content_types(client_for, make_user, api):
    client = client_for(make_user())
    r = client.post("/api/billing/checkout", content=b'{"plan": "pro"}',
                    headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    body = json.dumps({"event_id": "e1", "project_id": "p", "machine_id": "m"}).encode()
    hook = api.post("/api/hooks/vm/started", content=body,
                    headers={"Aether-Signature": sign(body, HOOK_SECRET)})
    assert hook.status_code == 415
    assert client.post("/api/auth/logout").status_code == 200  # no body, no type needed


# Framing and headers -----------------------------------------------------------------------


def test_every_answer_carries_the_security_headers(api):
    for response in (api.get("/api/health"), api.get("/api/nowhere"),
                     api.post("/api/auth/login", json={})):
        headers = response.headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in headers  # not production


def test_csp_names_only_our_origin_socket_sentry_and_analytics():
    settings = Settings.model_construct(
        env="production", public_url="https://app.example.com",
        sentry_browser_dsn="https://k3y@o12.ingest.sentry.io/34",
        plausible_domain="app.example.com",
        plausible_script_url="https://plausible.io/js/script.js")
    csp = dict(d.strip().split(" ", 1) for d in content_security_policy(settings).split(";"))
    assert csp["default-src"] == "'self'"
    assert csp["connect-src"].split() == ["'self'", "wss://app.example.com",
                                          "https://o12.ingest.sentry.io", "https://plausible.io"]
    assert set(csp["script-src"].split()) == {"'self'", "'unsafe-inline'",
                                              "https://js.sentry-cdn.com",
                                              "https://browser.sentry-cdn.com",
                                              "https://plausible.io"}
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    headers = dict(response_headers(settings))
    assert headers["strict-transport-security"].startswith("max-age=")
    plain = content_security_policy(Settings.model_construct(env="production",
                                                             public_url="https://a.example"))
    assert "sentry" not in plain and "plausible" not in plain
    split = content_security_policy(settings, "https://api.example.com")
    assert "connect-src 'self' https://api.example.com wss://app.example.com " \
        "wss://api.example.com " in split


# Operator surfaces -------------------------------------------------------------------------


def test_metrics_need_the_bearer_token(api):
    assert api.get("/api/metrics").status_code == 401
    wrong = api.get("/api/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthenticated"
    assert api.get("/api/metrics", headers=OPERATOR).status_code == 200


def test_metrics_without_a_token_open_on_loopback_in_development_only(monkeypatch, engine):
    settings = get_settings()
    monkeypatch.setattr(settings, "metrics_token", "")
    local = TestClient(api_transformer(), client=("127.0.0.1", 5000))
    remote = TestClient(api_transformer(), client=("203.0.113.1", 5000))
    assert local.get("/api/metrics").status_code == 200
    assert remote.get("/api/metrics").status_code == 401
    assert local.get("/api/metrics", headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 401
    monkeypatch.setattr(settings, "env", "production")
    assert local.get("/api/metrics").status_code == 401


def test_ready_tells_the_public_only_ready_or_not(monkeypatch, api):
    import aether_web.api.health as health

    assert api.get("/api/ready").json() == {"status": "ready"}
    assert "jobs" in api.get("/api/ready", headers=OPERATOR).json()
    monkeypatch.setattr(health, "_readiness", lambda: 1 / 0)
    down = api.get("/api/ready")
    assert down.status_code == 503
    assert down.json() == {"status": "unavailable",
                           "error": {"code": "not_ready", "message": "The service is not ready."}}


# The client's address ----------------------------------------------------------------------


def test_forged_forwarded_for_is_ignored_without_trusted_proxies():
    assert forwarded_client("203.0.113.9", "1.2.3.4", []) == "203.0.113.9"


def test_client_address_is_the_rightmost_untrusted_hop():
    from ipaddress import ip_network

    proxies = [ip_network("10.0.0.0/8")]
    # The client forged "1.2.3.4"; our proxy 10.0.0.2 appended the address it saw.
    assert forwarded_client("10.0.0.2", "1.2.3.4, 198.51.100.7", proxies) == "198.51.100.7"
    assert forwarded_client("10.0.0.2", "1.2.3.4, 198.51.100.7, 10.0.0.9", proxies) == \
        "198.51.100.7"
    assert forwarded_client("203.0.113.5", "198.51.100.7", proxies) == "203.0.113.5"


def test_sessions_record_the_address_from_the_trusted_proxy_list(monkeypatch, engine, make_user):
    from sqlmodel import Session, select

    from aether_web.models import AuthSession

    monkeypatch.setattr(get_settings(), "trusted_proxies", "10.0.0.0/8")
    user = make_user()
    proxy = TestClient(security_middleware(api_transformer()), client=("10.1.2.3", 5000))
    r = proxy.post("/api/auth/login", json={"email": user.email, "password": RIGHT},
                   headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.23"})
    assert r.status_code == 200
    with Session(engine) as s:
        assert s.exec(select(AuthSession.ip)).all() == ["198.51.100.23"]


# Bad input: the JSON error shape, never a 500, never a Sentry event ------------------------


@pytest.fixture
def no_sentry(monkeypatch):
    import aether_web.api.responses as responses

    events = []
    monkeypatch.setattr(responses.sentry_sdk, "capture_exception", events.append)
    yield events
    assert events == []


@pytest.mark.parametrize("fields, bad", [
    ({"email": "nul\x00@example.com"}, "email"),
    ({"email": "ctl\x07@example.com"}, "email"),
    ({"name": "Eve\x00"}, "name"),
    ({"name": "Invoice \u202egnp.exe"}, "name"),      # right-to-left override
    ({"name": "ad\u200bmin"}, "name"),                 # zero-width space
    ({"name": "a\u2066b\u2069"}, "name"),              # bidi isolate
    ({"name": "\u3164"}, "name"),                      # Hangul filler, looks blank
    ({"name": "x" * 121}, "name"),
])
def test_signup_refuses_hidden_characters(api, no_sentry, fields, bad):
    body = {"email": "ok@example.com", "password": "long-password-1", **fields}
    r = api.post("/api/auth/signup", json=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input"
    assert bad in r.json()["error"]["fields"]


def test_names_in_other_scripts_are_fine(api):
    r = api.post("/api/auth/signup", json={"email": "zoe@example.com", "name": "Zoë 佐藤 عائشة",
                                           "password": "long-password-1"})
    assert r.status_code == 200


def test_login_with_a_nul_byte_is_a_plain_refusal(api, no_sentry):
    r = api.post("/api/auth/login", json={"email": "a\x00@example.com", "password": RIGHT})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"


@pytest.mark.parametrize("raw", [b"[" * 100_000 + b"]" * 100_000,
                                 b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
                                 b'{"a":' + b"[" * 17 + b"1" + b"]" * 17 + b"}"])
def test_over_deep_json_is_refused(api, no_sentry, raw):
    r = api.post("/api/auth/login", content=raw, headers={"Content-Type": "application/json"})
    from aether_web.api.limits import DEFAULT_BODY_LIMIT

    if len(raw) > DEFAULT_BODY_LIMIT:  # refused for its size before it is read (api/limits.py)
        assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
        return
    assert r.status_code == 400 and r.json()["error"]["code"] in ("json_too_deep",
                                                                  "malformed_json")
    if raw.startswith(b"{"):
        assert r.json()["error"]["code"] == "json_too_deep"


def _hook(api, path, body):
    raw = json.dumps(body).encode()
    return api.post(path, content=raw, headers={"Aether-Signature": sign(raw, HOOK_SECRET),
                                                "Content-Type": "application/json"})


@pytest.mark.parametrize("bytes_used", [2**63, 2**64 + 5, MAX_BYTES + 1, -1, 1.5])
def test_out_of_range_byte_counts_are_refused(api, make_user, make_project, no_sentry,
                                              bytes_used):
    project = make_project(make_user())
    r = _hook(api, "/api/hooks/storage", {"event_id": "e-big", "project_id": str(project.id),
                                          "bytes_used": bytes_used})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_body"


def test_the_largest_byte_counts_add_up_without_overflow(api, make_user, make_project,
                                                         no_sentry):
    user = make_user(plan="team")
    projects = [make_project(user) for _ in range(3)]
    for i, project in enumerate(projects):
        r = _hook(api, "/api/hooks/storage", {"event_id": f"e-max-{i}",
                                              "project_id": str(project.id),
                                              "bytes_used": MAX_BYTES})
        assert r.status_code == 200, r.text
    check = _hook(api, "/api/hooks/storage/check", {"project_id": str(projects[0].id),
                                                    "additional_bytes": MAX_BYTES})
    assert check.status_code == 200, check.text


def test_a_month_of_the_largest_sizes_on_every_project_fits(engine, make_user, make_project,
                                                             client_for):
    """20 Pro projects at the largest accepted size for a month: 16 PB-months of GB-hours
    (numeric(14, 4) overflowed on PostgreSQL and failed the hourly accrual for everyone)."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from sqlmodel import Session, select

    from aether_web.db import transaction
    from aether_web.models import UsageMonthly
    from aether_web.services.storage_accrual import accrue_storage, record_storage

    start = datetime(2024, 1, 1, tzinfo=UTC)
    user = make_user(plan="pro")
    projects = [make_project(user) for _ in range(20)]
    with transaction(engine) as s:
        for i, project in enumerate(projects):
            record_storage(s, event_id=f"big-{i}", project_id=project.id, bytes_used=MAX_BYTES,
                           now=start)
    with transaction(engine) as s:
        accrue_storage(s, now=start + timedelta(days=31))
    with Session(engine) as s:
        [month] = s.exec(select(UsageMonthly)).all()
    # each project: 2^50 bytes = 1,125,899.9 GB for 744 hours, accrued to 1/10,000 GB-hour
    assert month.storage_gb_hours == 20 * Decimal("837669530.6909")
    usage = client_for(user).get("/api/billing/usage")  # this month: the same sizes, billed
    assert usage.status_code == 200, usage.text
    assert usage.json()["usage"]["storage_bytes"] == 20 * MAX_BYTES


def test_a_users_total_past_2_63_bytes_is_a_number_not_an_error(api, make_user, engine,
                                                                no_sentry):
    """Team has no project cap: 8,193 projects at 2^50 bytes pass 2^63 in all (SQLite's sum()
    raised 'integer overflow', answered as a 503 the orchestrator would retry forever)."""
    from sqlmodel import Session, select

    from aether_web.models import Project

    user = make_user(plan="team")
    with Session(engine) as s:
        s.add_all([Project(user_id=user.id, name=f"p{i}", storage_bytes=MAX_BYTES)
                   for i in range(8_193)])
        s.commit()
        project_id = s.exec(select(Project.id).where(Project.user_id == user.id)
                            .limit(1)).one()
    check = _hook(api, "/api/hooks/storage/check", {"project_id": str(project_id),
                                                    "additional_bytes": MAX_BYTES})
    assert check.status_code == 200, check.text
    assert check.json()["allowed"] is True
    assert check.json()["storage_bytes"] >= 2**63


@pytest.mark.parametrize("field, value", [("event_id", "e\x00vil"), ("machine_id", "m\x00"),
                                          ("machine_type", "shared\x00")])
def test_hook_strings_with_nul_bytes_are_refused(api, make_user, make_project, no_sentry,
                                                 field, value):
    project = make_project(make_user())
    body = {"event_id": "e-nul", "project_id": str(project.id), "machine_id": "m1", field: value}
    r = _hook(api, "/api/hooks/vm/started", body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_body"


def test_support_search_refuses_huge_and_hidden_strings(client_for, make_user, no_sentry):
    admin = client_for(make_user(is_admin=True))
    long = admin.get("/api/admin/users", params={"email": "a" * 60_000})
    assert long.status_code == 400 and long.json()["error"]["code"] == "invalid_query"
    nul = admin.get("/api/admin/users", params={"email": "ab\x00cd"})
    assert nul.status_code == 400 and nul.json()["error"]["code"] == "invalid_query"
    assert admin.get("/api/admin/users", params={"email": "example"}).status_code == 200


@pytest.mark.parametrize("event_id", ["evt_\x00", "evt_\u202e1", "e" * 256])
def test_a_webhook_replay_of_an_impossible_id_is_a_400(client_for, make_user, no_sentry,
                                                       event_id):
    """A NUL in the id reached PostgreSQL and answered 500."""
    from urllib.parse import quote

    admin = client_for(make_user(is_admin=True))
    r = admin.post(f"/api/admin/webhooks/{quote(event_id)}/replay", json={})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_event_id"
    missing = admin.post("/api/admin/webhooks/evt_unknown/replay", json={})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "event_not_found"


def test_downstream_sees_the_forwarded_client_only_behind_a_trusted_proxy(monkeypatch):
    from starlette.responses import PlainTextResponse

    async def who(scope, receive, send):
        await PlainTextResponse(scope["client"][0])(scope, receive, send)

    forged = {"X-Forwarded-For": "6.6.6.6, 198.51.100.23"}
    direct = TestClient(security_middleware(who), client=("203.0.113.8", 5000))
    assert direct.get("/", headers=forged).text == "203.0.113.8"  # nobody trusted
    monkeypatch.setattr(get_settings(), "trusted_proxies", "10.0.0.0/8")
    assert direct.get("/", headers=forged).text == "203.0.113.8"  # not from the proxy
    proxied = TestClient(security_middleware(who), client=("10.1.2.3", 5000))
    assert proxied.get("/", headers=forged).text == "198.51.100.23"


def test_production_says_so_when_a_proxy_is_missing_from_the_trusted_list(monkeypatch):
    """Without it every client behind the load balancer is one address: the sign-up limit is
    then the whole site's, and a stranger's wrong guesses hold back the account's owner."""
    import logging

    from starlette.responses import PlainTextResponse

    import aether_web.api.security as security

    async def who(scope, receive, send):
        await PlainTextResponse(scope["client"][0])(scope, receive, send)

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("aether_web").addHandler(handler)
    security._warn_untrusted_proxy.cache_clear()
    try:
        proxied = TestClient(security_middleware(who), client=("10.1.2.3", 5000))
        forwarded = {"X-Forwarded-For": "198.51.100.23"}
        assert proxied.get("/", headers=forwarded).text == "10.1.2.3"
        assert records == []  # development: nothing to say
        monkeypatch.setattr(get_settings(), "env", "production")
        for _ in range(3):
            assert proxied.get("/", headers=forwarded).text == "10.1.2.3"
        assert proxied.get("/").text == "10.1.2.3"  # no header: nothing to say
        assert [r.getMessage() for r in records] == [
            "X-Forwarded-For from 10.1.2.3, which is not in AETHER_TRUSTED_PROXIES: every "
            "client it forwards counts as one address for the log-in and sign-up limits"]
        monkeypatch.setattr(get_settings(), "trusted_proxies", "10.0.0.0/8")
        assert proxied.get("/", headers=forwarded).text == "198.51.100.23"
        assert len(records) == 1
    finally:
        logging.getLogger("aether_web").removeHandler(handler)
