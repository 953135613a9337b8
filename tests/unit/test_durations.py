"""Durations for people: minutes under an hour, never "0.01 h"."""

from __future__ import annotations

from aether_web.state.usage_view import compute_used, duration_text, hours_text, usage_bars


def test_duration_text():
    assert [duration_text(s) for s in (0, 59, 60, 179, 3599, 3600, 3660, 7200, 90061)] == [
        "0 min", "< 1 min", "1 min", "2 min", "59 min", "1 h", "1 h 1 min", "2 h", "25 h 1 min"]


def test_compute_under_an_hour_reads_in_minutes():
    assert compute_used(0, 0) == "0"
    assert compute_used(60, 0.01) == "1 min"
    assert compute_used(5400, 1.5) == "1.5"
    assert hours_text(0.01) == "< 1 min" and hours_text(0.05) == "3 min"
    assert hours_text(0.5) == "30 min" and hours_text(2) == "2 h" and hours_text(0) == "0 h"


def test_the_compute_bar_says_one_minute():
    summary = {"plan": "free", "limits": {"compute_hours": 50, "storage_gb": 1},
               "usage": {"compute_hours": 0.01, "compute_seconds": 60, "compute_percent": 0,
                         "compute_level": "ok", "storage_gb": 0, "storage_percent": 0,
                         "storage_level": "ok", "project_count": 1}}
    assert usage_bars(summary)["compute"]["text"] == "1 min / 50 h"
