"""What a project's page reads besides the period bill: its latest runs, the workspace
address of each VM provider, and the simulated workspace page (owner only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aether_web.integrations.vm_provider import FlyProvider, SimulatedProvider
from aether_web.models import Run
from aether_web.services.project_usage import RECENT_RUNS, recent_runs

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _run(session, project, start, end):
    session.add(Run(project_id=project.id, user_id=project.user_id, started_at=start,
                            ended_at=end, last_heartbeat_at=end or start,
                            duration_seconds=int((end - start).total_seconds()) if end else None,
                            end_reason="user_stopped" if end else None))


def test_recent_runs_are_the_projects_newest_first_open_ones_to_now(session, make_user,
                                                                      make_project):
    user = make_user()
    project, other = make_project(user, name="web"), make_project(user, name="api")
    _run(session, project, datetime(2026, 2, 28, 23, 0, tzinfo=UTC),
         datetime(2026, 3, 1, 0, 30, tzinfo=UTC))
    _run(session, project, NOW - timedelta(minutes=20), None)
    _run(session, other, NOW - timedelta(hours=5), NOW - timedelta(hours=4))
    session.commit()
    runs = recent_runs(session, user_id=user.id, project_id=project.id, now=NOW)
    assert [r.ended_at is None for r in runs] == [True, False]
    assert runs[0].seconds == 20 * 60 and runs[1].seconds == 90 * 60


def test_recent_runs_are_capped(session, make_user, make_project):
    user = make_user()
    project = make_project(user)
    for i in range(RECENT_RUNS + 3):
        start = NOW - timedelta(hours=i + 1)
        _run(session, project, start, start + timedelta(minutes=1))
    session.commit()
    runs = recent_runs(session, user_id=user.id, project_id=project.id, now=NOW)
    assert len(runs) == RECENT_RUNS
    assert runs[0].started_at > runs[-1].started_at


def test_workspace_urls_of_both_providers():
    assert SimulatedProvider().workspace_url(project_id="p1", machine_id="sim-1") == \
        "/api/workspaces/p1"
    fly = FlyProvider(gateway=None, app_name="aether-projects")  # type: ignore[arg-type]
    assert fly.workspace_url(project_id="p1", machine_id="3d8d9") == \
        "https://aether-projects.fly.dev/workspaces/3d8d9/"


def test_the_simulated_workspace_page_is_the_owners_only(api, client_for, make_user,
                                                         make_project):
    owner, stranger = make_user(), make_user()
    project = make_project(owner, name="café <b>")
    page = client_for(owner).get(f"/api/workspaces/{project.id}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "café &lt;b&gt;" in page.text and "<b>" not in page.text
    assert client_for(stranger).get(f"/api/workspaces/{project.id}").status_code == 404
    anonymous = api.get(f"/api/workspaces/{project.id}")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"]

