"""Fly machine values: the sizes we launch and the machine as the rest of aether sees it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aether_web.integrations.fly.errors import FlyError

PROJECT_ID_METADATA_KEY = "aether_project_id"

# Fly's named presets (`fly machine run --vm-size`), as config.guest objects.
MACHINE_TYPES: dict[str, dict[str, Any]] = {
    "shared-cpu-1x": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
    "shared-cpu-2x": {"cpu_kind": "shared", "cpus": 2, "memory_mb": 512},
    "shared-cpu-4x": {"cpu_kind": "shared", "cpus": 4, "memory_mb": 1024},
    "shared-cpu-8x": {"cpu_kind": "shared", "cpus": 8, "memory_mb": 2048},
    "performance-1x": {"cpu_kind": "performance", "cpus": 1, "memory_mb": 2048},
    "performance-2x": {"cpu_kind": "performance", "cpus": 2, "memory_mb": 4096},
    "performance-4x": {"cpu_kind": "performance", "cpus": 4, "memory_mb": 8192},
    "performance-8x": {"cpu_kind": "performance", "cpus": 8, "memory_mb": 16384},
}

# A machine counts as running from the moment a start is under way until a stop is requested:
# "starting" is included because Fly is already booting it; "stopping" is not, because a stop
# has been asked for and the machine will not serve again without a new start.
RUNNING_STATES = frozenset({"starting", "started"})

# Fly may send up to nine fractional digits; datetime accepts at most six.
_EXTRA_FRACTION = re.compile(r"(\.\d{6})\d+")


def guest_for(machine_type: str) -> dict[str, Any]:
    """Return the Fly ``config.guest`` object for a named machine type.

    Raises ValueError for a name that is not in MACHINE_TYPES.
    """
    try:
        return dict(MACHINE_TYPES[machine_type])
    except KeyError:
        known = ", ".join(MACHINE_TYPES)
        raise ValueError(f"unknown machine type {machine_type!r} (known: {known})") from None


def machine_type_of(guest: dict[str, Any] | None) -> str | None:
    """Name the size of a ``config.guest`` object, e.g. ``shared-cpu-2x``.

    The name follows CPU kind and count only, as Fly's presets do; a guest with extra memory is
    still ``shared-cpu-1x``. None when the guest does not say.
    """
    if not guest or not guest.get("cpus"):
        return None
    cpus = int(guest["cpus"])
    if guest.get("cpu_kind") == "performance":
        return f"performance-{cpus}x"
    return f"shared-cpu-{cpus}x"


def parse_timestamp(value: str) -> datetime:
    """Parse one of Fly's RFC 3339 timestamps into an aware datetime (UTC when unmarked)."""
    parsed = datetime.fromisoformat(_EXTRA_FRACTION.sub(r"\1", value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


@dataclass(frozen=True, slots=True)
class FlyMachine:
    """One Fly machine, reduced to what aether needs.

    ``state`` is Fly's own word (created, starting, started, stopping, stopped, suspended,
    destroying, destroyed, failed, ...). ``project_id`` comes from the machine's
    ``config.metadata.aether_project_id`` and is None for machines aether did not create.
    """

    id: str
    name: str
    state: str
    region: str
    project_id: str | None
    machine_type: str | None
    updated_at: datetime

    @property
    def is_running(self) -> bool:
        """True while the machine is started or starting (see RUNNING_STATES)."""
        return self.state in RUNNING_STATES

    @classmethod
    def from_api(cls, data: Any) -> FlyMachine:
        """Build a FlyMachine from a machine object of the Machines API.

        Raises FlyError when the object lacks the fields every machine has.
        """
        try:
            config = data.get("config") or {}
            metadata = config.get("metadata") or {}
            stamp = data.get("updated_at") or data["created_at"]
            return cls(
                id=data["id"],
                name=data.get("name") or "",
                state=data["state"],
                region=data.get("region") or "",
                project_id=metadata.get(PROJECT_ID_METADATA_KEY),
                machine_type=machine_type_of(config.get("guest")),
                updated_at=parse_timestamp(stamp),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise FlyError(f"unexpected machine object from Fly: {exc!r}") from exc
