"""``python -m tools.stripe_emulator --port 12111``."""

from __future__ import annotations

import argparse
import os

import uvicorn

from .app import create_app
from .faults import Faults


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
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="added to every API call (e.g. 150 for a cloud region to Stripe)")
    parser.add_argument("--jitter-ms", type=float, default=0.0,
                        help="random extra latency, 0 to this much")
    parser.add_argument("--rate-429", type=float, default=0.0,
                        help="share of API calls answered 429 (0 to 1)")
    parser.add_argument("--rate-5xx", type=float, default=0.0,
                        help="share of API calls answered 500 (0 to 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the injected faults")
    parser.add_argument("--finalization-grace", type=int, default=None, metavar="SECONDS",
                        help="finalization grace period of renewal drafts (default 3600, "
                             "at most 259200)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    for name in ("rate_429", "rate_5xx"):
        if not 0 <= getattr(args, name) <= 1:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    if args.finalization_grace is not None and not 0 <= args.finalization_grace <= 259200:
        parser.error("--finalization-grace is at most 72 hours (259200 s)")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the emulator only listens on loopback addresses")
    public_url = args.public_url or f"http://{args.host}:{args.port}"
    app = create_app(args.webhook_url, args.webhook_secret, public_url,
                     state_file=args.state_file, retry_base_delay=args.retry_base_delay,
                     retry_max_attempts=args.retry_max_attempts,
                     fault_settings=Faults(latency_ms=args.latency_ms, jitter_ms=args.jitter_ms,
                                           rate_429=args.rate_429, rate_5xx=args.rate_5xx,
                                           seed=args.seed),
                     finalization_grace_seconds=args.finalization_grace)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
