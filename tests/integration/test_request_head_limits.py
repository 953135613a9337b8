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


# Reflex's websocket (/_event) --------------------------------------------------------------

EVENT_SOCKET = "/_event/?EIO=4&transport=websocket"


def _socket_url(prod_server) -> str:
    return prod_server.url.replace("http://", "ws://") + EVENT_SOCKET


def test_a_websocket_message_over_the_limit_closes_the_socket(prod_server):
    """16 MB of one letter deflate to a few KiB: uvicorn's default 16 MiB bound let each such
    connection hold 16 MiB (and more while joining and decoding) of a worker."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(_socket_url(prod_server), origin=prod_server.url, compression="deflate",
                 open_timeout=HANG_GUARD) as ws:
        assert ws.recv(timeout=HANG_GUARD).startswith("0{")  # engine.io's open packet
        ws.send("4" + "a" * (serving.MAX_WS_MESSAGE_BYTES + 1))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=HANG_GUARD)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
    with connect(_socket_url(prod_server), origin=prod_server.url, compression="deflate",
                 open_timeout=HANG_GUARD) as ws:  # events of any realistic size still go
        ws.recv(timeout=HANG_GUARD)
        ws.send("40")
        assert ws.recv(timeout=HANG_GUARD).startswith("40")


def test_the_websocket_bound_is_above_socket_ios_own():
    from reflex_base.environment import environment

    socket_io_limit = environment.REFLEX_SOCKET_MAX_HTTP_BUFFER_SIZE.get()
    assert socket_io_limit <= serving.MAX_WS_MESSAGE_BYTES


def _whole_answer(answer: bytes) -> bool:
    """The head is complete, and so is a refusal's JSON body."""
    head, end, body = answer.partition(b"\r\n\r\n")
    return bool(end) and (not head.startswith(b"HTTP/1.1 4") or body.endswith(b"}"))


def _handshake(prod_server, extra_headers: str) -> bytes:
    port = int(prod_server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD) as sock:
        sock.sendall((f"GET {EVENT_SOCKET} HTTP/1.1\r\nHost: localhost:{port}\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      f"Sec-WebSocket-Version: 13\r\nOrigin: {prod_server.url}\r\n"
                      f"{extra_headers}\r\n").encode())
        answer = b""
        while not _whole_answer(answer):
            data = sock.recv(65_536)
            if not data:
                break
            answer += data
    return answer


def test_a_websocket_handshake_over_the_header_limit_is_431(prod_server):
    """Its headers would stay in the worker's memory for as long as the socket is open."""
    padding = "".join(f"X-Pad-{i}: {'p' * 8_000}\r\n" for i in range(5))  # 40 KB
    answer = _handshake(prod_server, padding)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b'"code": "headers_too_large"' in answer
    assert _handshake(prod_server, "X-Pad: " + "p" * 8_000 + "\r\n").startswith(
        b"HTTP/1.1 101 ")


def test_unreadable_socket_io_packets_are_one_warning_each(prod_server):
    """Malformed or over-deep JSON and unknown packet types: socket.io drops them; its
    traceback at error level (a Sentry event each) becomes one warning line."""
    from websockets.sync.client import connect

    log = prod_server.log_dir / "app.log"
    before = log.read_text(errors="replace")
    garbage = ['42["event",' + "[" * 5_000 + "]" * 5_000 + "]", "42[", "49", "4{", "42[]"]
    with connect(_socket_url(prod_server), origin=prod_server.url,
                 open_timeout=HANG_GUARD) as ws:
        ws.recv(timeout=HANG_GUARD)
        ws.send("40")
        ws.recv(timeout=HANG_GUARD)
        for packet in garbage:
            ws.send(packet)
        ws.send("3")  # a pong: the socket still takes packets after the garbage
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        added = log.read_text(errors="replace")[len(before):]
        if added.count("dropped an unreadable socket.io packet") >= len(garbage):
            break
        time.sleep(0.2)
    assert added.count("dropped an unreadable socket.io packet") == len(garbage), added[-2000:]
    assert "handler error" not in added and "Traceback" not in added
