"""Sentry error tracking and logging, with personal data scrubbed before anything leaves."""

from __future__ import annotations

import json
import logging
import re
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sentry_sdk

from aether_web.settings import get_settings

log = logging.getLogger("aether_web")
# Sentry's browser loader script (the page's <head> loads it; the CSP allows its origin).
SENTRY_LOADER = "https://js.sentry-cdn.com/{key}.min.js"

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_SENSITIVE_HEADERS = {"cookie", "authorization", "set-cookie", "stripe-signature",
                      "aether-signature", "proxy-authorization", "x-forwarded-for"}
_SENSITIVE_KEYS = {"password", "email", "token", "secret", "card", "cookie", "api_key"}
FILTERED = "[Filtered]"


def _scrub_text(value: Any) -> Any:
    if isinstance(value, str):
        return _EMAIL.sub(FILTERED, value)
    return value


def _scrub_mapping(data: Any) -> Any:
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            k = str(key).lower()
            if k in _SENSITIVE_HEADERS or any(s in k for s in _SENSITIVE_KEYS):
                out[key] = FILTERED
            else:
                out[key] = _scrub_mapping(value)
        return out
    if isinstance(data, list):
        return [_scrub_mapping(v) for v in data]
    return _scrub_text(data)


def scrub_event(event: dict, _hint: dict | None = None) -> dict:
    """Remove emails, cookies, auth headers and other personal data from a Sentry event."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        request.pop("data", None)
        if "headers" in request:
            request["headers"] = _scrub_mapping(request["headers"])
        if isinstance(request.get("query_string"), str):
            request["query_string"] = _scrub_text(request["query_string"])
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    for key in ("extra", "contexts", "tags"):
        if key in event:
            event[key] = _scrub_mapping(event[key])
    if "message" in event:
        event["message"] = _scrub_text(event["message"])
    if isinstance(event.get("logentry"), dict):
        event["logentry"] = _scrub_mapping(event["logentry"])
    for exc in (event.get("exception") or {}).get("values", []) or []:
        exc["value"] = _scrub_text(exc.get("value"))
        for frame in (exc.get("stacktrace") or {}).get("frames", []) or []:
            if "vars" in frame:
                frame["vars"] = _scrub_mapping(frame["vars"])
    crumbs = event.get("breadcrumbs")
    if isinstance(crumbs, dict) and "values" in crumbs:
        crumbs["values"] = _scrub_mapping(crumbs["values"])
    # Last, every string anywhere (source lines, log messages): no email leaves the process.
    return _scrub_emails_everywhere(event)


def _scrub_emails_everywhere(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _scrub_emails_everywhere(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_scrub_emails_everywhere(v) for v in data]
    return _scrub_text(data)


def init_sentry(dsn: str | None = None) -> bool:
    """Start Sentry when a DSN is set; returns whether it is on."""
    settings = get_settings()
    dsn = dsn if dsn is not None else settings.sentry_dsn
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        environment=settings.env,
        # No personal data: sentry-sdk's default (its send_default_pii option is deprecated;
        # leaving data_collection unset also keeps its own event scrubber on).
        # Frame locals hold request scopes (cookies, headers): never send them.
        include_local_variables=False,
        max_request_body_size="never",
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        traces_sample_rate=0.0,
    )
    return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line (time, level, logger, message, and any `extra=` fields), with
    email addresses scrubbed, for the platform's log collector."""

    _STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _scrub_text(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = _scrub_mapping(value if _jsonable(value) else repr(value))
        if record.exc_info:
            entry["exception"] = _scrub_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def _jsonable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, dict))


def unreadable_client_packet(exc: BaseException) -> bool:
    """Whether socket.io raised `exc` while reading a packet a client sent (malformed or
    over-deep JSON, an unknown packet type, an event without a name), before any handler of
    Reflex's or ours ran: every frame after `_handle_eio_message` is socket.io's, engine.io's
    or json's."""
    frames = traceback.extract_tb(exc.__traceback__)
    names = [frame.name for frame in frames]
    if "_handle_eio_message" not in names:
        return False
    after = frames[names.index("_handle_eio_message") + 1:]
    return all(f.name == "_sio_loads" or any(part in ("socketio", "engineio", "json")
                                             for part in Path(f.filename).parts)
               for f in after)


class ClientPacketErrors(logging.Filter):
    """engineio logs a packet it could not read as an error with its traceback, which Sentry
    reports as an event: any client could fill the logs and the Sentry quota at will. Such a
    record becomes one warning line (the packet was dropped; the connection stays)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and unreadable_client_packet(exc):
            record.msg, record.args = "dropped an unreadable socket.io packet (%s)", (
                type(exc).__name__,)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def configure_logging(stream: Any = None) -> None:
    """Send the app's logs to stderr as JSON lines (see JsonLinesFormatter); socket.io's
    errors about clients' unreadable packets become warnings (`ClientPacketErrors`)."""
    if getattr(configure_logging, "_done", False):
        return
    logging.getLogger("engineio.server").addFilter(ClientPacketErrors())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLinesFormatter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    configure_logging._done = True  # type: ignore[attr-defined]
