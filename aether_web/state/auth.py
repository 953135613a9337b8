"""The signed-in user, resolved on the server from the HttpOnly session cookie at every event."""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable
from urllib.parse import quote

import reflex as rx
from sqlmodel import Session

from aether_web.cookies import SESSION_COOKIE, cookie_value
from aether_web.db import transaction
from aether_web.errors import Unauthenticated
from aether_web.models import Profile
from aether_web.services import accounts


def session_token_from_cookie(raw: str) -> str | None:
    """The session token in a Cookie header, or None."""
    return cookie_value(raw, SESSION_COOKIE)


class SessionEnded(Exception):
    """The browser's session has ended (or there never was one): the visitor logs in again.

    Raised by `AuthState._user`. Not an `AetherError`: a handler's `except AetherError` (the
    refusals it shows) lets it through to `login_required`, which sends the visitor to log in.
    """


class AuthState(rx.State):
    """Base of every signed-in page's state. The browser never chooses the user."""

    signed_in: bool = False
    user_email: str = ""
    user_name: str = ""
    plan: str = "free"
    is_admin: bool = False
    # True until loaded, so the "confirm your email" banner never flashes for verified users.
    email_verified: bool = True

    def _session_token(self) -> str | None:
        return session_token_from_cookie(self.router.headers.cookie or "")

    def _user(self, session: Session) -> Profile:
        """The current user from the server-side session, or SessionEnded."""
        user = accounts.user_for_token(session, token=self._session_token())
        if user is None:
            self.signed_in = False
            raise SessionEnded()
        return user

    def _user_id(self, session: Session) -> uuid.UUID:
        return self._user(session).id

    def _remember(self, user: Profile) -> None:
        self.signed_in = True
        self.user_email = user.email
        self.user_name = user.name or user.email.split("@")[0]
        self.plan = user.plan
        self.is_admin = user.is_admin
        self.email_verified = user.email_verified_at is not None

    def _login_redirect(self):
        path = self.router.url.path or "/dashboard"
        return rx.redirect(f"/login?next={quote(path)}")

    def _current_user_id(self) -> uuid.UUID:
        """The signed-in user's id, read in a short transaction of its own (background events
        call it inside `async with self`, then work on the id outside the state lock)."""
        with transaction() as session:
            return self._user_id(session)

    @rx.event
    def load_optional_user(self) -> None:
        """On public pages: show the account menu when someone is signed in."""
        with transaction() as session:
            user = accounts.user_for_token(session, token=self._session_token())
            if user is None:
                self.signed_in = False
            else:
                self._remember(user)


# What sends the visitor to log in: the session ended, or a service refused them as not
# signed in.
_TO_LOG_IN = (SessionEnded, Unauthenticated)


def login_required(handler: Callable) -> Callable:
    """An event handler of an `AuthState` that sends a visitor whose session has ended to log in
    (back to this page afterwards) instead of failing, wherever `SessionEnded` (or an
    `Unauthenticated` the handler lets through) is raised. Every handler that reads the user
    has it (or says why not), so none catches these itself.

    Put it under `@rx.event`; plain, generator, async and background handlers all work:
        @rx.event(background=True)
        @login_required
        async def upgrade(self, plan_key: str): ...
    """
    if inspect.isasyncgenfunction(handler):
        @functools.wraps(handler)
        async def each_async(self, *args, **kwargs):
            try:
                async for update in handler(self, *args, **kwargs):
                    yield update
            except _TO_LOG_IN:
                yield self._login_redirect()
        return each_async
    if inspect.iscoroutinefunction(handler):
        @functools.wraps(handler)
        async def awaited(self, *args, **kwargs):
            try:
                return await handler(self, *args, **kwargs)
            except _TO_LOG_IN:
                return self._login_redirect()
        return awaited
    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def each(self, *args, **kwargs):
            try:
                yield from handler(self, *args, **kwargs)
            except _TO_LOG_IN:
                yield self._login_redirect()
        return each

    @functools.wraps(handler)
    def called(self, *args, **kwargs):
        try:
            return handler(self, *args, **kwargs)
        except _TO_LOG_IN:
            return self._login_redirect()
    return called
