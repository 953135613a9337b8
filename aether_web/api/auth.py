"""Sign-up, log-in and log-out. The session lives in an HttpOnly cookie.

Forms post here directly (a browser gets a 303 back to the page, with an error code when it
failed); JSON callers get JSON.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from aether_web.api.context import SESSION_COOKIE, client_ip, in_transaction, session_token
from aether_web.api.responses import from_error, json_body
from aether_web.db import transaction
from aether_web.errors import AetherError, InvalidInput, RateLimited, Unauthenticated
from aether_web.models import Profile
from aether_web.services import accounts, passwords, throttle
from aether_web.settings import get_settings


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
        code = ("invalid_email" if "email" in fields_with_errors
                else "weak_password" if "password" in fields_with_errors else "invalid_name")
    query = {"error": code}
    if fields.get("email"):
        query["email"] = fields["email"][:320]
    if fields.get("next"):
        query["next"] = _safe_next(fields.get("next"))
    return RedirectResponse(f"{page}?{urlencode(query)}", status_code=303)


def _ok(token: str, is_form: bool, fields: dict, user) -> Response:
    if is_form:
        response: Response = RedirectResponse(_safe_next(fields.get("next")), status_code=303)
    else:
        response = JSONResponse({"user": {"id": str(user.id), "email": user.email}})
    return _with_cookie(response, token)


async def signup(request: Request) -> Response:
    fields, is_form = await _read(request)
    ip, agent = client_ip(request), request.headers.get("user-agent", "")
    email, password = str(fields.get("email", "")), str(fields.get("password", ""))
    name = str(fields.get("name", ""))
    try:
        errors = accounts.validate_signup(email=email, password=password, name=name)
        if errors:
            raise InvalidInput("Please fix the highlighted fields.", fields=errors)
        await run_in_threadpool(lambda: throttle.check("signup", ip=ip))
        # Hashed before the transaction: the write lock is never held for a hash.
        password_hash = await passwords.hash_password_async(password)

        def run(session):
            user = accounts.sign_up(session, email=email, password=password, name=name,
                                    password_hash=password_hash)
            return user, accounts.create_session(session, user_id=user.id, ip=ip,
                                                 user_agent=agent)

        user, token = await in_transaction(run)
    except AetherError as exc:
        return _fail(exc, is_form, "/signup", fields)
    return _ok(token, is_form, fields, user)


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
    if len(password) > accounts.MAX_PASSWORD:
        return _fail(Unauthenticated("Wrong email or password.", code="invalid_credentials"),
                     is_form, "/login", fields)

    def run(session, user_id):
        user = session.get(Profile, user_id)
        if user is None:  # deleted between the check and now
            raise Unauthenticated("Wrong email or password.", code="invalid_credentials")
        return user, accounts.create_session(session, user_id=user.id, ip=ip, user_agent=agent)

    try:
        user_id = await _verified_user_id(email, password, ip)
        user, token = await in_transaction(run, user_id)
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
    is_form = request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    )
    response: Response = (
        RedirectResponse("/", status_code=303) if is_form else JSONResponse({"ok": True})
    )
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: Request) -> Response:
    from aether_web.api.context import require_user

    def run(session):
        user = require_user(session, request)
        return {"id": str(user.id), "email": user.email, "name": user.name, "plan": user.plan}

    try:
        return JSONResponse({"user": await in_transaction(run)})
    except AetherError as exc:
        return from_error(exc)


routes = [
    Route("/api/auth/signup", signup, methods=["POST"]),
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
    Route("/api/auth/me", me, methods=["GET"]),
]
