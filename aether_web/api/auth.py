"""Sign-up, log-in, log-out, password reset and the email confirmation link's resend. The
session lives in an HttpOnly cookie.

Forms post here directly (a browser gets a 303 back to the page, with an error code when it
failed); JSON callers get JSON. Mail is delivered after the answer is sent, so how long an
answer takes says nothing about whether an account exists.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote, urlencode

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from aether_web.api.context import (
    client_ip,
    in_transaction,
    require_user,
    session_token,
)
from aether_web.api.responses import from_error, json_body
from aether_web.billing.plans import PAID_PLAN_KEYS
from aether_web.cookies import FORM_EMAIL_COOKIE, SESSION_COOKIE
from aether_web.db import transaction
from aether_web.errors import AetherError, InvalidInput, RateLimited, Unauthenticated
from aether_web.models import Profile
from aether_web.routes import FORGOT_PASSWORD
from aether_web.services import accounts, password_reset, passwords, throttle, verification
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
    response = _failure(exc, is_form, page, fields)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.details.get("retry_after", 60))
    return response


def _failure(exc: AetherError, is_form: bool, page: str, fields: dict) -> Response:
    if not is_form:
        return from_error(exc)
    code = exc.code
    fields_with_errors = exc.details.get("fields") or {}
    if code == "invalid_input":
        password_error = fields_with_errors.get("password", "")
        code = ("invalid_email" if "email" in fields_with_errors
                else "common_password" if "common" in password_error
                else "weak_password" if password_error else "invalid_name")
    query = {"error": code}
    if fields.get("next"):
        query["next"] = _safe_next(fields.get("next"))
    if fields.get("plan") in PAID_PLAN_KEYS:
        query["plan"] = fields["plan"]
    response = RedirectResponse(f"{page}?{urlencode(query)}", status_code=303)
    if fields.get("email"):
        # The form keeps what was typed, but an email never goes into the address (history,
        # logs, Referer): it rides in a short-lived HttpOnly cookie the form page reads.
        response.set_cookie(FORM_EMAIL_COOKIE, quote(str(fields["email"])[:320]), max_age=300,
                            httponly=True, secure=get_settings().cookie_secure,
                            samesite="strict", path="/")
    return response


def _ok(token: str, is_form: bool, fields: dict, user, *, mail: bool = False) -> Response:
    background = _deliver_mail() if mail else None
    if is_form:
        response: Response = RedirectResponse(_safe_next(fields.get("next")), status_code=303,
                                              background=background)
        response.delete_cookie(FORM_EMAIL_COOKIE, path="/")  # the form is done with it
    else:
        response = JSONResponse({"user": {"id": str(user.id), "email": user.email}},
                                background=background)
    return _with_cookie(response, token)


async def signup(request: Request) -> Response:
    fields, is_form = await _read(request)
    ip, agent = client_ip(request), request.headers.get("user-agent", "")
    email, password = str(fields.get("email", "")), str(fields.get("password", ""))
    name = str(fields.get("name", ""))
    plan = str(fields.get("plan", "")) or None
    previous = session_token(request)
    try:
        errors = accounts.validate_signup(email=email, password=password, name=name)
        if errors:
            raise InvalidInput("Please fix the highlighted fields.", fields=errors)
        await run_in_threadpool(lambda: throttle.check("signup", ip=ip))
        # Hashed before the transaction: the write lock is never held for a hash.
        password_hash = await passwords.hash_password_async(password)

        def run(session):
            user = accounts.sign_up(session, email=email, password=password, name=name,
                                    password_hash=password_hash, plan=plan)
            return user, accounts.create_session(session, user_id=user.id, ip=ip,
                                                 user_agent=agent, replaces=previous)

        user, token = await in_transaction(run)
    except AetherError as exc:
        return _fail(exc, is_form, "/signup", fields)
    return _ok(token, is_form, fields, user, mail=True)


async def _verified_user_id(email: str, password: str, ip: str) -> uuid.UUID:
    """The account for these credentials, or RateLimited / Unauthenticated.

    The attempt is counted first (atomically), the hash is read in a short transaction and
    verified outside any transaction, within the per-worker hashing cap."""
    await run_in_threadpool(lambda: throttle.check_login(email=email, ip=ip))
    user_id, stored = await in_transaction(
        lambda s: accounts.login_candidate(s, email=email))
    ok, needs_rehash = await passwords.verify_password_async(
        stored or passwords.DUMMY_HASH, password)
    if user_id is None or not ok:
        raise Unauthenticated("Wrong email or password.", code="invalid_credentials")
    if needs_rehash:
        new_hash = await passwords.hash_password_async(password)
        await in_transaction(lambda s: accounts.replace_password_hash(
            s, user_id=user_id, old_hash=stored, new_hash=new_hash))
    return user_id


async def login(request: Request) -> Response:
    fields, is_form = await _read(request)
    ip, agent = client_ip(request), request.headers.get("user-agent", "")
    email, password = str(fields.get("email", "")), str(fields.get("password", ""))
    email = accounts.normalize_email(email)
    previous = session_token(request)
    if len(password) > accounts.MAX_PASSWORD:
        return _fail(Unauthenticated("Wrong email or password.", code="invalid_credentials"),
                     is_form, "/login", fields)

    def run(session, user_id):
        user = session.get(Profile, user_id)
        if user is None:  # deleted between the check and now
            raise Unauthenticated("Wrong email or password.", code="invalid_credentials")
        return user, accounts.create_session(session, user_id=user.id, ip=ip, user_agent=agent,
                                             replaces=previous)

    try:
        user_id = await _verified_user_id(email, password, ip)
        user, token = await in_transaction(run, user_id)
    except RateLimited as exc:
        # Waiting is one way out; a reset link (its own limit) is the other.
        exc.message = f"{exc.message} Or reset your password: {FORGOT_PASSWORD}"
        return _fail(exc, is_form, "/login", fields)
    except AetherError as exc:
        return _fail(exc, is_form, "/login", fields)
    await run_in_threadpool(lambda: throttle.login_succeeded(email=email, ip=ip))
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


async def forgot_password(request: Request) -> Response:
    """Ask for a reset link. The answer is the same whether or not the address has an account;
    the client's address is throttled first (`password_reset` rule)."""
    fields, is_form = await _read(request)
    email = str(fields.get("email", ""))
    try:
        await run_in_threadpool(lambda: throttle.check("password_reset", ip=client_ip(request)))
        await in_transaction(lambda s: password_reset.request_reset(s, email=email))
    except AetherError as exc:
        return _fail(exc, is_form, "/forgot-password", {})
    if is_form:
        return RedirectResponse("/forgot-password?sent=1", status_code=303,
                                background=_deliver_mail())
    return JSONResponse({"ok": True, "message": password_reset.SENT_MESSAGE}, status_code=202,
                        background=_deliver_mail())


async def reset_password(request: Request) -> Response:
    """Choose a new password from a reset link; every session of the account ends. The new
    password is hashed outside the transaction, after the link and the password are checked."""
    fields, is_form = await _read(request)
    token, password = str(fields.get("token", "")), str(fields.get("password", ""))
    ip = client_ip(request)
    try:
        await in_transaction(lambda s: password_reset.check_reset(s, token=token,
                                                                  password=password))
        password_hash = await passwords.hash_password_async(password)
        email = await in_transaction(lambda s: password_reset.reset_password(
            s, token=token, password=password, password_hash=password_hash).email)
    except AetherError as exc:
        if not is_form:
            return from_error(exc)
        if exc.code == "invalid_token":
            return RedirectResponse("/forgot-password?error=invalid_token", status_code=303)
        code = "common_password" if "common" in exc.message else exc.code
        query = urlencode({"token": token[:200], "error": code})
        return RedirectResponse(f"/reset-password?{query}", status_code=303)
    # The mailbox's owner: their own failed guesses from here no longer hold them back.
    await run_in_threadpool(lambda: throttle.login_succeeded(email=email, ip=ip))
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
