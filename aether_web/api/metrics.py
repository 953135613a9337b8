"""`GET /api/metrics` in Prometheus text format, and the request counter around the app.

Two kinds of figures: the counters and latency histograms of `aether_web.metrics` (requests and
their duration by route, hooks, webhooks, job durations), summed over every worker of the
server (prometheus_client's multiprocess mode), and gauges read from the database at scrape
time (job runs and failures, last success age, webhook backlog, open VM runs). Either way the
answer is the same whichever worker the scrape reaches.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aether_web import metrics
from aether_web.db import read_transaction
from aether_web.jobs.status import JobReading, job_readings
from aether_web.observability import log
from aether_web.services.ops_metrics import OpsReading, read_ops

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HTTP_REQUESTS = "aether_http_requests_total"
_STARTED = time.time()


# The metric of each queue whose rows wait for work (`services.ops_metrics.BACKLOG_MODELS`),
# by table, counted by status (`ops_metrics.BACKLOG_STATUSES`).
BACKLOG_TABLES = {
    "stripe_events": ("aether_stripe_webhook_backlog",
                      "Stored Stripe events not processed yet (pending) or failed."),
    "overage_reports": ("aether_overage_reports_backlog",
                        "Overage meter events not yet accepted by Stripe."),
    "email_outbox": ("aether_email_outbox_backlog", "Emails waiting to be sent, or given up."),
    "overage_adjustments": ("aether_overage_items_backlog",
                            "Overage that missed its invoice, waiting to be billed as a "
                            "labelled item (pending), or refused by Stripe (failed)."),
}


# --- text format -------------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Iterable[tuple[str, str]]) -> str:
    pairs = [f'{k}="{_escape(str(v))}"' for k, v in labels]
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class Exposition:
    """Builds the text exposition: one HELP/TYPE header per metric, then its samples."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[str, str, list[str]]] = {}

    def add(self, name: str, value: float, labels: Iterable[tuple[str, str]] = (), *,
            kind: str = "gauge", help_text: str = "") -> None:
        kind_, help_, samples = self._families.setdefault(name, (kind, help_text, []))
        samples.append(f"{name}{_labels(labels)} {_number(value)}")
        if help_text and not help_:
            self._families[name] = (kind_, help_text, samples)

    def text(self) -> str:
        lines: list[str] = []
        for name, (kind, help_text, samples) in self._families.items():
            if help_text:
                lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(samples)
        return "\n".join(lines) + "\n"


# --- what is measured --------------------------------------------------------------------


def _age_seconds(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


def add_job_gauges(out: Exposition, jobs: list[JobReading], now: datetime) -> None:
    """Per job: runs and failures recorded in job_runs, the age of the last success, whether
    the last run failed, and the longest a job may go without success."""
    for job in jobs:
        labels = [("job", job.name)]
        out.add("aether_job_runs_total", job.runs, labels, kind="counter",
                help_text="Runs of each scheduled job recorded in job_runs.")
        out.add("aether_job_failures_total", job.failures, labels,
                kind="counter", help_text="Failed runs of each scheduled job.")
        out.add("aether_job_last_run_failed", 1 if job.last_finished_failed else 0, labels,
                help_text="1 when the job's latest finished run failed.")
        age = _age_seconds(now, job.last_success_at)
        out.add("aether_job_last_success_age_seconds", math.inf if age is None else age, labels,
                help_text="Seconds since the job last succeeded (+Inf: never).")
        if job.max_interval_seconds is not None:
            out.add("aether_job_max_interval_seconds", job.max_interval_seconds, labels,
                    help_text="Alert when the last success is older than this.")


def add_backlog_gauges(out: Exposition, reading: OpsReading) -> None:
    """Rows waiting in stripe_events, overage_reports, email_outbox and overage_adjustments, by
    status, and the age of the oldest unprocessed Stripe event."""
    for table_name, (metric, help_text) in BACKLOG_TABLES.items():
        for status, count in reading.backlog[table_name].items():
            out.add(metric, count, [("status", status)], help_text=help_text)
    out.add("aether_stripe_webhook_oldest_pending_age_seconds",
            _age_seconds(reading.now, reading.oldest_pending_event_at) or 0,
            help_text="Age of the oldest unprocessed Stripe event (0: none).")


def add_usage_gauges(out: Exposition, reading: OpsReading) -> None:
    """VM runs still open (billing clocks running) and drift found by the daily rebuild."""
    out.add("aether_usage_open_runs", reading.open_runs,
            help_text="VM runs started and not yet stopped.")
    out.add("aether_usage_drift_reports_total", reading.drift_reports, kind="counter",
            help_text="Monthly totals found different from the usage records and corrected.")


def add_database_gauges(out: Exposition, engine: sa.Engine | None = None) -> None:
    """Everything read from the database; `aether_database_up` says whether that worked."""
    try:
        with read_transaction(engine) as session:
            reading = read_ops(session)
            jobs = job_readings(session)
    except Exception as exc:
        log.warning("metrics: database gauges unavailable: %s", exc.__class__.__name__)
        out.add("aether_database_up", 0, help_text="1 when the database answered this scrape.")
        return
    add_job_gauges(out, jobs, reading.now)
    add_backlog_gauges(out, reading)
    add_usage_gauges(out, reading)
    out.add("aether_database_up", 1, help_text="1 when the database answered this scrape.")


def render_metrics(engine: sa.Engine | None = None) -> str:
    """The whole exposition: every worker's counters and histograms, then the gauges."""
    out = Exposition()
    out.add("aether_scrape_worker_start_time_seconds", _STARTED, [("pid", str(os.getpid()))],
            help_text="When the worker that answered this scrape started (unix seconds).")
    add_database_gauges(out, engine)
    return metrics.exposition() + out.text()


async def metrics_endpoint(request: Request) -> Response:
    from aether_web.api.security import is_operator, operator_refusal

    if not is_operator(request):
        return operator_refusal()
    body = await run_in_threadpool(render_metrics)
    return Response(body, media_type=CONTENT_TYPE)


routes = [Route("/api/metrics", metrics_endpoint, methods=["GET"])]


# --- request counting --------------------------------------------------------------------


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


def route_label(scope: Scope) -> str:
    """The matched route's template (`/api/hooks/vm/{kind}` style, never the raw path, so the
    label set stays small), `/_event` and `/ping` for Reflex's own, else `other`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str) and path:
        return path
    raw = scope.get("path", "")
    for own in ("/_event", "/ping", "/_upload"):
        if raw == own or raw.startswith(own + "/"):
            return own
    return "other"


def count_requests(app: ASGIApp, *, count: Callable[[str], None] | None = None) -> ASGIApp:
    """Wrap an ASGI app so every HTTP response counts in aether_http_requests_total by status
    class and its duration in aether_http_request_duration_seconds by route; a request that
    raises counts as 5xx. Websockets pass through uncounted."""

    def record(cls: str) -> None:
        if count is not None:
            count(cls)
        else:
            metrics.inc(HTTP_REQUESTS, status_class=cls)

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        seen: list[int] = []
        started = time.perf_counter()

        async def send_and_see(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.append(int(message["status"]))
            await send(message)

        try:
            await app(scope, receive, send_and_see)
        except Exception:
            record("5xx")
            raise
        finally:
            metrics.REQUEST_SECONDS.labels(route=route_label(scope),
                                           method=scope.get("method", "")).observe(
                time.perf_counter() - started)
        record(status_class(seen[0]) if seen else "other")

    return wrapped
