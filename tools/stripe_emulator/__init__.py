"""A local, stateful emulator of the part of Stripe's HTTP API that aether_web uses.

Start it with ``python -m tools.stripe_emulator --port 12111`` or, in tests, with
``tools.stripe_emulator.testing.run_in_thread()``. See docs/stripe-emulator.md.
"""

from .app import AppState, create_app

__all__ = ["AppState", "create_app"]
