"""``python -m tools.stripe_emulator --port 12111``."""

from __future__ import annotations

import argparse
import os

import uvicorn

from .app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.stripe_emulator",
                                     description="Local Stripe API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", default=os.environ.get("STRIPE_EMULATOR_WEBHOOK_URL"))
    parser.add_argument("--webhook-secret",
                        default=os.environ.get("STRIPE_EMULATOR_WEBHOOK_SECRET"))
    parser.add_argument("--state-file", default=os.environ.get("STRIPE_EMULATOR_STATE_FILE"),
                        help="JSON file that keeps state across restarts")
    parser.add_argument("--public-url", default=os.environ.get("STRIPE_EMULATOR_PUBLIC_URL"),
                        help="base URL browsers use for hosted pages (default http://HOST:PORT)")
    parser.add_argument("--retry-base-delay", type=float, default=0.5,
                        help="first webhook retry delay in seconds (doubles each attempt)")
    parser.add_argument("--retry-max-attempts", type=int, default=5)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the emulator only listens on loopback addresses")
    public_url = args.public_url or f"http://{args.host}:{args.port}"
    app = create_app(args.webhook_url, args.webhook_secret, public_url,
                     state_file=args.state_file, retry_base_delay=args.retry_base_delay,
                     retry_max_attempts=args.retry_max_attempts)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
