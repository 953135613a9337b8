"""Local emulator of the Fly Machines endpoints that aether's Fly gateway uses."""

from tools.fly_emulator.app import create_app
from tools.fly_emulator.store import EmulatorError, MachineStore

__all__ = ["EmulatorError", "MachineStore", "create_app"]
