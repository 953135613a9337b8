"""The Reflex app: pages, our /api/ routes (api_transformer), Sentry and the scheduler."""

from __future__ import annotations

import contextlib
import importlib
import pkgutil

import reflex as rx

import aether_web.models
import aether_web.pages
from aether_web.api.app import api_transformer
from aether_web.api.heartbeat import close_pool as close_heartbeat_pool
from aether_web.api.heartbeat import heartbeat_fast_path
from aether_web.api.limits import limit_request_bodies
from aether_web.api.metrics import count_requests
from aether_web.api.security import security_middleware
from aether_web.components.head import head_components
from aether_web.jobs.scheduler import start_scheduler
from aether_web.observability import configure_logging, init_sentry
from aether_web.settings import get_settings

settings = get_settings()
configure_logging()
init_sentry()

# Every page module (or page package, in its __init__) registers itself with @rx.page on import.
for _module in pkgutil.iter_modules(aether_web.pages.__path__):
    importlib.import_module(f"aether_web.pages.{_module.name}")


class AetherApp(rx.App):
    """Reflex's app, with the heartbeat hook answered ahead of everything else (on
    PostgreSQL): it is the request the orchestrator sends most, and it needs nothing of
    Reflex's request handling. In front of both: origin checks and security headers, then the
    request body limits (`api.limits`)."""

    def __call__(self):
        # The origin checks and security headers cover the fast path's and the limits' answers.
        return security_middleware(limit_request_bodies(heartbeat_fast_path(super().__call__())))


app = AetherApp(
    # Our /api/ routes in front of Reflex, and every response counted for /api/metrics.
    api_transformer=[api_transformer(), count_requests],
    head_components=head_components(),
    stylesheets=["/styles.css"],
)


@contextlib.asynccontextmanager
async def _scheduler_lifespan():
    """Start the scheduled jobs in this worker; each tick still runs once across workers."""
    scheduler = start_scheduler() if settings.scheduler_enabled else None
    try:
        yield
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)


@contextlib.asynccontextmanager
async def _heartbeat_connections_lifespan():
    """Close this worker's heartbeat connections when it shuts down."""
    try:
        yield
    finally:
        await close_heartbeat_pool()


app.register_lifespan_task(_scheduler_lifespan)
app.register_lifespan_task(_heartbeat_connections_lifespan)
