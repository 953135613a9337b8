"""The Fly gateway against the emulator, and its error handling against a mocked transport."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from aether_web.integrations.fly import FlyError, FlyGateway, FlyMachine, guest_for
from tools.fly_emulator.testing import RunningEmulator, run_in_thread

APP = "aether-projects"


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with run_in_thread(app_name=APP, token="test-token", region="iad") as running:
        yield running


@pytest.fixture
def fly(emulator: RunningEmulator) -> Iterator[FlyGateway]:
    emulator.reset()
    with FlyGateway(emulator.url, emulator.token, emulator.app_name, timeout=5) as gateway:
        yield gateway


def started_machine(fly: FlyGateway, project_id: str = "proj-1") -> FlyMachine:
    machine = fly.create_machine(project_id=project_id)
    assert fly.wait_for_state(machine.id, "started", timeout_s=5)
    return machine


# Against the emulator ------------------------------------------------------------------------


def test_create_machine_records_project_and_size(fly: FlyGateway) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)

    machine = fly.create_machine(project_id="proj-7", machine_type="performance-2x")

    assert machine.project_id == "proj-7"
    assert machine.machine_type == "performance-2x"
    assert machine.state == "created"
    assert machine.region == "iad"
    assert machine.updated_at.tzinfo is not None
    assert machine.updated_at >= before.replace(microsecond=0)


def test_create_machine_rejects_unknown_size_before_calling_fly(fly: FlyGateway) -> None:
    with pytest.raises(ValueError, match="unknown machine type"):
        fly.create_machine(project_id="p", machine_type="gpu-huge")
    assert fly.list_machines() == []


def test_list_machines_returns_all_or_one_project(fly: FlyGateway) -> None:
    first = fly.create_machine(project_id="proj-1")
    second = fly.create_machine(project_id="proj-2")

    assert {m.id for m in fly.list_machines()} == {first.id, second.id}
    assert [m.id for m in fly.list_machines(project_id="proj-2")] == [second.id]


def test_new_machine_becomes_running(fly: FlyGateway) -> None:
    machine = started_machine(fly)

    fetched = fly.get_machine(machine.id)

    assert fetched is not None
    assert fetched.state == "started"
    assert fetched.is_running


def test_stop_then_start(fly: FlyGateway) -> None:
    machine = started_machine(fly)

    fly.stop_machine(machine.id)
    assert fly.wait_for_state(machine.id, "stopped", timeout_s=5)
    stopped = fly.get_machine(machine.id)
    assert stopped is not None and not stopped.is_running

    assert fly.start_machine(machine.id) == "stopped"
    assert fly.wait_for_state(machine.id, "started", timeout_s=5)
    assert fly.start_machine(machine.id) == "started"  # already running: a no-op


def test_wait_for_state_returns_false_when_deadline_passes(fly: FlyGateway) -> None:
    machine = started_machine(fly)
    began = time.monotonic()

    assert fly.wait_for_state(machine.id, "stopped", timeout_s=1) is False
    assert time.monotonic() - began < 5


def test_destroy_removes_machine_from_list(fly: FlyGateway) -> None:
    kept = started_machine(fly, "keep")
    doomed = started_machine(fly, "doomed")

    fly.destroy_machine(doomed.id, force=True)

    assert [m.id for m in fly.list_machines()] == [kept.id]
    destroyed = fly.get_machine(doomed.id)
    assert destroyed is not None and destroyed.state == "destroyed"


def test_destroy_running_machine_without_force_is_refused(fly: FlyGateway) -> None:
    machine = started_machine(fly)

    with pytest.raises(FlyError) as raised:
        fly.destroy_machine(machine.id)

    assert raised.value.status == 412
    assert "failed_precondition" in raised.value.message
    assert fly.get_machine(machine.id).state == "started"


def test_get_missing_machine_is_none(fly: FlyGateway) -> None:
    assert fly.get_machine("3d8d9e1b2c4f55") is None


def test_start_missing_machine_raises_not_found(fly: FlyGateway) -> None:
    with pytest.raises(FlyError) as raised:
        fly.start_machine("3d8d9e1b2c4f55")
    assert raised.value.is_not_found
    assert raised.value.message == "machine not found"


def test_wrong_token_raises_fly_error_401(emulator: RunningEmulator) -> None:
    gateway = FlyGateway(emulator.url, "not-the-token", emulator.app_name)
    with gateway, pytest.raises(FlyError) as raised:
        gateway.list_machines()
    assert raised.value.status == 401
    assert "token" in raised.value.message
    assert raised.value.request_id


def test_crash_is_visible_through_get_machine(fly: FlyGateway, emulator: RunningEmulator) -> None:
    machine = started_machine(fly)

    emulator.crash(machine.id)

    crashed = fly.get_machine(machine.id)
    assert crashed is not None
    assert crashed.state == "stopped"
    assert not crashed.is_running
    assert crashed.project_id == "proj-1"


# Error handling with a mocked transport ------------------------------------------------------

MACHINE_JSON = {
    "id": "148ed123456789",
    "name": "quiet-sun",
    "state": "started",
    "region": "ord",
    "config": {
        "image": "registry.fly.io/aether-workspace:latest",
        "guest": guest_for("shared-cpu-2x"),
        "metadata": {"aether_project_id": "proj-9"},
    },
    "created_at": "2024-05-01T10:00:00Z",
    "updated_at": "2024-05-01T10:05:00.123456789Z",
}


def mocked(handler: Callable[[httpx.Request], httpx.Response]) -> FlyGateway:
    return FlyGateway(
        "https://api.machines.dev",
        "tok",
        "my app",
        transport=httpx.MockTransport(handler),
        retry_backoff_s=0,
    )


class Recorder:
    """A MockTransport handler that answers from a script and remembers each request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_requests_use_fly_paths_and_bearer_token() -> None:
    recorder = Recorder(httpx.Response(200, json=MACHINE_JSON))

    machine = mocked(recorder).get_machine("148ed123456789")

    request = recorder.requests[0]
    assert request.url.raw_path == b"/v1/apps/my%20app/machines/148ed123456789"
    assert request.headers["authorization"] == "Bearer tok"
    assert machine == FlyMachine(
        id="148ed123456789",
        name="quiet-sun",
        state="started",
        region="ord",
        project_id="proj-9",
        machine_type="shared-cpu-2x",
        updated_at=datetime(2024, 5, 1, 10, 5, 0, 123456, tzinfo=UTC),
    )


def test_create_sends_guest_and_metadata() -> None:
    recorder = Recorder(httpx.Response(200, json=MACHINE_JSON))

    mocked(recorder).create_machine(project_id="proj-9", machine_type="shared-cpu-2x", image="img")

    sent = json.loads(recorder.requests[0].content)
    assert recorder.requests[0].method == "POST"
    assert sent == {
        "config": {
            "image": "img",
            "guest": {"cpu_kind": "shared", "cpus": 2, "memory_mb": 512},
            "metadata": {"aether_project_id": "proj-9"},
        }
    }


def test_wait_sends_state_and_whole_second_timeout() -> None:
    recorder = Recorder(httpx.Response(200, json={"ok": True}))

    assert mocked(recorder).wait_for_state("m1", "stopped", timeout_s=2.5)

    params = recorder.requests[0].url.params
    assert recorder.requests[0].url.path.endswith("/machines/m1/wait")
    assert (params["state"], params["timeout"]) == ("stopped", "3")


def test_get_is_retried_twice_on_500_then_fails() -> None:
    recorder = Recorder(httpx.Response(500, json={"error": "internal: flaps unavailable"}))

    with pytest.raises(FlyError) as raised:
        mocked(recorder).list_machines()

    assert len(recorder.requests) == 3
    assert raised.value.status == 500
    assert raised.value.message == "internal: flaps unavailable"


def test_get_succeeds_after_a_connection_error_and_a_503() -> None:
    recorder = Recorder(
        httpx.ConnectError("refused"),
        httpx.Response(503, text="upstream connect error"),
        httpx.Response(200, json=[MACHINE_JSON]),
    )

    machines = mocked(recorder).list_machines()

    assert [m.id for m in machines] == ["148ed123456789"]
    assert len(recorder.requests) == 3


def test_post_is_not_retried() -> None:
    recorder = Recorder(httpx.Response(502, text="bad gateway"))

    with pytest.raises(FlyError) as raised:
        mocked(recorder).stop_machine("m1")

    assert len(recorder.requests) == 1
    assert raised.value.status == 502
    assert raised.value.message == "bad gateway"


def test_timeout_becomes_fly_error_without_retry() -> None:
    recorder = Recorder(httpx.ReadTimeout("timed out"))

    with pytest.raises(FlyError) as raised:
        mocked(recorder).get_machine("m1")

    assert raised.value.status is None
    assert "in time" in raised.value.message
    assert len(recorder.requests) == 1


def test_connection_error_becomes_fly_error_after_retries() -> None:
    recorder = Recorder(httpx.ConnectError("connection refused"))

    with pytest.raises(FlyError) as raised:
        mocked(recorder).get_machine("m1")

    assert not isinstance(raised.value, httpx.HTTPError)
    assert "could not reach Fly" in raised.value.message
    assert len(recorder.requests) == 3


def test_unexpected_body_becomes_fly_error() -> None:
    recorder = Recorder(httpx.Response(200, text="<html>maintenance</html>"))

    with pytest.raises(FlyError, match="not JSON"):
        mocked(recorder).list_machines()


def test_machine_without_required_fields_becomes_fly_error() -> None:
    recorder = Recorder(httpx.Response(200, json={"id": "m1"}))

    with pytest.raises(FlyError, match="unexpected machine object"):
        mocked(recorder).get_machine("m1")


def test_wait_repeats_after_408_until_the_deadline() -> None:
    recorder = Recorder(
        httpx.Response(408, json={"error": "deadline_exceeded"}),
        httpx.Response(200, json={"ok": True}),
    )

    assert mocked(recorder).wait_for_state("m1", "started", timeout_s=30)
    assert len(recorder.requests) == 2


@pytest.mark.parametrize(
    ("state", "running"),
    [("started", True), ("starting", True), ("stopping", False), ("stopped", False)],
)
def test_is_running(state: str, running: bool) -> None:
    machine = FlyMachine.from_api({**MACHINE_JSON, "state": state})
    assert machine.is_running is running
