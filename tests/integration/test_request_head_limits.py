"""Over-long URLs and headers are answered at once by the prod server (api/limits.py, and the
protocol's ceiling in serving.py), in the error shape, never left hanging or served."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from aether_web import serving
from aether_web.api import limits
from tools.local_stack import LocalStack

HANG_GUARD = 15.0  # seconds: only there so that a hang fails instead of blocking the run


@pytest.fixture(scope="module")
def prod_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("head-limits")
    stack = LocalStack(db_url=f"sqlite:///{tmp / 'h.db'}", with_stripe=False, backend_only=True,
                       log_dir=tmp / "logs", extra_env={"AETHER_SCHEDULER_ENABLED": "false"})
    stack.start(timeout=240)
    try:
        yield stack
    finally:
        stack.stop()


def _error(response: httpx.Response) -> dict:
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]


def test_a_60k_query_string_is_414_in_the_error_shape(prod_server):
    r = httpx.get(f"{prod_server.url}/api/health", params={"x": "a" * 60_000},
                  timeout=HANG_GUARD)
    assert r.status_code == 414
    error = _error(r)
    assert error["code"] == "uri_too_long"
    assert str(limits.MAX_URL_BYTES) in error["message"]
    assert r.headers["x-content-type-options"] == "nosniff"  # the security headers still apply


def test_a_60k_path_is_414(prod_server):
    r = httpx.get(f"{prod_server.url}/api/{'a' * 60_000}", timeout=HANG_GUARD)
    assert r.status_code == 414 and _error(r)["code"] == "uri_too_long"


def test_urls_within_the_limit_are_served(prod_server):
    r = httpx.get(f"{prod_server.url}/api/health", params={"x": "a" * 4_000},
                  timeout=HANG_GUARD)
    assert r.status_code == 200


def test_headers_over_the_limit_are_431(prod_server):
    r = httpx.get(f"{prod_server.url}/api/health", headers={"x-big": "a" * 60_000},
                  timeout=HANG_GUARD)
    assert r.status_code == 431 and _error(r)["code"] == "headers_too_large"
    r = httpx.get(f"{prod_server.url}/api/health", headers={"x-big": "a" * 8_000},
                  timeout=HANG_GUARD)
    assert r.status_code == 200


def test_a_head_over_the_protocols_ceiling_is_refused_before_it_ends(prod_server):
    """More than MAX_HEAD_BYTES of request line, never finished: answered 431 and closed
    without waiting for the rest (nor for the header deadline)."""
    port = int(prod_server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /api/health?x=")
        chunk = b"a" * 65_536
        sent = 0
        try:
            while sent <= serving.MAX_HEAD_BYTES + len(chunk):
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed as soon as the head passed the ceiling
        answer = b""
        try:
            while data := sock.recv(65_536):
                answer += data
        except ConnectionResetError:
            pass
    assert time.monotonic() - started < serving.HEADER_TIMEOUT
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b'"code": "headers_too_large"' in answer
