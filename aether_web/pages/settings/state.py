"""The settings page's state: the account's name, pending email change and sessions, and
the handlers of each section (all with the current password where it matters)."""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.client_address import forwarded_client
from aether_web.db import transaction
from aether_web.errors import AetherError
from aether_web.integrations.stripe import get_gateway
from aether_web.services import account_deletion, account_settings, account_tokens, verification
from aether_web.services.email import deliver_soon
from aether_web.services.passwords import hash_password_async
from aether_web.state.auth import AuthState, login_required


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _device(user_agent: str) -> str:
    """A short name for a browser, from its user agent."""
    ua = user_agent or ""
    browser = next((name for key, name in (("Edg/", "Edge"), ("Firefox/", "Firefox"),
                                           ("Chrome/", "Chrome"), ("Safari/", "Safari"))
                    if key in ua), "Browser")
    system = next((name for key, name in (("Android", "Android"), ("iPhone", "iPhone"),
                                          ("Mac OS", "macOS"), ("Windows", "Windows"),
                                          ("Linux", "Linux")) if key in ua), "")
    return f"{browser} on {system}" if system else (browser if ua else "Unknown device")


class SettingsState(AuthState):
    """The signed-in user's account settings."""

    loaded: bool = False
    name: str = ""
    pending_email: str = ""
    sessions: list[dict[str, str]] = []
    # One message per section: (text, "green" | "red").
    name_msg: str = ""
    email_msg: str = ""
    email_ok: bool = False
    password_msg: str = ""
    password_ok: bool = False
    sessions_msg: str = ""
    delete_msg: str = ""
    deleting: bool = False

    def _reload(self, session) -> None:
        user = self._user(session)
        self._remember(user)
        self.name = user.name
        self.pending_email = account_tokens.pending_email_change(
            session, user_id=user.id, current=user.email) or ""
        self.sessions = [
            {"id": s.id, "device": _device(s.user_agent), "ip": s.ip or "unknown address",
             "created": _when(s.created_at), "last_seen": _when(s.last_seen_at),
             "current": "yes" if s.current else ""}
            for s in account_settings.list_sessions(session, user_id=user.id,
                                                    current_token=self._session_token())]
        self.loaded = True

    def _client_ip(self) -> str:
        """This browser's address, as the API routes see it (`api.context.client_ip`)."""
        from aether_web.settings import get_settings

        headers = self.router.headers.raw_headers
        peer = headers.get("asgi-scope-client") or self.router.session.client_ip
        return forwarded_client(peer, headers.get("x-forwarded-for", ""),
                                get_settings().trusted_proxy_networks)

    async def _verified_hash(self, password: str) -> str:
        """The stored hash, once `password` matched it: throttled like log-in and verified
        off the event loop, outside any transaction."""
        with transaction() as session:
            user = self._user(session)
            stored, email = user.password_hash, user.email
        return await account_settings.verify_throttled(stored, password, email=email,
                                                       ip=self._client_ip())

    async def _run(self, fn, *, password: str | None = None) -> AetherError | None:
        """Run `fn(session, user_id)` (or `fn(session, user_id, verified_hash)` when the
        current `password` is needed) in one transaction and reload; the error to show, if any
        (a session that ended is raised: `login_required`)."""
        try:
            verified = await self._verified_hash(password) if password is not None else None
            with transaction() as session:
                if password is None:
                    fn(session, self._user_id(session))
                else:
                    fn(session, self._user_id(session), verified)
            with transaction() as session:
                self._reload(session)
        except AetherError as exc:
            return exc
        return None

    @rx.event
    @login_required
    def load(self):
        self.name_msg = self.email_msg = self.password_msg = self.sessions_msg = ""
        self.delete_msg = ""
        with transaction() as session:
            self._reload(session)

    @rx.event
    @login_required
    async def save_name(self, form_data: dict):
        error = await self._run(lambda s, uid: account_settings.rename(
            s, user_id=uid, name=str(form_data.get("name", ""))))
        self.name_msg = error.message if error else "Saved."

    @rx.event
    @login_required
    async def change_email(self, form_data: dict):
        error = await self._run(lambda s, uid, verified: verification.request_email_change(
            s, user_id=uid, new_email=str(form_data.get("new_email", "")),
            verified_hash=verified), password=str(form_data.get("password", "")))
        self.email_ok = error is None
        self.email_msg = error.message if error else (
            f"We've sent a link to {self.pending_email}. Your address changes when you open "
            "it; until then it stays as it is.")
        if error is None:
            deliver_soon()

    @rx.event
    @login_required
    async def change_password(self, form_data: dict):
        token = self._session_token()
        new_password = str(form_data.get("new_password", ""))
        new_hash: list[str] = []

        verified: list[str] = []

        def change(s, uid):
            account_settings.change_password(
                s, user_id=uid, new_password=new_password, keep_token=token,
                verified_hash=verified[0], new_password_hash=new_hash[0])

        try:  # the new password is checked, the current one verified (throttled), then the
            # new one hashed: both off the event loop and outside any transaction
            with transaction() as session:
                account_settings.new_password_problem(
                    session, user_id=self._user_id(session), new_password=new_password)
            verified.append(await self._verified_hash(str(form_data.get("current_password",
                                                                        ""))))
            new_hash.append(await hash_password_async(new_password))
            error = await self._run(change)
        except AetherError as exc:
            error = exc
        self.password_ok = error is None
        self.password_msg = error.message if error else (
            "Your password is changed. Your other devices were signed out.")
        if error is None:
            deliver_soon()

    @rx.event
    @login_required
    async def sign_out_others(self):
        token = self._session_token()
        ended = [0]

        def run(s, uid):
            ended[0] = account_settings.sign_out_others(s, user_id=uid, current_token=token)

        if await self._run(run) is not None:
            return
        self.sessions_msg = (f"Signed out {ended[0]} other session"
                             f"{'' if ended[0] == 1 else 's'}.")

    @rx.event
    @login_required
    async def delete_account(self, form_data: dict):
        self.delete_msg = ""
        try:
            verified = await self._verified_hash(str(form_data.get("password", "")))
            with transaction() as session:
                account_deletion.delete_account(
                    session, user_id=self._user_id(session), verified_hash=verified,
                    gateway=get_gateway())
        except AetherError as exc:  # a wrong password among them
            self.delete_msg = exc.message
            return None
        self.signed_in = False
        return rx.redirect(f"{routes.HOME}?account=deleted")
