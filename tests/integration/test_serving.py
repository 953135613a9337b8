"""The prod server's protocol closes connections whose headers never finish, and refuses heads
over its ceiling (serving.py)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from aether_web import serving
from tools.local_stack import free_port, server_env


async def _ok(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _serve(monkeypatch):
    monkeypatch.setattr(serving.HeaderDeadlineProtocol, "header_timeout", 0.5)
    port = free_port()
    config = uvicorn.Config(_ok, host="127.0.0.1", port=port, http=serving.HeaderDeadlineProtocol,
                            log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    return server, thread, port


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_slow_headers_are_cut_off_and_whole_requests_served(monkeypatch):
    server, thread, port = _serve(monkeypatch)
    try:
        with socket.create_connection(("127.0.0.1", port)) as ok:
            ok.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            ok.settimeout(10)
            assert b" 200 " in ok.recv(1024)
        with socket.create_connection(("127.0.0.1", port)) as slow:
            slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the headers never end
            assert _closed_within(slow, 15)
        with socket.create_connection(("127.0.0.1", port)) as silent:
            assert _closed_within(silent, 15)  # a connection that sends nothing
    finally:
        server.should_exit = True
        thread.join(10)


def _read_all(sock: socket.socket) -> bytes:
    sock.settimeout(15)
    answer = b""
    try:
        while data := sock.recv(65_536):
            answer += data
    except (TimeoutError, ConnectionResetError):
        pass
    return answer


def test_a_head_over_the_ceiling_is_431_and_bodies_do_not_count(monkeypatch):
    monkeypatch.setattr(serving.HeaderDeadlineProtocol, "max_head_bytes", 4096)
    server, thread, port = _serve(monkeypatch)
    try:
        with socket.create_connection(("127.0.0.1", port)) as kept:
            # A body ten times the ceiling, then a second request on the same connection.
            body = b"x" * 40_960
            kept.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body) + b"GET / HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n")
            assert _read_all(kept).count(b" 200 OK") == 2
        with socket.create_connection(("127.0.0.1", port)) as big:
            big.sendall(b"GET /?x=" + b"a" * 5000)  # never finished
            answer = _read_all(big)
            assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
            assert answer.endswith(b'"code": "headers_too_large", "message": "The request '
                                   b'line and headers are too large (at most 4096 bytes)."}}')
        with socket.create_connection(("127.0.0.1", port)) as header:
            header.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000)
            assert _read_all(header).startswith(b"HTTP/1.1 431 ")
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_prod_server_uses_this_worker():
    args = server_env(2)["GUNICORN_CMD_ARGS"]
    assert "--worker-class aether_web.serving.AetherUvicornWorker" in args
    assert "--workers 2" in args
    assert f"--graceful-timeout {serving.GRACEFUL_TIMEOUT_SECONDS}" in args
