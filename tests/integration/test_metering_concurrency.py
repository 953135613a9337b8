"""Many simultaneous signed hooks for one project and one user, over real HTTP, on PostgreSQL."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from sqlmodel import Session, select

from aether_web.api.hooks import sign
from aether_web.db import transaction
from aether_web.models import Run, UsageMonthly
from aether_web.services import usage_rebuild

pytestmark = pytest.mark.postgres
SECRET = "test-hook-secret-0001"


@pytest.fixture
def server(engine):
    from aether_web.api.app import api_transformer
    from aether_web.api.heartbeat import heartbeat_fast_path

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(heartbeat_fast_path(api_transformer()), log_level="warning",
                                        lifespan="off", access_log=False))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "API server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=5)
    sock.close()


def _send(client: httpx.Client, path: str, body: dict) -> tuple[int, dict]:
    raw = json.dumps(body).encode()
    r = client.post(path, content=raw, headers={"Aether-Signature": sign(raw, SECRET),
                                                "Content-Type": "application/json"})
    return r.status_code, r.json()


def _burst(url: str, calls: list[tuple[str, dict]]) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(len(calls))
    with httpx.Client(base_url=url, timeout=30,
                      limits=httpx.Limits(max_connections=len(calls))) as client:
        def run(call):
            barrier.wait()
            return _send(client, *call)

        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            return list(pool.map(run, calls))


def test_simultaneous_hooks_leave_one_open_run_and_exact_totals(
        server, engine, make_user, make_project):
    user = make_user(plan="pro")
    projects = [make_project(user) for _ in range(3)]
    main = projects[0]
    pid = str(main.id)

    # 1. Thirty different starts and ten copies of one start, all at once.
    calls = [("/api/hooks/vm/started", {"event_id": uuid.uuid4().hex, "project_id": pid,
                                        "machine_id": "m1"}) for _ in range(30)]
    calls += [("/api/hooks/vm/started", {"event_id": "dup-start", "project_id": pid,
                                         "machine_id": "m1"})] * 10
    calls += [("/api/hooks/vm/started", {"event_id": uuid.uuid4().hex, "project_id": str(p.id),
                                         "machine_id": f"m-{p.id}"}) for p in projects[1:]]
    answers = _burst(server, calls)
    assert all(status == 200 for status, _ in answers), answers
    opened_by = {call["event_id"] for (_, body), (_, call) in zip(answers, calls, strict=True)
                 if call["project_id"] == pid and body["outcome"] == "opened"}
    assert len(opened_by) == 1
    dup = [body for (_, body), (_, call) in zip(answers, calls, strict=True)
           if call["event_id"] == "dup-start"]
    assert all(d == dup[0] for d in dup)
    with Session(engine) as s:
        open_runs = s.exec(select(Run).where(Run.ended_at.is_(None))).all()
    assert sorted(str(r.project_id) for r in open_runs) == sorted(str(p.id) for p in projects)

    # Give each run a known past start, so a double count would show in the totals.
    with transaction(engine) as s:
        for hours, run in enumerate(open_runs, start=1):
            s.execute(sa.update(Run).where(Run.id == run.id).values(
                started_at=sa.func.date_trunc("second", sa.func.now())
                - timedelta(hours=hours)))

    # 2. Heartbeats, twenty stops for the main project and the other projects' stops at once.
    calls = [("/api/hooks/vm/heartbeat", {"event_id": uuid.uuid4().hex, "project_id": pid,
                                          "machine_id": "m1"}) for _ in range(15)]
    calls += [("/api/hooks/vm/stopped", {"event_id": uuid.uuid4().hex, "project_id": pid,
                                         "machine_id": "m1", "reason": "user"})
              for _ in range(20)]
    calls += [("/api/hooks/vm/stopped", {"event_id": uuid.uuid4().hex, "project_id": str(p.id),
                                         "machine_id": f"m-{p.id}"}) for p in projects[1:]] * 3
    answers = _burst(server, calls)
    assert all(status == 200 for status, _ in answers), answers
    closes = [body for (_, body), (_, call) in zip(answers, calls, strict=True)
              if call.get("reason") == "user" and body["outcome"] == "closed"]
    assert len(closes) == 1

    with Session(engine) as s:
        runs = s.exec(select(Run)).all()
        monthly = s.exec(select(UsageMonthly).where(UsageMonthly.user_id == user.id)).all()
    assert len(runs) == 3 and all(r.ended_at is not None for r in runs)
    durations = sum(r.duration_seconds for r in runs)
    assert durations >= 6 * 3600  # 1 h + 2 h + 3 h, counted once each
    assert sum(m.compute_seconds for m in monthly) == durations
    with transaction(engine) as s:
        assert usage_rebuild.rebuild_monthly(s).count == 0
