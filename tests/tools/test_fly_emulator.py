"""The Fly emulator on its own: routes, auth, state transitions, controls and the CLI."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tools.fly_emulator import MachineStore
from tools.fly_emulator.testing import RunningEmulator, run_in_thread

APP = "aether-projects"
TOKEN = "secret-token"
MACHINES = f"/v1/apps/{APP}/machines"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with run_in_thread(app_name=APP, token=TOKEN, region="ams") as running:
        yield running


@pytest.fixture
def store(emulator: RunningEmulator) -> MachineStore:
    emulator.reset()
    return emulator.store


@pytest.fixture
def client(emulator: RunningEmulator, store: MachineStore) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, headers=AUTH, timeout=10) as client:
        yield client


@pytest.fixture
def anonymous(emulator: RunningEmulator, store: MachineStore) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=10) as client:
        yield client


def create(client: httpx.Client, **body) -> dict:
    payload = {"config": {"image": "registry.fly.io/aether-workspace:1"}, **body}
    response = client.post(MACHINES, json=payload)
    assert response.status_code == 200, response.text
    return response.json()


def test_create_returns_fly_machine_shape_and_launches(client: httpx.Client) -> None:
    machine = create(client, region="cdg", config={"image": "nginx:1.27", "metadata": {"k": "v"}})

    assert machine["state"] == "created"
    assert machine["region"] == "cdg"
    assert len(machine["id"]) == 14
    assert machine["config"]["guest"] == {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256}
    assert machine["config"]["metadata"] == {"k": "v"}
    assert machine["image_ref"]["repository"] == "library/nginx"
    assert machine["image_ref"]["tag"] == "1.27"
    assert machine["created_at"].endswith("Z")
    assert client.get(f"{MACHINES}/{machine['id']}").json()["state"] == "started"


def test_create_uses_default_region_and_can_skip_launch(client: httpx.Client) -> None:
    machine = create(client, skip_launch=True)

    assert machine["region"] == "ams"
    assert client.get(f"{MACHINES}/{machine['id']}").json()["state"] == "created"


def test_create_without_image_is_rejected(client: httpx.Client) -> None:
    response = client.post(MACHINES, json={"config": {}})

    assert response.status_code == 400
    assert "image" in response.json()["error"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
def test_wrong_or_missing_token_is_401(anonymous: httpx.Client, headers: dict) -> None:
    response = anonymous.get(MACHINES, headers=headers)

    assert response.status_code == 401
    assert response.json() == {"error": "Authenticate: token validation error"}


def test_unknown_app_and_machine_are_404(client: httpx.Client) -> None:
    assert client.get("/v1/apps/other-app/machines").json() == {"error": "app not found"}
    response = client.get(f"{MACHINES}/0000000000000")
    assert response.status_code == 404
    assert response.json() == {"error": "machine not found"}


def test_stop_then_start_transitions(client: httpx.Client) -> None:
    machine_id = create(client)["id"]

    assert client.post(f"{MACHINES}/{machine_id}/stop").json() == {"ok": True}
    assert client.get(f"{MACHINES}/{machine_id}").json()["state"] == "stopped"
    started = client.post(f"{MACHINES}/{machine_id}/start")
    assert started.status_code == 200
    assert started.json()["previous_state"] == "stopped"
    assert client.get(f"{MACHINES}/{machine_id}").json()["state"] == "started"


def test_start_of_started_machine_is_a_noop(client: httpx.Client) -> None:
    machine_id = create(client)["id"]
    client.get(f"{MACHINES}/{machine_id}")
    before = [e["type"] for e in client.get(f"{MACHINES}/{machine_id}").json()["events"]]

    response = client.post(f"{MACHINES}/{machine_id}/start")

    assert response.status_code == 200
    assert response.json()["previous_state"] == "started"
    after = client.get(f"{MACHINES}/{machine_id}").json()
    assert after["state"] == "started"
    assert [e["type"] for e in after["events"]] == before


def test_transitions_take_the_configured_delay() -> None:
    store = MachineStore(transition_delay_s=0.2)
    machine_id = store.create({"config": {"image": "nginx"}})["id"]

    assert store.state_of(machine_id) == "created"
    time.sleep(0.25)
    assert store.state_of(machine_id) == "started"
    store.stop(machine_id)
    assert store.state_of(machine_id) == "stopping"
    time.sleep(0.25)
    assert store.state_of(machine_id) == "stopped"


def test_destroy_running_needs_force_and_hides_machine_from_list(client: httpx.Client) -> None:
    machine_id = create(client)["id"]
    client.get(f"{MACHINES}/{machine_id}")

    refused = client.delete(f"{MACHINES}/{machine_id}")
    assert refused.status_code == 412
    assert refused.json()["error"].startswith("failed_precondition")

    assert client.delete(f"{MACHINES}/{machine_id}", params={"force": "true"}).status_code == 200
    assert client.get(MACHINES).json() == []
    assert client.get(f"{MACHINES}/{machine_id}").json()["state"] == "destroyed"
    assert client.post(f"{MACHINES}/{machine_id}/start").status_code == 404


def test_list_filters_on_metadata(client: httpx.Client) -> None:
    mine = create(client, config={"image": "nginx", "metadata": {"aether_project_id": "p1"}})
    create(client, config={"image": "nginx", "metadata": {"aether_project_id": "p2"}})

    listed = client.get(MACHINES, params={"metadata.aether_project_id": "p1"}).json()

    assert [m["id"] for m in listed] == [mine["id"]]
    assert len(client.get(MACHINES).json()) == 2


def test_wait_returns_ok_once_state_is_reached(client: httpx.Client) -> None:
    machine_id = create(client)["id"]

    response = client.get(f"{MACHINES}/{machine_id}/wait", params={"state": "started"})

    assert response.status_code == 200
    assert response.json() == {"ok": True}


def test_wait_times_out_with_408(client: httpx.Client) -> None:
    machine_id = create(client)["id"]
    started = time.monotonic()

    response = client.get(
        f"{MACHINES}/{machine_id}/wait", params={"state": "stopped", "timeout": 1}
    )

    assert response.status_code == 408
    assert response.json()["error"].startswith("deadline_exceeded")
    assert 0.9 <= time.monotonic() - started < 5


def test_wait_rejects_unknown_state(client: httpx.Client) -> None:
    machine_id = create(client)["id"]

    response = client.get(f"{MACHINES}/{machine_id}/wait", params={"state": "running"})

    assert response.status_code == 400


def test_control_endpoints_need_no_token(anonymous: httpx.Client, store: MachineStore) -> None:
    client = anonymous
    machine_id = store.create({"config": {"image": "nginx"}})["id"]
    assert store.state_of(machine_id) == "started"

    assert client.post(f"/_emulator/machines/{machine_id}/crash").status_code == 200
    assert store.state_of(machine_id) == "stopped"
    assert client.post("/_emulator/machines/nope/crash").status_code == 404
    assert client.get("/_emulator/health").json() == {"ok": True, "app": APP, "machines": 1}
    assert client.post("/_emulator/reset").status_code == 200
    assert len(store) == 0


def test_crash_leaves_no_event_and_cancels_pending_start() -> None:
    store = MachineStore(transition_delay_s=0.1)
    machine_id = store.create({"config": {"image": "nginx"}})["id"]
    events_before = store.get_machine(machine_id)["events"]

    store.crash(machine_id)
    time.sleep(0.15)

    after = store.get_machine(machine_id)
    assert after["state"] == "stopped"
    assert after["events"] == events_before


def test_run_in_thread_serves_on_a_free_port() -> None:
    with run_in_thread(token="t") as emulator:
        response = httpx.get(
            f"{emulator.url}/v1/apps/{emulator.app_name}/machines",
            headers={"Authorization": "Bearer t"},
        )
        assert response.status_code == 200
        assert response.json() == []
        url = emulator.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/_emulator/health", timeout=1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_serves_the_given_app_and_token() -> None:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "tools.fly_emulator",
        "--port",
        str(port),
        "--app",
        "cli-app",
        "--token",
        "cli-token",
    ]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                health = httpx.get(f"{base}/_emulator/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "emulator did not start"
                time.sleep(0.1)
        assert health.json()["app"] == "cli-app"
        machines = f"{base}/v1/apps/cli-app/machines"
        assert httpx.get(machines, headers={"Authorization": "Bearer cli-token"}).json() == []
        assert httpx.get(machines, headers={"Authorization": "Bearer x"}).status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)
