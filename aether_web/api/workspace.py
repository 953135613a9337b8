"""GET /api/workspaces/{project_id}: the simulated VM provider's stand-in for a workspace, so
"Open workspace" leads somewhere when no real machine runs. Owner only."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from aether_web.api.context import in_transaction, require_user
from aether_web.api.responses import from_error
from aether_web.errors import AetherError
from aether_web.services.projects import get_project

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} · workspace · aether</title>
<style>
  :root {{ color-scheme: light dark; }}
  body {{ font-family: system-ui, sans-serif; margin: 0; padding: 2rem 1.25rem;
         max-width: 40rem; margin-inline: auto; line-height: 1.5; }}
  h1 {{ font-size: 1.5rem; overflow-wrap: anywhere; }}
  code {{ background: rgba(127,127,127,.15); padding: .1rem .3rem; border-radius: 4px; }}
</style></head>
<body><main>
<h1>{name}</h1>
<p>This is the simulated VM of your project ({state}). With the Fly provider this address is
your machine's workspace; here it stands in for it, so nothing runs behind it.</p>
<p>Machine <code>{machine}</code></p>
<p><a href="/projects/{project_id}">Back to the project</a></p>
</main></body></html>
"""


async def workspace_placeholder(request: Request) -> Response:
    def run(session):
        user = require_user(session, request)
        project = get_project(session, user_id=user.id,
                              project_id=request.path_params["project_id"])
        return PAGE.format(name=escape(project.name), state=escape(project.vm_state),
                           machine=escape(project.machine_id or "none yet"),
                           project_id=project.id)

    try:
        return HTMLResponse(await in_transaction(run))
    except AetherError as exc:
        return from_error(exc)


routes = [Route("/api/workspaces/{project_id}", workspace_placeholder, methods=["GET"])]
