"""Sign-up, log-in and log-out. The session lives in an HttpOnly cookie.

Forms post here directly (a browser gets a 303 back to the page, with an error code when it
failed); JSON callers get JSON.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from aether_web.api.context import (
    FORM_EMAIL_COOKIE,
    SESSION_COOKIE,
    client_ip,
    in_transaction,
    session_token,
)
from aether_web.api.responses import from_error, json_body
from aether_web.db import transaction
from aether_web.errors import AetherError, Unauthenticated
from aether_web.services import accounts
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
    if not is_form:
        return from_error(exc)
    code = exc.code
    fields_with_errors = exc.details.get("fields") or {}
    if code == "invalid_input":
        code = "invalid_email" if "email" in fields_with_errors else "weak_password"
    query = {"error": code}
    if fields.get("next"):
        query["next"] = _safe_next(fields.get("next"))
    response = RedirectResponse(f"{page}?{urlencode(query)}", status_code=303)
    if fields.get("email"):
        # The form keeps what was typed, but an email never goes into the address (history,
        # logs, Referer): it rides in a short-lived HttpOnly cookie the form page reads.
        response.set_cookie(FORM_EMAIL_COOKIE, quote(str(fields["email"])[:320]), max_age=300,
                            httponly=True, secure=get_settings().cookie_secure,
                            samesite="strict", path="/")
    return response


def _ok(token: str, is_form: bool, fields: dict, user) -> Response:
    if is_form:
        response: Response = RedirectResponse(_safe_next(fields.get("next")), status_code=303)
        response.delete_cookie(FORM_EMAIL_COOKIE, path="/")  # the form is done with it
    else:
        response = JSONResponse({"user": {"id": str(user.id), "email": user.email}})
    return _with_cookie(response, token)


async def signup(request: Request) -> Response:
    fields, is_form = await _read(request)
    ip, agent = client_ip(request), request.headers.get("user-agent", "")

    def run(session):
        user = accounts.sign_up(
            session,
            email=str(fields.get("email", "")),
            password=str(fields.get("password", "")),
            name=str(fields.get("name", "")),
        )
        return user, accounts.create_session(session, user_id=user.id, ip=ip, user_agent=agent)

    try:
        user, token = await in_transaction(run)
    except AetherError as exc:
        return _fail(exc, is_form, "/signup", fields)
    return _ok(token, is_form, fields, user)


async def login(request: Request) -> Response:
    fields, is_form = await _read(request)
    ip, agent = client_ip(request), request.headers.get("user-agent", "")
    email, password = str(fields.get("email", "")), str(fields.get("password", ""))

    def run(session):
        user = accounts.authenticate(session, email=email, password=password, ip=ip)
        accounts.clear_failed_logins(session, email=email)
        return user, accounts.create_session(session, user_id=user.id, ip=ip, user_agent=agent)

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
