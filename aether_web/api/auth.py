"""Sign-up, log-in, log-out, password reset and the email confirmation link's resend. The
session lives in an HttpOnly cookie.

Forms post here directly (a browser gets a 303 back to the page, with an error code when it
failed); JSON callers get JSON. Mail is delivered after the answer is sent, so how long an
answer takes says nothing about whether an account exists.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from aether_web.api.context import (
    SESSION_COOKIE,
    client_ip,
    in_transaction,
    require_user,
    session_token,
)
from aether_web.api.responses import from_error, json_body
from aether_web.db import transaction
from aether_web.errors import AetherError, Unauthenticated
from aether_web.services import accounts, password_reset, verification
from aether_web.services.email import deliver_pending_quietly
from aether_web.settings import get_settings


def _deliver_mail() -> BackgroundTask:
    """Send what the request queued, after the answer has gone out."""
    return BackgroundTask(deliver_pending_quietly)


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data"))


async def _read(request: Request) -> tuple[dict, bool]:
    """The submitted fields and whether they came from an HTML form."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        return {k: str(v) for k, v in form.items()}, True
    return await json_body(request), False


def _safe_next(value: str | None) -> str:
    """Only same-site paths are followed after log-in (no open redirects)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dashboard"


def _with_cookie(response: Response, token: str) -> Response:
    settings = get_settings()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_ttl_hours * 3600,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
    )
    return response


def _fail(exc: AetherError, is_form: bool, page: str, fields: dict) -> Response:
    if not is_form:
        return from_error(exc)
    code = exc.code
    fields_with_errors = exc.details.get("fields") or {}
    if code == "invalid_input":
        if "email" in fields_with_errors:
            code = "invalid_email"
        else:
            code = ("common_password" if "common" in fields_with_errors.get("password", "")
                    else "weak_password")
    query = {"error": code}
    if fields.get("email"):
        query["email"] = fields["email"][:320]
    if fields.get("next"):
        query["next"] = _safe_next(fields.get("next"))
    if fields.get("plan") in ("pro", "team"):
        query["plan"] = fields["plan"]
    return RedirectResponse(f"{page}?{urlencode(query)}", status_code=303)


def _ok(token: str, is_form: bool, fields: dict, user, *, mail: bool = False) -> Response:
    background = _deliver_mail() if mail else None
    if is_form:
        response: Response = RedirectResponse(_safe_next(fields.get("next")), status_code=303,
                                              background=background)
    else:
        response = JSONResponse({"user": {"id": str(user.id), "email": user.email}},
                                background=background)
    return _with_cookie(response, token)


async def signup(request: Request) -> Response:
    fields, is_form = await _read(request)
    ip, agent = client_ip(request), request.headers.get("user-agent", "")
    previous = session_token(request)

    def run(session):
        user = accounts.sign_up(
            session,
            email=str(fields.get("email", "")),
            password=str(fields.get("password", "")),
            name=str(fields.get("name", "")),
            plan=str(fields.get("plan", "")) or None,
        )
        return user, accounts.create_session(session, user_id=user.id, ip=ip, user_agent=agent,
                                             replaces=previous)

    try:
        user, token = await in_transaction(run)
    except AetherError as exc:
        return _fail(exc, is_form, "/signup", fields)
    return _ok(token, is_form, fields, user, mail=True)


async def login(request: Request) -> Response:
    fields, is_form = await _read(request)
    ip, agent = client_ip(request), request.headers.get("user-agent", "")
    email, password = str(fields.get("email", "")), str(fields.get("password", ""))
    previous = session_token(request)

    def run(session):
        user = accounts.authenticate(session, email=email, password=password, ip=ip)
        accounts.clear_failed_logins(session, email=email)
        return user, accounts.create_session(session, user_id=user.id, ip=ip, user_agent=agent,
                                             replaces=previous)

    try:
        user, token = await in_transaction(run)
    except Unauthenticated as exc:
        await in_transaction(lambda s: accounts.record_failed_login(s, email=email, ip=ip))
        return _fail(exc, is_form, "/login", fields)
    except AetherError as exc:
        return _fail(exc, is_form, "/login", fields)
    return _ok(token, is_form, fields, user)


async def logout(request: Request) -> Response:
    token = session_token(request)

    def run() -> None:
        with transaction() as session:
            accounts.end_session(session, token=token)

    await run_in_threadpool(run)
    response: Response = (
        RedirectResponse("/", status_code=303) if _is_form(request) else JSONResponse({"ok": True})
    )
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _reset_throttle(request: Request, email: str) -> None:
    """Where per-IP limits on reset requests apply (raises RateLimited). Each account gets
    at most `password_reset.MAX_SENDS_PER_HOUR` emails an hour whatever the client."""
    del request, email  # per-IP throttling is not configured in this build


async def forgot_password(request: Request) -> Response:
    """Ask for a reset link. The answer is the same whether or not the address has an account."""
    fields, is_form = await _read(request)
    email = str(fields.get("email", ""))
    try:
        _reset_throttle(request, email)
        await in_transaction(lambda s: password_reset.request_reset(s, email=email))
    except AetherError as exc:
        return _fail(exc, is_form, "/forgot-password", {})
    if is_form:
        return RedirectResponse("/forgot-password?sent=1", status_code=303,
                                background=_deliver_mail())
    return JSONResponse({"ok": True, "message": password_reset.SENT_MESSAGE}, status_code=202,
                        background=_deliver_mail())


async def reset_password(request: Request) -> Response:
    """Choose a new password from a reset link; every session of the account ends."""
    fields, is_form = await _read(request)
    token, password = str(fields.get("token", "")), str(fields.get("password", ""))

    def run(session):
        password_reset.reset_password(session, token=token, password=password)

    try:
        await in_transaction(run)
    except AetherError as exc:
        if not is_form:
            return from_error(exc)
        if exc.code == "invalid_token":
            return RedirectResponse("/forgot-password?error=invalid_token", status_code=303)
        code = ("common_password" if "common" in exc.message else exc.code)
        query = urlencode({"token": token[:200], "error": code})
        return RedirectResponse(f"/reset-password?{query}", status_code=303)
    response: Response = (
        RedirectResponse("/login?notice=password_reset", status_code=303,
                         background=_deliver_mail())
        if is_form else JSONResponse({"ok": True}, background=_deliver_mail()))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def resend_verification(request: Request) -> Response:
    """Email the signed-in user a new confirmation link for their address."""
    def run(session):
        user = require_user(session, request)
        return verification.resend_verification(session, user_id=user.id)

    try:
        sent = await in_transaction(run)
    except AetherError as exc:
        return from_error(exc)
    return JSONResponse({"ok": True, "sent": sent}, background=_deliver_mail())


async def me(request: Request) -> Response:
    def run(session):
        user = require_user(session, request)
        return {"id": str(user.id), "email": user.email, "name": user.name, "plan": user.plan,
                "email_verified": user.email_verified_at is not None}

    try:
        return JSONResponse({"user": await in_transaction(run)})
    except AetherError as exc:
        return from_error(exc)


routes = [
    Route("/api/auth/signup", signup, methods=["POST"]),
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
    Route("/api/auth/me", me, methods=["GET"]),
    Route("/api/auth/forgot-password", forgot_password, methods=["POST"]),
    Route("/api/auth/reset-password", reset_password, methods=["POST"]),
    Route("/api/auth/resend-verification", resend_verification, methods=["POST"]),
]
