"""GET /api/metrics: in-process counters and the gauges read from the database."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from aether_web import metrics
from aether_web.api.metrics import count_requests, render_metrics, status_class
from aether_web.models import JobRun

# /api/metrics and /api/ready's details need the operator token (tests/conftest.py).
OPERATOR = {"Authorization": "Bearer test-metrics-token"}

SAMPLE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\S+)$')


def parse(text: str) -> dict[str, float]:
    """Every sample as {'name{labels}': value}; fails on any malformed line."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ ", line), line
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        out[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return out


def _run(session: Session, job: str, status: str, finished_ago: timedelta | None, tick: int):
    now = datetime.now(UTC).replace(microsecond=0)
    finished = now - finished_ago if finished_ago is not None else None
    session.add(JobRun(job_name=job, tick=now - timedelta(hours=tick), started_at=(finished or now)
                       - timedelta(seconds=1), finished_at=finished, status=status))


def test_metrics_endpoint_serves_prometheus_text(api):
    metrics.inc("aether_test_widgets_total", 2, kind="a\"b")
    response = api.get("/api/metrics", headers=OPERATOR)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse(response.text)
    assert samples['aether_test_widgets_total{kind="a\\"b"}'] >= 2
    assert samples["aether_database_up"] == 1
    assert "# TYPE aether_test_widgets_total counter" in response.text


def test_job_runs_failures_and_last_success_age(api, session):
    _run(session, "purge_expired_sessions", "succeeded", timedelta(minutes=10), tick=3)
    _run(session, "purge_expired_sessions", "failed", timedelta(minutes=5), tick=2)
    _run(session, "purge_expired_sessions", "running", None, tick=1)
    _run(session, "send_email", "succeeded", timedelta(minutes=1), tick=1)
    session.commit()

    samples = parse(api.get("/api/metrics", headers=OPERATOR).text)
    job = '{job="purge_expired_sessions"}'
    assert samples[f"aether_job_runs_total{job}"] == 3
    assert samples[f"aether_job_failures_total{job}"] == 1
    assert samples[f"aether_job_last_run_failed{job}"] == 1
    assert 590 <= samples[f"aether_job_last_success_age_seconds{job}"] <= 720
    assert samples['aether_job_last_run_failed{job="send_email"}'] == 0
    assert samples[f"aether_job_max_interval_seconds{job}"] > 0
    # A registered job that never ran: no runs, and never succeeded.
    assert samples['aether_job_runs_total{job="reconcile_meters"}'] == 0
    assert samples['aether_job_last_success_age_seconds{job="reconcile_meters"}'] == float("inf")


def test_webhook_backlog_counts_pending_and_failed_events(api, session):
    from aether_web.models import StripeEvent

    old = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    for i, status in enumerate(["pending", "pending", "failed", "processed", "ignored"]):
        session.add(StripeEvent(id=f"evt_{i}", type="invoice.paid", created=1, status=status,
                                payload=json.dumps({"id": f"evt_{i}"}),
                                received_at=old + timedelta(minutes=i)))
    session.commit()

    samples = parse(api.get("/api/metrics", headers=OPERATOR).text)
    assert samples['aether_stripe_webhook_backlog{status="pending"}'] == 2
    assert samples['aether_stripe_webhook_backlog{status="failed"}'] == 1
    assert 1700 <= samples["aether_stripe_webhook_oldest_pending_age_seconds"] <= 1900


def test_open_vm_runs_are_counted(api, make_user, make_project, session):
    from aether_web.models import Run

    user = make_user()
    running, stopped = make_project(user), make_project(user)
    now = datetime.now(UTC).replace(microsecond=0)
    session.add(Run(project_id=running.id, user_id=user.id, started_at=now))
    session.add(Run(project_id=stopped.id, user_id=user.id,
                            started_at=now - timedelta(hours=1), ended_at=now))
    session.commit()
    assert parse(api.get("/api/metrics", headers=OPERATOR).text)["aether_usage_open_runs"] == 1


def test_a_database_outage_still_answers_with_counters():
    import sqlalchemy as sa

    dead = sa.create_engine("sqlite:////nonexistent-dir/never.db")
    samples = parse(render_metrics(dead))
    assert samples["aether_database_up"] == 0
    assert not any(k.startswith("aether_job_runs_total") for k in samples)


@pytest.mark.parametrize(("status", "cls"), [(200, "2xx"), (302, "3xx"), (404, "4xx"),
                                             (503, "5xx"), (99, "other")])
def test_status_class(status, cls):
    assert status_class(status) == cls


def _call(app, scope_type="http"):
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message):
        return None

    asyncio.run(app({"type": scope_type, "path": "/", "method": "GET", "headers": []},
                    receive, send))


def test_count_requests_counts_each_response_by_status_class():
    seen: list[str] = []

    def make(status):
        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        return count_requests(app, count=seen.append)

    _call(make(200))
    _call(make(404))
    _call(make(500))
    assert seen == ["2xx", "4xx", "5xx"]


def test_count_requests_counts_an_exception_as_5xx_and_skips_websockets():
    seen: list[str] = []

    async def broken(scope, receive, send):
        raise RuntimeError("boom")

    async def ws(scope, receive, send):
        return None

    with pytest.raises(RuntimeError):
        _call(count_requests(broken, count=seen.append))
    _call(count_requests(ws, count=seen.append), scope_type="websocket")
    assert seen == ["5xx"]


def test_count_requests_feeds_the_http_requests_counter(api):
    async def ok(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    key = ("aether_http_requests_total", (("status_class", "2xx"),))
    before = metrics.snapshot().get(key, 0)
    _call(count_requests(ok))
    assert metrics.snapshot()[key] == before + 1
    assert 'aether_http_requests_total{status_class="2xx"}' in api.get("/api/metrics", headers=OPERATOR).text
