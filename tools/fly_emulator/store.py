"""In-memory machines of one emulated Fly app, with Fly's state transitions.

Transitions that take time on Fly (created -> started, starting -> started, stopping -> stopped)
are recorded as a pending state with a due time and applied lazily whenever a machine is read,
so no background task is needed. With ``transition_delay_s=0`` the next read sees the end state.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEFAULT_GUEST = {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256}
WAITABLE_STATES = frozenset({"started", "stopped", "suspended", "destroyed"})
_STARTABLE = frozenset({"created", "stopped", "suspended", "failed"})
_RUNNING = frozenset({"starting", "started"})


class EmulatorError(Exception):
    """A request Fly would refuse; carries the HTTP status and Fly's error text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Machine:
    data: dict[str, Any]
    pending_state: str | None = None
    pending_due: float = 0.0


class MachineStore:
    """Thread-safe store of machines; the emulator's HTTP routes and tests both use it."""

    def __init__(self, *, region: str = "iad", transition_delay_s: float = 0.0) -> None:
        self.region = region
        self.transition_delay_s = transition_delay_s
        self._lock = threading.Lock()
        self._machines: dict[str, _Machine] = {}

    # Reads ----------------------------------------------------------------------------------

    def list_machines(self, *, metadata: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Machines that are not destroyed, oldest first, optionally filtered on metadata."""
        with self._lock:
            found = []
            for machine in self._machines.values():
                self._settle(machine)
                if machine.data["state"] == "destroyed":
                    continue
                meta = machine.data["config"].get("metadata") or {}
                if metadata and any(meta.get(k) != v for k, v in metadata.items()):
                    continue
                found.append(copy.deepcopy(machine.data))
            return found

    def get_machine(self, machine_id: str) -> dict[str, Any]:
        """One machine (destroyed ones too, as Fly keeps them visible for a while)."""
        with self._lock:
            return copy.deepcopy(self._find(machine_id, allow_destroyed=True).data)

    def state_of(self, machine_id: str) -> str:
        """The machine's current state, after any due transition."""
        return self.get_machine(machine_id)["state"]

    # Lifecycle ------------------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a machine from a Fly create request; it launches unless skip_launch is set."""
        config = body.get("config")
        if not isinstance(config, dict) or not config.get("image"):
            raise EmulatorError(400, "invalid_argument: config.image is required")
        config = copy.deepcopy(config)
        config["guest"] = {**DEFAULT_GUEST, **(config.get("guest") or {})}
        machine_id = secrets.token_hex(7)
        stamp = _now()
        data = {
            "id": machine_id,
            "name": body.get("name") or f"machine-{machine_id[:6]}",
            "state": "created",
            "region": body.get("region") or self.region,
            "instance_id": secrets.token_hex(13).upper(),
            "private_ip": f"fdaa:0:1:a7b:{secrets.token_hex(2)}:{secrets.token_hex(2)}::2",
            "config": config,
            "image_ref": _image_ref(config["image"]),
            "created_at": stamp,
            "updated_at": stamp,
            "events": [],
        }
        machine = _Machine(data=data)
        if not body.get("skip_launch"):
            self._schedule(machine, "started")
        self._record_event(machine, "launch", "created")
        with self._lock:
            self._machines[machine_id] = machine
            return copy.deepcopy(data)

    def start(self, machine_id: str) -> str:
        """Start a machine; return its previous state. Starting a running machine is a no-op."""
        with self._lock:
            machine = self._find(machine_id)
            previous = machine.data["state"]
            if previous in _RUNNING:
                return previous
            if previous not in _STARTABLE:
                raise EmulatorError(
                    412, f"failed_precondition: unable to start machine from state {previous}"
                )
            self._set_state(machine, "starting")
            self._schedule(machine, "started")
            self._record_event(machine, "start", "started")
            return previous

    def stop(self, machine_id: str) -> None:
        """Stop a machine; stopping one that is not running is a no-op."""
        with self._lock:
            machine = self._find(machine_id)
            if machine.data["state"] not in _RUNNING:
                return
            self._set_state(machine, "stopping")
            self._schedule(machine, "stopped")
            self._record_event(machine, "stop", "stopped")

    def destroy(self, machine_id: str, *, force: bool = False) -> None:
        """Destroy a machine; a running one only with ``force``, as on Fly."""
        with self._lock:
            machine = self._find(machine_id)
            if machine.data["state"] in _RUNNING | {"stopping"} and not force:
                raise EmulatorError(
                    412,
                    "failed_precondition: unable to destroy machine, "
                    "not currently stopped, suspended, or failed",
                )
            machine.pending_state = None
            self._set_state(machine, "destroyed")
            self._record_event(machine, "destroy", "destroyed")

    # Test controls --------------------------------------------------------------------------

    def crash(self, machine_id: str) -> None:
        """Make a machine stop on its own: state ``stopped``, no user event, no pending start."""
        with self._lock:
            machine = self._find(machine_id)
            machine.pending_state = None
            self._set_state(machine, "stopped")

    def reset(self) -> None:
        """Forget every machine."""
        with self._lock:
            self._machines.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._machines)

    # Internals (call with the lock held) ----------------------------------------------------

    def _find(self, machine_id: str, *, allow_destroyed: bool = False) -> _Machine:
        machine = self._machines.get(machine_id)
        if machine is None:
            raise EmulatorError(404, "machine not found")
        self._settle(machine)
        if machine.data["state"] == "destroyed" and not allow_destroyed:
            raise EmulatorError(404, "machine not found")
        return machine

    def _schedule(self, machine: _Machine, state: str) -> None:
        machine.pending_state = state
        machine.pending_due = time.monotonic() + self.transition_delay_s

    def _settle(self, machine: _Machine) -> None:
        if machine.pending_state and time.monotonic() >= machine.pending_due:
            self._set_state(machine, machine.pending_state)
            machine.pending_state = None

    @staticmethod
    def _set_state(machine: _Machine, state: str) -> None:
        machine.data["state"] = state
        machine.data["updated_at"] = _now()

    @staticmethod
    def _record_event(machine: _Machine, kind: str, status: str) -> None:
        machine.data["events"].insert(
            0,
            {
                "id": secrets.token_hex(13).upper(),
                "type": kind,
                "status": status,
                "source": "user",
                "timestamp": int(time.time() * 1000),
            },
        )


def _image_ref(image: str) -> dict[str, Any]:
    """Split an image name the way Fly reports it in ``image_ref``."""
    name, tag = image, "latest"
    if ":" in image.rsplit("/", 1)[-1]:
        name, tag = image.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = "registry-1.docker.io", name if rest else f"library/{name}"
    return {
        "registry": registry,
        "repository": repository,
        "tag": tag,
        "digest": "sha256:" + "0" * 64,
        "labels": {},
    }
