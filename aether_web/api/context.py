"""What every route needs: the transaction, the signed-in user, the client's address."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from aether_web.client_address import forwarded_client
from aether_web.cookies import SESSION_COOKIE
from aether_web.db import read_transaction, transaction
from aether_web.errors import Unauthenticated
from aether_web.models import Profile
from aether_web.services import accounts

T = TypeVar("T")


async def in_transaction(fn: Callable[..., T], *args, **kwargs) -> T:
    """Run `fn(session, ...)` in one transaction on a worker thread."""

    def run() -> T:
        with transaction() as session:
            return fn(session, *args, **kwargs)

    return await run_in_threadpool(run)


async def in_read_transaction(fn: Callable[..., T], *args, **kwargs) -> T:
    """Run `fn(session, ...)` in a read-only transaction on a worker thread (no write lock)."""

    def run() -> T:
        with read_transaction() as session:
            return fn(session, *args, **kwargs)

    return await run_in_threadpool(run)


def client_ip(request: Request) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy
    (`AETHER_TRUSTED_PROXIES`); then the rightmost X-Forwarded-For hop that is not one."""
    from aether_web.settings import get_settings

    peer = request.client.host if request.client else ""
    hops = ",".join(request.headers.getlist("x-forwarded-for"))
    return forwarded_client(peer, hops, get_settings().trusted_proxy_networks)


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def require_user(session: Session, request: Request) -> Profile:
    """The user behind the request's session cookie, or Unauthenticated."""
    user = accounts.user_for_token(session, token=session_token(request))
    if user is None:
        raise Unauthenticated()
    return user
