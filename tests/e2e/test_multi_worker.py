"""Production shape: several backend workers sharing Reflex state through Redis. Sign-in works
across workers, and a job scheduled in every worker runs once for its tick."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.e2e.conftest import PASSWORD, form_ready
from tools.local_stack import ROOT, LocalStack

pytestmark = pytest.mark.e2e
WORKERS = 3
RECONCILE_EVERY = 900


def _redis_up() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def redis_stack():
    if not _redis_up():
        pytest.fail("Redis is not running at 127.0.0.1:6379 (see TOOLCHAIN: redis-server)")
    # Start well inside one reconcile tick, so every worker's start-up run claims the same one.
    into_tick = time.time() % RECONCILE_EVERY
    if into_tick > RECONCILE_EVERY - 90:
        time.sleep(RECONCILE_EVERY - into_tick + 1)
    tmp = Path(tempfile.mkdtemp(prefix="aether-redis-"))
    stack = LocalStack(
        db_url=f"sqlite:///{tmp / 'workers.db'}",
        web_dir=str(ROOT / ".web-e2e-workers"),
        log_dir=tmp / "logs",
        extra_env={"REFLEX_REDIS_URL": "redis://127.0.0.1:6379",
                   "AETHER_SCHEDULER_ENABLED": "true"},
        workers=WORKERS,
    )
    try:
        stack.start()
    except Exception:
        stack.stop()
        raise
    yield stack, tmp
    stack.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def test_workers_share_sessions_and_run_each_tick_once(redis_stack, browser):
    stack, tmp = redis_stack
    deadline = time.monotonic() + 30
    log_text = ""
    while time.monotonic() < deadline:
        log_text = (tmp / "logs" / "app.log").read_text(errors="replace")
        if log_text.count("scheduler started") >= WORKERS:
            break
        time.sleep(0.5)
    assert log_text.count("scheduler started") >= WORKERS, "not every worker started"

    engine = sa.create_engine(stack.db_url)
    try:
        deadline = time.monotonic() + 30
        rows = []
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                rows = conn.execute(sa.text(
                    "SELECT tick, status FROM job_runs WHERE job_name = 'reconcile_vms'")).all()
            if rows and all(r.status != "running" for r in rows):
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
    assert len(rows) == 1, f"start-up reconciliation ran {len(rows)} times: {rows}"
    assert rows[0].status == "succeeded"

    # Many requests land on different workers; the session cookie works on all of them.
    with httpx.Client(base_url=stack.url) as client:
        r = client.post("/api/auth/signup", json={"email": "workers@example.com",
                                                   "password": PASSWORD})
        assert r.status_code == 200
        for _ in range(20):
            assert client.get("/api/auth/me").json()["user"]["email"] == "workers@example.com"
    engine = sa.create_engine(stack.db_url)
    try:
        with engine.begin() as conn:  # skip the first-visit welcome: not what this test is about
            conn.execute(sa.text("UPDATE profiles SET welcomed_at = CURRENT_TIMESTAMP"))
    finally:
        engine.dispose()

    context = browser.new_context(base_url=stack.url)
    try:
        page = context.new_page()
        page.goto("/login")
        form_ready(page)
        page.fill("#email", "workers@example.com")
        page.fill("#password", PASSWORD)
        page.click("#submit")
        page.wait_for_url(re.compile(r"/dashboard"))
        page.fill("#new-project-name", "shared-state")
        page.click("#create-project")
        page.locator(".project-name", has_text="shared-state").wait_for()
        page.reload()
        page.locator(".project-name", has_text="shared-state").wait_for()
    finally:
        context.close()
