"""The Fly Machines gateway: the only code that talks to Fly."""

from aether_web.integrations.fly.errors import FlyError
from aether_web.integrations.fly.gateway import DEFAULT_BASE_URL, DEFAULT_IMAGE, FlyGateway
from aether_web.integrations.fly.machine import (
    MACHINE_TYPES,
    RUNNING_STATES,
    FlyMachine,
    guest_for,
    machine_type_of,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_IMAGE",
    "MACHINE_TYPES",
    "RUNNING_STATES",
    "FlyError",
    "FlyGateway",
    "FlyMachine",
    "guest_for",
    "machine_type_of",
]
