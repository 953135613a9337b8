"""Command line: python -m tools.fly_emulator --port 12112 --app aether-projects --token dev-token"""

from __future__ import annotations

import argparse

import uvicorn

from tools.fly_emulator.app import DEFAULT_APP_NAME, DEV_TOKEN, create_app
from tools.fly_emulator.store import MachineStore


def main(argv: list[str] | None = None) -> None:
    """Serve the Fly Machines emulator on 127.0.0.1 until interrupted."""
    parser = argparse.ArgumentParser(description="Local emulator of the Fly Machines API.")
    parser.add_argument("--port", type=int, default=12112)
    parser.add_argument("--app", default=DEFAULT_APP_NAME, help="Fly app name to serve")
    parser.add_argument("--token", default=DEV_TOKEN, help="expected bearer token")
    parser.add_argument("--region", default="iad", help="region given to new machines")
    parser.add_argument(
        "--transition-delay",
        type=float,
        default=0.0,
        help="seconds a machine spends starting/stopping before it settles",
    )
    args = parser.parse_args(argv)
    store = MachineStore(region=args.region, transition_delay_s=args.transition_delay)
    app = create_app(store, app_name=args.app, token=args.token)
    print(f"Fly emulator for app {args.app!r} on http://127.0.0.1:{args.port}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
