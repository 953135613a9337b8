"""What every route needs: the transaction, the signed-in user, the client's address."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from aether_web.db import transaction
from aether_web.errors import Unauthenticated
from aether_web.models import Profile
from aether_web.services import accounts

SESSION_COOKIE = "aether_session"
# The email typed into a log-in or sign-up form that failed, so the form can keep it.
FORM_EMAIL_COOKIE = "aether_form_email"
T = TypeVar("T")


async def in_transaction(fn: Callable[..., T], *args, **kwargs) -> T:
    """Run `fn(session, ...)` in one transaction on a worker thread."""

    def run() -> T:
        with transaction() as session:
            return fn(session, *args, **kwargs)

    return await run_in_threadpool(run)


def client_ip(request: Request) -> str:
    forwarded = request.headers.get("x-forwarded-for", "")
    if forwarded:
        return forwarded.split(",")[0].strip()[:64]
    return request.client.host if request.client else ""


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def require_user(session: Session, request: Request) -> Profile:
    """The user behind the request's session cookie, or Unauthenticated."""
    user = accounts.user_for_token(session, token=session_token(request))
    if user is None:
        raise Unauthenticated()
    return user
