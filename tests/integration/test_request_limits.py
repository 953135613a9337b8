"""Request bodies are bounded before they are read (api/limits.py)."""

from __future__ import annotations

import asyncio
import json

import pytest

from aether_web.api import limits
from aether_web.api.limits import body_limit_for, limit_request_bodies


def test_limits_per_route():
    assert body_limit_for("/api/hooks/vm/heartbeat") == 64 * 1024
    assert body_limit_for("/api/hooks/vm/started") == 64 * 1024
    assert body_limit_for("/api/billing/webhook") == 1024 * 1024
    assert body_limit_for("/api/auth/login") == limits.DEFAULT_BODY_LIMIT
    assert body_limit_for("/_event") == limits.DEFAULT_BODY_LIMIT
    assert limits.DEFAULT_BODY_LIMIT <= 64 * 1024


JSON = {"content-type": "application/json"}


def _error(response) -> dict:
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]


def test_login_body_over_the_limit_is_413_in_the_error_shape(api):
    r = api.post("/api/auth/login", content=b"email=a%40b.c&password=" + b"x" * 20_000,
                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert _error(r)["code"] == "body_too_large"


def test_hooks_take_64_kib_and_no_more(api):
    small = json.dumps({"pad": "x" * 60_000}).encode()
    big = json.dumps({"pad": "x" * 70_000}).encode()
    r = api.post("/api/hooks/vm/heartbeat", content=small, headers=JSON)
    assert r.status_code == 401  # unsigned: refused for its signature, not its size
    r = api.post("/api/hooks/vm/heartbeat", content=big, headers=JSON)
    assert r.status_code == 413 and _error(r)["code"] == "body_too_large"


def test_webhook_takes_1_mib(api):
    r = api.post("/api/billing/webhook", content=b"{" + b" " * 900_000 + b"}", headers=JSON)
    assert r.status_code == 400  # unsigned: refused for its signature, not its size
    r = api.post("/api/billing/webhook", content=b"x" * (1024 * 1024 + 1), headers=JSON)
    assert r.status_code == 413 and _error(r)["code"] == "body_too_large"


def test_chunked_body_without_length_is_counted(api):
    def chunks():
        for _ in range(10):
            yield b"x" * 8192

    r = api.post("/api/auth/login", content=chunks(), headers=JSON)
    assert r.status_code == 413 and _error(r)["code"] == "body_too_large"


# --- the middleware alone, with a receive() that shows how much was read ----------------


async def _reader_app(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def _run(headers, receive, path="/api/auth/login"):
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    asyncio.run(limit_request_bodies(_reader_app)(scope, receive, send))
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, body


def test_declared_length_over_the_limit_is_refused_without_reading():
    async def receive():
        raise AssertionError("the body must not be read")

    status, body = _run([(b"content-length", str(200 * 1024 * 1024).encode())], receive)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "body_too_large"


def test_streamed_body_stops_being_read_past_the_limit():
    pulled = 0

    async def receive():
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 4096, "more_body": True}  # endless

    status, _ = _run([], receive)
    assert status == 413
    assert pulled == limits.DEFAULT_BODY_LIMIT // 4096 + 1


def test_a_body_within_the_limit_reaches_the_app():
    parts = [b"a" * 1000, b"b" * 1000]

    async def receive():
        chunk = parts.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(parts)}

    status, body = _run([], receive)
    assert (status, body) == (200, b"2000")


def test_a_trickling_body_times_out_with_408(monkeypatch):
    monkeypatch.setattr(limits, "BODY_CHUNK_TIMEOUT", 0.2)

    async def receive():
        await asyncio.sleep(3600)

    status, body = _run([(b"content-length", b"100")], receive)
    assert status == 408
    assert json.loads(body)["error"]["code"] == "request_timeout"


@pytest.mark.parametrize("value", [b"abc", b"-1x"])
def test_a_bad_content_length_is_400(value):
    async def receive():
        raise AssertionError("not read")

    status, body = _run([(b"content-length", value)], receive)
    assert status == 400 and "error" in json.loads(body)


def test_url_and_header_limits_are_measured_as_sent():
    scope = {"type": "http", "path": "/api/x y", "raw_path": b"/api/x%20y",
             "query_string": b"a=1", "headers": [(b"host", b"h")]}
    assert limits.url_bytes(scope) == len(b"/api/x%20y?a=1")
    assert limits.header_bytes(scope) == len(b"host: h\r\n")
    assert limits.url_bytes({**scope, "query_string": b""}) == len(b"/api/x%20y")


def test_url_over_the_limit_is_414_and_at_the_limit_served(api):
    base = "/api/health?x="
    r = api.get(base + "a" * (limits.MAX_URL_BYTES - len(base)))
    assert r.status_code == 200
    r = api.get(base + "a" * (limits.MAX_URL_BYTES - len(base) + 1))
    assert r.status_code == 414 and _error(r)["code"] == "uri_too_long"


def test_headers_over_the_limit_are_431(api):
    r = api.get("/api/health", headers={"x-big": "a" * limits.MAX_HEADER_BYTES})
    assert r.status_code == 431 and _error(r)["code"] == "headers_too_large"
