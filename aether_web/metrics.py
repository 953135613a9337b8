"""In-process counters for the Prometheus endpoint (per worker; the DB-backed gauges such as
job runs and webhook backlog are read at scrape time by the metrics route)."""

from __future__ import annotations

import threading
from collections import defaultdict

_lock = threading.Lock()
_counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
HELP: dict[str, str] = {}


def inc(name: str, amount: float = 1.0, /, **labels: str) -> None:
    """Add to counter `name` with the given labels (e.g. inc("aether_hook_requests_total",
    kind="started", status="200"))."""
    key = (name, tuple(sorted(zip(labels, map(str, labels.values()), strict=True))))
    with _lock:
        _counters[key] += amount


def describe(name: str, help_text: str) -> None:
    HELP[name] = help_text


def snapshot() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A copy of every counter."""
    with _lock:
        return dict(_counters)
