import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

from starlette.routing import Route

# /api/metrics and /api/ready's details need the operator token (tests/conftest.py).
OPERATOR = {"Authorization": "Bearer test-metrics-token"}


def test_health_and_ready(api):
    assert api.get("/api/health").json() == {"status": "ok"}
    ready = api.get("/api/ready", headers=OPERATOR)
    assert ready.status_code == 200
    body = ready.json()
    assert body["database"] == "ok"
    assert "purge_expired_sessions" in body["jobs"]


def test_ready_reports_an_unreachable_database(monkeypatch, api):
    import aether_web.api.health as health

    def broken(_details):
        raise OSError("connection refused")

    monkeypatch.setattr(health, "_readiness", broken)
    r = api.get("/api/ready", headers=OPERATOR)
    assert r.status_code == 503 and r.json()["error"]["code"] == "database_unavailable"


def test_public_readiness_only_pings_the_database(monkeypatch, api):
    """The public answer needs no job status: a probe never pays for the operators' details."""
    import aether_web.api.health as health

    def no_job_queries(_session):
        raise AssertionError("job statuses read for a public readiness probe")

    monkeypatch.setattr(health, "job_statuses", no_job_queries)
    r = api.get("/api/ready")
    assert r.status_code == 200 and r.json() == {"status": "ready"}


def test_readiness_runs_on_its_own_threads_while_the_shared_pool_is_full(monkeypatch, api):
    """A burst that takes every place in Starlette's shared thread pool doesn't queue the
    readiness probe behind it."""
    import anyio.to_thread

    calls = []
    real = anyio.to_thread.run_sync

    async def spy(func, *args, limiter=None, **kwargs):
        calls.append((limiter, anyio.to_thread.current_default_thread_limiter()))
        return await real(func, *args, limiter=limiter, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", spy)
    assert api.get("/api/ready").status_code == 200
    assert calls, "the readiness check ran in no worker thread"
    assert all(used is not None and used is not shared for used, shared in calls)


class _Collector(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        raw = self.rfile.read(length)
        if self.headers.get("content-encoding") == "gzip":
            import gzip

            raw = gzip.decompress(raw)
        _Collector.bodies.append(raw)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_server_error_reaches_sentry_scrubbed_and_answers_json(engine):
    """A local HTTP endpoint stands in for Sentry: the event arrives without personal data."""
    import sentry_sdk
    from starlette.testclient import TestClient

    from aether_web.api.app import create_api
    from aether_web.observability import init_sentry

    server = HTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dsn = f"http://publickey@127.0.0.1:{server.server_port}/1"
    _Collector.bodies.clear()
    # Built at run time so the values can't appear in the source lines Sentry sends.
    cookie, bearer = uuid.uuid4().hex, uuid.uuid4().hex
    assert init_sentry(dsn)
    try:
        api = create_api()

        async def boom(request):
            raise RuntimeError("lookup failed for alice@example.com")

        api.router.routes.insert(0, Route("/api/boom", boom))
        with TestClient(api, raise_server_exceptions=False) as client:
            r = client.get("/api/boom", headers={"Cookie": f"aether_session={cookie}",
                                                 "Authorization": f"Bearer {bearer}"})
        assert r.status_code == 500
        assert r.json()["error"]["code"] == "internal_error"
        sentry_sdk.flush(5)
    finally:
        sentry_sdk.get_client().close()
        server.shutdown()
    payload = b"\n".join(_Collector.bodies)
    assert b"RuntimeError" in payload
    assert b"alice@example.com" not in payload
    assert cookie.encode() not in payload and bearer.encode() not in payload
    events = [json.loads(line) for line in payload.splitlines()
              if line.startswith(b"{") and b'"exception"' in line]
    assert events, "no error event arrived"


def test_unreadable_socket_io_packets_send_nothing_to_sentry():
    """A real socket.io server as Reflex runs it (engineio's logger, our logging setup):
    packets no handler could read stay out of Sentry; a handler's own error still arrives."""
    import logging
    import time

    import sentry_sdk
    import socketio
    from starlette.testclient import TestClient

    from aether_web.observability import ClientPacketErrors, configure_logging, init_sentry

    configure_logging()
    assert any(isinstance(f, ClientPacketErrors)
               for f in logging.getLogger("engineio.server").filters)
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Collector.bodies.clear()
    assert init_sentry(f"http://publickey@127.0.0.1:{server.server_port}/1")
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=[],
                               transports=["websocket"])

    @sio.on("event")
    async def event(sid, data):
        raise RuntimeError("a bug in a handler")

    try:
        with TestClient(socketio.ASGIApp(sio)) as client, client.websocket_connect(
                "/socket.io/?EIO=4&transport=websocket", headers={"Upgrade": "websocket"}) as ws:
            ws.receive_text()  # engine.io's open packet
            ws.send_text("40")
            ws.receive_text()
            for packet in ['42["event",' + "[" * 5_000 + "]" * 5_000 + "]", "42[", "49",
                           "4{", "42[]"]:
                ws.send_text(packet)
            ws.send_text('42["event", {}]')  # reaches the handler, which raises
            time.sleep(1.0)  # engineio runs each packet's handler as a task of its own
        sentry_sdk.flush(5)
    finally:
        sentry_sdk.get_client().close()
        server.shutdown()
    events = [json.loads(line) for body in _Collector.bodies for line in body.splitlines()
              if line.startswith(b"{") and b'"exception"' in line]
    kinds = [e["exception"]["values"][-1]["type"] for e in events]
    assert kinds == ["RuntimeError"], kinds
