"""GET /api/billing/usage.csv: the user's own runs and monthly totals, from the session."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from aether_web.db import db_now
from aether_web.models import Run


def _rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.text)))


def test_runs_csv_is_the_users_own_with_open_runs_and_safe_cells(session, make_user,
                                                                 make_project, client_for):
    user, stranger = make_user(), make_user()
    project = make_project(user, name="=HYPERLINK(evil)")
    other = make_project(stranger)
    now = db_now(session).replace(microsecond=0)
    start = now - timedelta(minutes=30)
    session.add(Run(project_id=project.id, user_id=user.id, started_at=start,
                            ended_at=start + timedelta(minutes=5),
                            last_heartbeat_at=start + timedelta(minutes=5),
                            duration_seconds=300, end_reason="user_stopped"))
    session.add(Run(project_id=project.id, user_id=user.id,
                            started_at=now - timedelta(minutes=2), last_heartbeat_at=now))
    session.add(Run(project_id=other.id, user_id=stranger.id, started_at=start,
                            ended_at=now, last_heartbeat_at=now, duration_seconds=1800))
    session.commit()

    response = client_for(user).get("/api/billing/usage.csv?data=runs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="aether-runs-' in response.headers["content-disposition"]
    rows = _rows(response)
    assert len(rows) == 2 and {r["project_id"] for r in rows} == {str(project.id)}
    assert rows[0]["project"] == "'=HYPERLINK(evil)"  # never a formula in a spreadsheet
    assert rows[0]["duration_seconds"] == "300" and rows[0]["end_reason"] == "user_stopped"
    assert rows[1]["ended_at"] == "" and rows[1]["end_reason"] == "running"
    assert 100 <= int(rows[1]["duration_seconds"]) <= 200

    month = now.strftime("%Y-%m")
    assert len(_rows(client_for(user).get(f"/api/billing/usage.csv?month={month}"))) == 2
    assert _rows(client_for(user).get("/api/billing/usage.csv?month=2001-01")) == []


def test_months_csv_matches_the_usage_api(session, make_user, make_project, client_for):
    user = make_user()
    project = make_project(user)
    now = db_now(session).replace(microsecond=0)
    session.add(Run(project_id=project.id, user_id=user.id,
                            started_at=now - timedelta(hours=2), ended_at=now - timedelta(hours=1),
                            last_heartbeat_at=now, duration_seconds=3600))
    session.commit()
    client = client_for(user)
    api = client.get("/api/billing/usage").json()
    rows = _rows(client.get("/api/billing/usage.csv?data=months"))
    assert [r["month"] for r in rows] == [m["month"] for m in api["history"]]
    assert float(rows[0]["compute_hours"]) == api["history"][0]["compute_hours"]
    assert rows[0]["overage_cents"] == str(api["history"][0]["overage_cents"])


def test_bad_requests_get_the_json_error_shape(api, make_user, client_for):
    user = make_user()
    assert api.get("/api/billing/usage.csv").status_code == 401
    bad = client_for(user).get("/api/billing/usage.csv?data=everything")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_data"
    month = client_for(user).get("/api/billing/usage.csv?month=March")
    assert month.status_code == 400 and month.json()["error"]["code"] == "invalid_month"
