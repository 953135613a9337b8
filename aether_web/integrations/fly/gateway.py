"""The one gateway to the Fly Machines REST API (https://api.machines.dev).

Every project runs in its own Fly machine inside one Fly app; this module is the only place that
speaks HTTP to Fly. Callers get FlyMachine values and FlyError, never httpx objects.
"""

from __future__ import annotations

import math
import time
from typing import Any
from urllib.parse import quote

import httpx

from aether_web.integrations.fly.errors import FlyError
from aether_web.integrations.fly.machine import PROJECT_ID_METADATA_KEY, FlyMachine, guest_for

DEFAULT_BASE_URL = "https://api.machines.dev"
DEFAULT_IMAGE = "registry.fly.io/aether-workspace:latest"

# Fly holds a wait request open for at most a minute; longer waits are made of several requests.
_MAX_WAIT_PER_REQUEST_S = 60
_GET_RETRIES = 2
# Failures where the request cannot have reached Fly's handler, so a GET is safe to resend.
_RETRYABLE_TRANSPORT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)


class FlyGateway:
    """Machines of one Fly app, through the Fly Machines REST API.

    Idempotent GETs are retried up to twice on connection failures and 5xx answers; POST and
    DELETE are sent once, since Fly may have acted before the failure. Read timeouts are not
    retried either: the request may still be running on Fly's side.
    """

    def __init__(
        self,
        base_url: str,
        api_token: str,
        app_name: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        retry_backoff_s: float = 0.25,
    ) -> None:
        self._app_path = f"/v1/apps/{quote(app_name, safe='')}"
        self._timeout = timeout
        self._retry_backoff_s = retry_backoff_s
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {api_token}",
                "Accept": "application/json",
                "User-Agent": "aether-web",
            },
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._client.close()

    def __enter__(self) -> FlyGateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Machines -----------------------------------------------------------------------------

    def list_machines(self, *, project_id: str | None = None) -> list[FlyMachine]:
        """List the app's machines that are not destroyed.

        With ``project_id``, Fly filters on ``config.metadata.aether_project_id`` server-side.
        """
        params = {f"metadata.{PROJECT_ID_METADATA_KEY}": project_id} if project_id else None
        response = self._send("GET", "/machines", params=params, idempotent=True)
        body = self._expect_ok(response)
        if not isinstance(body, list):
            raise FlyError("unexpected machine list from Fly", status=response.status_code)
        return [FlyMachine.from_api(item) for item in body]

    def get_machine(self, machine_id: str) -> FlyMachine | None:
        """Return one machine, or None when Fly does not know it (404).

        A recently destroyed machine may still be returned, with state ``destroyed``.
        """
        response = self._send("GET", self._machine_path(machine_id), idempotent=True)
        if response.status_code == 404:
            return None
        return FlyMachine.from_api(self._expect_ok(response))

    def create_machine(
        self,
        *,
        project_id: str,
        machine_type: str = "shared-cpu-1x",
        image: str = DEFAULT_IMAGE,
        region: str | None = None,
        name: str | None = None,
    ) -> FlyMachine:
        """Create (and launch) a machine for a project; Fly answers with state ``created``.

        The project id is stored in ``config.metadata.aether_project_id`` so that machines can be
        matched back to projects. Raises ValueError for an unknown machine type.
        """
        body: dict[str, Any] = {
            "config": {
                "image": image,
                "guest": guest_for(machine_type),
                "metadata": {PROJECT_ID_METADATA_KEY: project_id},
            }
        }
        if region:
            body["region"] = region
        if name:
            body["name"] = name
        response = self._send("POST", "/machines", json=body)
        return FlyMachine.from_api(self._expect_ok(response))

    def start_machine(self, machine_id: str) -> str | None:
        """Ask Fly to start a machine; return the state it was in before (Fly's previous_state).

        Starting a machine that is already started is a no-op on Fly's side.
        """
        response = self._send("POST", f"{self._machine_path(machine_id)}/start")
        body = self._expect_ok(response)
        return body.get("previous_state") if isinstance(body, dict) else None

    def stop_machine(self, machine_id: str) -> None:
        """Ask Fly to stop a machine. Returns once Fly accepted; use wait_for_state to settle."""
        self._expect_ok(self._send("POST", f"{self._machine_path(machine_id)}/stop"))

    def wait_for_state(self, machine_id: str, state: str, timeout_s: float = 60.0) -> bool:
        """Block until the machine reaches ``state`` (started, stopped, suspended, destroyed).

        Returns True once it has, False when ``timeout_s`` passed first (Fly answers 408).
        Fly holds each wait request open for at most 60 s; longer waits repeat the request.
        """
        deadline = time.monotonic() + timeout_s
        path = f"{self._machine_path(machine_id)}/wait"
        while True:
            remaining = deadline - time.monotonic()
            chunk = max(1, min(_MAX_WAIT_PER_REQUEST_S, math.ceil(remaining)))
            response = self._send(
                "GET",
                path,
                params={"state": state, "timeout": chunk},
                timeout=chunk + self._timeout,
                idempotent=True,
            )
            if response.status_code == 408:
                if time.monotonic() >= deadline:
                    return False
                continue
            self._expect_ok(response)
            return True

    def destroy_machine(self, machine_id: str, *, force: bool = False) -> None:
        """Destroy a machine for good.

        Fly refuses (FlyError, status 412) to destroy a running machine unless ``force`` is set;
        an unknown machine gives FlyError with status 404 (see FlyError.is_not_found).
        """
        params = {"force": "true"} if force else None
        self._expect_ok(self._send("DELETE", self._machine_path(machine_id), params=params))

    # HTTP -----------------------------------------------------------------------------------

    def _machine_path(self, machine_id: str) -> str:
        return f"/machines/{quote(machine_id, safe='')}"

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        timeout: float | None = None,
        idempotent: bool = False,
    ) -> httpx.Response:
        attempts = 1 + (_GET_RETRIES if idempotent else 0)
        url = f"{self._app_path}{path}"
        for attempt in range(1, attempts + 1):
            final = attempt == attempts
            try:
                response = self._client.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except _RETRYABLE_TRANSPORT_ERRORS as exc:
                if final:
                    raise FlyError(f"could not reach Fly ({method} {url}): {exc}") from exc
            except httpx.TimeoutException as exc:
                raise FlyError(f"Fly did not answer in time ({method} {url})") from exc
            except httpx.HTTPError as exc:
                raise FlyError(f"request to Fly failed ({method} {url}): {exc}") from exc
            else:
                if response.status_code < 500 or final:
                    return response
            time.sleep(self._retry_backoff_s * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _expect_ok(response: httpx.Response) -> Any:
        """Return the JSON body of a 2xx answer; raise FlyError for anything else."""
        request_id = response.headers.get("fly-request-id")
        if not response.is_success:
            raise FlyError(
                _error_text(response), status=response.status_code, request_id=request_id
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise FlyError(
                "Fly sent a body that is not JSON",
                status=response.status_code,
                request_id=request_id,
            ) from exc


def _error_text(response: httpx.Response) -> str:
    """Fly's ``{"error": "..."}`` text, or the raw body when Fly sent something else."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    return response.text.strip()[:500] or response.reason_phrase or "no details"
