"""Redis restarts under two workers: sign-ins live in the database, so nobody is signed out;
page connections (Reflex's socket, which keeps its token and state in Redis) connect again."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx
import socketio

from tools.local_stack import LocalStack

RECOVERY_BOUND_SECONDS = 30
NAMESPACE = "/_event"  # Reflex's event namespace (rx.Config.get_event_namespace())


def _page_connects(url: str, token: str) -> bool:
    """A page's socket: connect with its token (Reflex links it in Redis), ping, get pong."""
    client = socketio.Client(reconnection=False)
    pong = threading.Event()
    client.on("ping", lambda data=None: pong.set(), namespace=NAMESPACE)
    try:
        client.connect(f"{url}?token={token}", socketio_path="/_event", namespaces=[NAMESPACE],
                       transports=["websocket"], wait_timeout=10)
        client.emit("ping", namespace=NAMESPACE)
        return pong.wait(10)
    except Exception as exc:
        print(f"page socket: {exc!r}")
        return False
    finally:
        client.disconnect()


def test_a_redis_restart_signs_nobody_out_and_pages_reconnect(private_redis, tmp_path: Path):
    stack = LocalStack(db_url=f"sqlite:///{tmp_path / 'r.db'}", with_stripe=False,
                       backend_only=True, workers=2, log_dir=tmp_path / "logs",
                       extra_env={"REFLEX_REDIS_URL": private_redis.url,
                                  "AETHER_SCHEDULER_ENABLED": "false"})
    stack.start(timeout=240)
    try:
        email = f"redis-{uuid.uuid4().hex[:8]}@example.com"
        with httpx.Client(base_url=stack.url) as browser:
            r = browser.post("/api/auth/signup", json={"email": email,
                                                       "password": "correct-horse-battery-9"})
            assert r.status_code == 200, r.text
            token = str(uuid.uuid4())
            assert _page_connects(stack.url, token)

            private_redis.stop()
            down_health = browser.get("/api/health").status_code
            while_down = browser.get("/api/auth/me")
            page_while_down = _page_connects(stack.url, token)
            private_redis.start()
            up_at = time.monotonic()
            reconnected = None
            while time.monotonic() - up_at < RECOVERY_BOUND_SECONDS + 30:
                if _page_connects(stack.url, token):
                    reconnected = time.monotonic() - up_at
                    break
                time.sleep(0.5)
            me = browser.get("/api/auth/me")
        alive = all(p.poll() is None for p in stack._procs)
    finally:
        stack.stop()
    print(f"\nRedis down: /api/health {down_health}, signed-in /api/auth/me "
          f"{while_down.status_code}, a page's socket {'connected' if page_while_down else 'failed'}"
          f"; a page connected again "
          f"{'never' if reconnected is None else f'{reconnected:.1f} s'} after Redis was back")
    assert down_health == 200
    assert not page_while_down  # the socket check does depend on Redis
    assert while_down.status_code == 200  # sign-in doesn't depend on Redis
    assert me.status_code == 200 and me.json()["user"]["email"] == email  # nobody signed out
    assert reconnected is not None and reconnected <= RECOVERY_BOUND_SECONDS
    assert alive
