"""What the usage bars, banner and history show for a usage summary."""

from __future__ import annotations

import pytest

from aether_web.state.usage_view import (
    history_rows,
    month_label,
    number,
    usage_alert,
    usage_bars,
)


def summary(plan="free", hours=10.0, storage_gb=0.1, projects=1, history=None):
    limits = {"free": (50, 1, 3), "pro": (200, 10, 20), "team": (500, 50, None)}[plan]
    compute_percent = int(hours * 100 // limits[0])
    storage_percent = int(storage_gb * 100 // limits[1])

    def level(percent):
        return "limit" if percent >= 100 else "warning" if percent >= 80 else "ok"

    return {
        "plan": plan,
        "period": {"start": "2026-03-01T00:00:00Z", "end": "2026-03-31T23:59:59Z"},
        "limits": {"compute_hours": limits[0], "storage_gb": limits[1],
                   "max_projects": limits[2]},
        "usage": {"compute_hours": hours, "compute_seconds": int(hours * 3600),
                  "compute_percent": compute_percent, "compute_level": level(compute_percent),
                  "storage_gb": storage_gb, "storage_percent": storage_percent,
                  "storage_level": level(storage_percent), "project_count": projects},
        "history": history or [],
    }


def test_numbers_drop_trailing_zeros():
    assert [number(42.5), number(50), number(0.25), number(1234), number(0)] == \
        ["42.5", "50", "0.25", "1,234", "0"]
    assert month_label("2026-03") == "Mar 2026"


def test_bars_show_used_over_limit_with_percent_and_level():
    bars = usage_bars(summary(hours=42.5, storage_gb=0.2, projects=2))
    assert bars["compute"]["text"] == "42.5 / 50 h"
    assert bars["compute"]["percent_text"] == "85%"
    assert bars["compute"]["level"] == "warning" and bars["compute"]["color"] == "amber"
    assert bars["storage"]["text"] == "0.2 / 1 GB" and bars["storage"]["level"] == "ok"
    assert bars["projects"]["text"] == "2 / 3" and bars["projects"]["percent_text"] == "66%"


def test_a_bar_past_the_plan_stops_at_full_width_but_says_how_far():
    bars = usage_bars(summary(plan="pro", hours=250))
    assert bars["compute"]["width"] == "100"
    assert bars["compute"]["percent_text"] == "125%" and bars["compute"]["level"] == "limit"


def test_team_projects_are_unlimited():
    bars = usage_bars(summary(plan="team", projects=40))
    assert bars["projects"]["text"] == "40 / unlimited"
    assert bars["projects"]["level"] == "ok" and bars["projects"]["percent_text"] == ""


@pytest.mark.parametrize(("kwargs", "level", "words"), [
    ({"hours": 10}, "ok", ""),
    ({"hours": 42.5}, "warning", "85% of your Free plan's compute hours"),
    ({"hours": 50}, "limit", "VMs can't start again until April 1"),
    ({"storage_gb": 1.0}, "limit", "can't save more files"),
    ({"projects": 3}, "limit", "3 of 3 projects"),
    ({"plan": "pro", "hours": 170}, "warning", "billed as overage"),
    ({"plan": "pro", "hours": 210}, "limit", "You can keep going"),
])
def test_the_banner_names_the_most_pressing_limit(kwargs, level, words):
    s = summary(**kwargs)
    alert = usage_alert(s, usage_bars(s))
    assert alert["level"] == level
    assert words in alert["message"]


def test_compute_at_the_limit_wins_over_a_storage_warning():
    s = summary(hours=50, storage_gb=0.9)
    assert usage_alert(s, usage_bars(s))["resource"] == "compute"


def test_history_rows_explain_the_overage():
    s = summary(plan="pro", history=[
        {"month": "2026-03", "compute_hours": 202, "storage_gb": 0.5, "overage_cost": 0.2,
         "overage_cents": 20, "overage_display": "$0.20", "overage_explanation": "2 h overage"},
        {"month": "2026-02", "compute_hours": 38, "storage_gb": 0, "overage_cost": 0,
         "overage_cents": 0, "overage_display": "$0.00", "overage_explanation": ""},
    ])
    rows = history_rows(s)
    assert [r["month"] for r in rows] == ["Mar 2026", "Feb 2026"]
    assert (rows[0]["hours"], rows[0]["cost"], rows[0]["explanation"]) == \
        ("202 h", "$0.20", "(2 h overage)")
    assert rows[1]["explanation"] == ""
