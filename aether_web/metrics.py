"""The app's Prometheus metrics (prometheus_client), true across every worker.

With `PROMETHEUS_MULTIPROC_DIR` set (the prod server sets it to a fresh directory before its
workers start: `deploy/start.sh`, `tools/local_stack.py`), every worker writes its samples to
files there and a scrape, whichever worker answers it, sums them all. Without it (tests, CLI)
the figures are this process's. The gauges read from the database (job runs, webhook backlog)
are added by the metrics route at scrape time.
"""

from __future__ import annotations

import os
import threading

# Must be decided before prometheus_client is imported: it picks its value store then.
_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
if _DIR:
    os.makedirs(_DIR, exist_ok=True)

import prometheus_client  # noqa: E402
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram  # noqa: E402
from prometheus_client import multiprocess as _multiprocess  # noqa: E402

prometheus_client.disable_created_metrics()

_lock = threading.Lock()
_counters: dict[str, Counter] = {}
HELP: dict[str, str] = {
    "aether_http_requests_total": "HTTP requests answered, by status class.",
    "aether_hook_requests_total": "Usage hook requests, by hook and answer status.",
    "aether_stripe_webhooks_total": "Stripe webhook events received, by type and outcome.",
}

REQUEST_SECONDS = Histogram(
    "aether_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method (websockets excluded).",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
HOOK_SECONDS = Histogram(
    "aether_hook_duration_seconds",
    "Time to answer a usage hook (signature, JSON and the ledger write), by hook.",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
JOB_SECONDS = Histogram(
    "aether_job_duration_seconds",
    "Duration of scheduled job runs, by job and outcome.",
    ["job", "status"],
    buckets=(0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0),
)


def multiprocess_dir() -> str | None:
    """Where the workers' samples are kept, or None when metrics are per process."""
    return _DIR


def describe(name: str, help_text: str) -> None:
    """Set a counter's help text (before its first use)."""
    HELP[name] = help_text


def _counter(name: str, labelnames: tuple[str, ...]) -> Counter:
    with _lock:
        counter = _counters.get(name)
        if counter is None:
            counter = Counter(name, HELP.get(name, name), labelnames=labelnames)
            _counters[name] = counter
    if tuple(counter._labelnames) != labelnames:
        raise ValueError(f"{name} takes labels {counter._labelnames}, not {labelnames}")
    return counter


def inc(name: str, amount: float = 1.0, /, **labels: str) -> None:
    """Add to counter `name` with the given labels (e.g. inc("aether_hook_requests_total",
    kind="started", status="200")). A counter always takes the same label names."""
    names = tuple(sorted(labels))
    counter = _counter(name, names)
    if names:
        counter.labels(**{k: str(v) for k, v in labels.items()}).inc(amount)
    else:
        counter.inc(amount)


def snapshot() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """This process's counters as {(name, sorted labels): value}."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    with _lock:
        counters = list(_counters.values())
    for counter in counters:
        for family in counter.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def exposition() -> str:
    """Every counter and histogram in Prometheus text format, summed over all workers when
    they share a multiprocess directory."""
    if _DIR:
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry, path=_DIR)
    else:
        registry = REGISTRY
    return prometheus_client.generate_latest(registry).decode()
