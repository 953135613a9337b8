"""HTTP handlers for the Stripe API paths, registered with ``@route``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..store import Store

Handler = Callable[..., dict[str, Any]]
ROUTES: list[tuple[str, str, Handler]] = []


@dataclass
class Ctx:
    store: Store
    public_url: str
    request_id: str | None = None
    idempotency_key: str | None = None


def route(method: str, path: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        ROUTES.append((method, path, fn))
        return fn

    return register


def load_all() -> list[tuple[str, str, Handler]]:
    """Import every resource module (registering its routes) and return the table."""
    from . import (  # noqa: F401
        catalog,
        checkout,
        customers,
        invoiceitems,
        invoices,
        meters,
        subscriptions,
        test_clocks,
    )

    return ROUTES
