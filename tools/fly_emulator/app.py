"""Starlette app serving the Fly Machines endpoints aether uses, plus /_emulator/ controls."""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tools.fly_emulator.store import WAITABLE_STATES, EmulatorError, MachineStore

DEFAULT_APP_NAME = "aether-projects"
DEV_TOKEN = "dev-token"
MAX_WAIT_S = 60
_WAIT_POLL_S = 0.02


def _reply(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"fly-request-id": secrets.token_hex(13)})


def _error(status: int, message: str) -> JSONResponse:
    return _reply({"error": message}, status)


def create_app(store: MachineStore, *, app_name: str, token: str) -> Starlette:
    """Build the emulator for one Fly app, accepting only ``Authorization: Bearer <token>``."""

    def guarded(handler):
        async def endpoint(request: Request) -> JSONResponse:
            supplied = request.headers.get("authorization", "")
            if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
                return _error(401, "Authenticate: token validation error")
            if request.path_params["app"] != app_name:
                return _error(404, "app not found")
            try:
                return await handler(request)
            except EmulatorError as exc:
                return _error(exc.status, exc.message)

        return endpoint

    async def list_machines(request: Request) -> JSONResponse:
        metadata = {
            key.removeprefix("metadata."): value
            for key, value in request.query_params.items()
            if key.startswith("metadata.")
        }
        return _reply(store.list_machines(metadata=metadata or None))

    async def create_machine(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return _error(400, "invalid_argument: request body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "invalid_argument: request body must be an object")
        return _reply(store.create(body))

    async def get_machine(request: Request) -> JSONResponse:
        return _reply(store.get_machine(request.path_params["machine_id"]))

    async def start_machine(request: Request) -> JSONResponse:
        previous = store.start(request.path_params["machine_id"])
        return _reply({"previous_state": previous, "migrated": False, "new_host": ""})

    async def stop_machine(request: Request) -> JSONResponse:
        store.stop(request.path_params["machine_id"])
        return _reply({"ok": True})

    async def destroy_machine(request: Request) -> JSONResponse:
        force = request.query_params.get("force", "").lower() in {"true", "1"}
        store.destroy(request.path_params["machine_id"], force=force)
        return _reply({"ok": True})

    async def wait_machine(request: Request) -> JSONResponse:
        machine_id = request.path_params["machine_id"]
        state = request.query_params.get("state", "started")
        if state not in WAITABLE_STATES:
            allowed = ", ".join(sorted(WAITABLE_STATES))
            return _error(400, f"invalid_argument: state must be one of {allowed}")
        try:
            timeout = int(request.query_params.get("timeout", MAX_WAIT_S))
        except ValueError:
            return _error(400, "invalid_argument: timeout must be a whole number of seconds")
        timeout = max(1, min(timeout, MAX_WAIT_S))
        deadline = time.monotonic() + timeout
        while store.state_of(machine_id) != state:
            if time.monotonic() >= deadline:
                return _error(
                    408, f"deadline_exceeded: machine did not reach state {state} in {timeout}s"
                )
            await asyncio.sleep(_WAIT_POLL_S)
        return _reply({"ok": True})

    async def crash(request: Request) -> JSONResponse:
        try:
            store.crash(request.path_params["machine_id"])
        except EmulatorError as exc:
            return _error(exc.status, exc.message)
        return _reply({"ok": True, "state": "stopped"})

    async def reset(request: Request) -> JSONResponse:
        store.reset()
        return _reply({"ok": True})

    async def health(request: Request) -> JSONResponse:
        return _reply({"ok": True, "app": app_name, "machines": len(store)})

    machines = "/v1/apps/{app}/machines"
    one = machines + "/{machine_id}"
    routes = [
        Route(machines, guarded(list_machines), methods=["GET"]),
        Route(machines, guarded(create_machine), methods=["POST"]),
        Route(one, guarded(get_machine), methods=["GET"]),
        Route(one, guarded(destroy_machine), methods=["DELETE"]),
        Route(one + "/start", guarded(start_machine), methods=["POST"]),
        Route(one + "/stop", guarded(stop_machine), methods=["POST"]),
        Route(one + "/wait", guarded(wait_machine), methods=["GET"]),
        Route("/_emulator/machines/{machine_id}/crash", crash, methods=["POST"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/health", health, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.store = store
    return app
