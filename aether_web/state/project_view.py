"""A project and its runs as the dashboard and the project page show them: all text, pure
functions over the rows the services return."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aether_web.state.usage_view import duration_text

if TYPE_CHECKING:
    from aether_web.models import Project

END_REASONS = {
    None: "", "user_stopped": "Stopped", "stopped": "Stopped", "heartbeat_lost": "Went silent",
    "compute_limit_reached": "Plan's hours used up", "project_deleted": "Project deleted",
    "replaced": "Restarted", "reconciled_not_running": "Found stopped",
}


def project_view(project: Project) -> dict[str, str]:
    """What a project card shows; everything as text for the browser."""
    return {
        "id": str(project.id),
        "name": project.name,
        "vm_state": project.vm_state,
        "created": project.created_at.strftime("%b %d, %Y") if project.created_at else "",
        "machine_type": project.machine_type,
    }


def run_row(run) -> dict[str, str]:
    """A run as the project page's table shows it (all text)."""
    return {
        "started": run.started_at.strftime("%b %-d, %H:%M UTC"),
        "ended": run.ended_at.strftime("%b %-d, %H:%M UTC") if run.ended_at else "Running",
        "duration": duration_text(run.seconds),
        "how": END_REASONS.get(run.end_reason, (run.end_reason or "").replace("_", " ")),
    }
