"""Run the Fly emulator on a free local port inside a test process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from tools.fly_emulator.app import DEFAULT_APP_NAME, DEV_TOKEN, create_app
from tools.fly_emulator.store import MachineStore


@dataclass(frozen=True)
class RunningEmulator:
    """A running emulator: its base URL, credentials and direct access to its machines."""

    url: str
    app_name: str
    token: str
    store: MachineStore

    def crash(self, machine_id: str) -> None:
        """Make a machine stop by itself, as a crash would (no API call, no user event)."""
        self.store.crash(machine_id)

    def reset(self) -> None:
        """Forget every machine."""
        self.store.reset()


@contextmanager
def run_in_thread(
    *,
    app_name: str = DEFAULT_APP_NAME,
    token: str = DEV_TOKEN,
    region: str = "iad",
    transition_delay_s: float = 0.0,
    start_timeout_s: float = 10.0,
) -> Iterator[RunningEmulator]:
    """Serve the emulator on 127.0.0.1 and a free port for the duration of the block."""
    store = MachineStore(region=region, transition_delay_s=transition_delay_s)
    app = create_app(store, app_name=app_name, token=token)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="fly-emulator", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("Fly emulator did not start")
            time.sleep(0.01)
        yield RunningEmulator(
            url=f"http://127.0.0.1:{port}", app_name=app_name, token=token, store=store
        )
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
