"""Where project VMs run: Fly Machines, or a local simulation (the embedded default).

Both providers only start and stop machines. Usage is recorded by `services.vms` through the
same ledger functions the orchestrator's hooks use, whichever provider ran the machine.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from aether_web.integrations.fly import FlyError, FlyGateway

SIMULATED_PREFIX = "sim-"


class VMProviderError(Exception):
    """The provider could not do what was asked (Fly down, refused, timed out)."""


@dataclass(frozen=True)
class ProviderMachine:
    """A machine as the provider reports it."""

    id: str
    project_id: str | None
    state: str
    is_running: bool
    machine_type: str | None = None


class VMProvider(Protocol):
    """Starts and stops project VMs and, when it can, lists the machines it knows."""

    name: str

    def start(self, *, project_id: str, machine_id: str | None, machine_type: str) -> str:
        """Start (creating if needed) the project's machine; return its id."""
        ...

    def stop(self, *, machine_id: str) -> None:
        """Stop a machine; stopping one that is not running is not an error."""
        ...

    def list_machines(self) -> list[ProviderMachine] | None:
        """Every machine of the provider, or None when the provider keeps no outside state."""
        ...

    def workspace_url(self, *, project_id: str, machine_id: str) -> str:
        """Where the user opens the running machine's workspace in a browser."""
        ...


class SimulatedProvider:
    """VMs that exist only in the ledger: starting one gives it a `sim-` machine id; the
    `simulated_vm_heartbeats` job keeps its run alive while the app runs."""

    name = "simulated"

    def start(self, *, project_id: str, machine_id: str | None, machine_type: str) -> str:
        """A simulated machine id for the project (its previous one when it had one)."""
        if machine_id and machine_id.startswith(SIMULATED_PREFIX):
            return machine_id
        return SIMULATED_PREFIX + secrets.token_hex(6)

    def stop(self, *, machine_id: str) -> None:
        """Nothing to stop outside the ledger."""

    def list_machines(self) -> list[ProviderMachine] | None:
        """None: the simulation has no state of its own to reconcile with."""
        return None

    def workspace_url(self, *, project_id: str, machine_id: str) -> str:
        """A small placeholder page served by the app itself (`api/workspace.py`)."""
        return f"/api/workspaces/{project_id}"


class FlyProvider:
    """Project VMs as Fly machines, through the Fly Machines gateway."""

    name = "fly"

    def __init__(self, gateway: FlyGateway, app_name: str = "") -> None:
        self.gateway = gateway
        self.app_name = app_name

    def start(self, *, project_id: str, machine_id: str | None, machine_type: str) -> str:
        """Start the project's machine, or create (and so launch) one when it has none or Fly
        no longer knows it."""
        try:
            if machine_id and not machine_id.startswith(SIMULATED_PREFIX):
                try:
                    self.gateway.start_machine(machine_id)
                    return machine_id
                except FlyError as exc:
                    if not exc.is_not_found:
                        raise
            machine = self.gateway.create_machine(project_id=project_id,
                                                  machine_type=machine_type or "shared-cpu-1x")
            return machine.id
        except (FlyError, ValueError) as exc:
            raise VMProviderError(str(exc)) from exc

    def stop(self, *, machine_id: str) -> None:
        """Ask Fly to stop the machine; an unknown machine is already stopped."""
        try:
            self.gateway.stop_machine(machine_id)
        except FlyError as exc:
            if not exc.is_not_found:
                raise VMProviderError(str(exc)) from exc

    def list_machines(self) -> list[ProviderMachine] | None:
        """Every machine of the Fly app that is not destroyed."""
        try:
            machines = self.gateway.list_machines()
        except FlyError as exc:
            raise VMProviderError(str(exc)) from exc
        return [ProviderMachine(m.id, m.project_id, m.state, m.is_running, m.machine_type)
                for m in machines]

    def workspace_url(self, *, project_id: str, machine_id: str) -> str:
        """The Fly app's public address with the machine in the path: the app's router answers
        it with `fly-replay: instance=<machine_id>`, so the browser reaches this machine."""
        return f"https://{self.app_name}.fly.dev/workspaces/{machine_id}/"


_override: VMProvider | None = None
_default: VMProvider | None = None


def get_vm_provider() -> VMProvider:
    """The provider chosen by AETHER_VM_PROVIDER (or the one set by `set_vm_provider`)."""
    global _default
    if _override is not None:
        return _override
    if _default is None:
        from aether_web.settings import get_settings

        settings = get_settings()
        if settings.vm_provider == "fly":
            _default = FlyProvider(FlyGateway(settings.fly_api_base, settings.fly_api_token,
                                              settings.fly_app_name), settings.fly_app_name)
        else:
            _default = SimulatedProvider()
    return _default


def set_vm_provider(provider: VMProvider | None) -> None:
    """Use `provider` instead of the configured one (None restores the configured one)."""
    global _override
    _override = provider
