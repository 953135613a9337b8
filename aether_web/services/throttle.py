"""Throttling that protects the user, not the attacker.

- Log-in is limited per client address (`AETHER_LOGIN_IP_LIMITS`) and per account+address with
  exponential backoff: after `AETHER_LOGIN_FREE_FAILURES` failures each further failure doubles
  the wait (1, 2, 4, ... minutes, up to `AETHER_LOGIN_BACKOFF_MAX_SECONDS`). A stranger's wrong
  guesses from another address never hold back the real user, and a successful log-in from an
  address clears that address's backoff for the account. There is no hard lock.
- Sign-up and password reset are limited per address (`signup`, `password_reset` rules).

Every attempt takes its slot atomically *before* the password is checked (a fixed-window
counter per tier: one `INCR` on Redis, one upsert in the database), so 40 parallel guesses get
at most the allowed number evaluated. Counters live on Redis when Reflex has a `redis_url`
(or `AETHER_THROTTLE_STORAGE` names one), in the database otherwise, and on the database too
when Redis fails mid-way.

Call these outside any database transaction: the database counters commit on their own.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond, parse_many
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from aether_web.errors import RateLimited
from aether_web.observability import log
from aether_web.services.throttle_storage import DatabaseStorage

BACKOFF_BASE_SECONDS = 60


@dataclass(frozen=True)
class Refusal:
    """Which limit refused an attempt and how long until it admits one again."""

    retry_after: int
    reset_at: float = 0.0  # when the full window ends, on the storage's clock


# Per-address refusals this worker has seen, until their window ends: a fixed window that is
# full stays full until it resets, so later attempts from that address are refused here
# without a round trip to the counters (a burst from one address costs almost nothing).
# Only per-address tiers are remembered: nothing clears them early, whereas a successful
# log-in clears an account's backoff. Bounded: past `_REFUSED_MAX` ended entries are dropped,
# then all of them (each worker learns a refusal again at its next attempt).
_REFUSED: dict[tuple[str, str], float] = {}
_REFUSED_MAX = 10_000


def _settings():
    from aether_web.settings import get_settings

    return get_settings()


def _redis_url() -> str:
    import reflex as rx

    return rx.config.get_config().redis_url or ""


@functools.cache
def _storage() -> Storage:
    url = _settings().throttle_storage or _redis_url()
    if not url or url == "database":
        return DatabaseStorage()
    return storage_from_string(url, key_prefix="aether-throttle", wrap_exceptions=True)


_override: Storage | None = None


def use_storage(storage: Storage | None) -> None:
    """Count on `storage` from now on (None: back to the configured one). For tests and tools."""
    global _override
    _override = storage
    forget_refusals()


def forget_refusals() -> None:
    """Drop this worker's remembered refusals (a new storage, or a test's fresh database)."""
    _REFUSED.clear()


def storage() -> Storage:
    """Where attempts are counted."""
    return _override or _storage()


def client_key(ip: str) -> str:
    """The address an attempt is counted under: IPv6 by its /64 (one subscriber's block)."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _digest(*parts: str) -> str:
    """A keyed hash, so counter keys never hold an email or an address."""
    key = _settings().secret_key.encode()
    return hmac.new(key, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()[:32]


def backoff_tiers() -> list[RateLimitItem]:
    """Account+address limits: `free` attempts a minute, then one more per doubled window."""
    settings = _settings()
    free, cap = settings.login_free_failures, settings.login_backoff_max_seconds
    tiers: list[RateLimitItem] = []
    window, extra = BACKOFF_BASE_SECONDS, 0
    while True:
        tiers.append(RateLimitItemPerSecond(free + extra, window))
        if window * 2 > cap:
            return tiers
        window, extra = window * 2, extra + 1


def rules() -> dict[str, list[RateLimitItem]]:
    """The per-address limits by name."""
    settings = _settings()
    return {
        "login": parse_many(settings.login_ip_limits),
        "signup": parse_many(settings.signup_ip_limits),
        "password_reset": parse_many(settings.reset_ip_limits),
    }


def _clock(store: Storage) -> float:
    return store.clock() if isinstance(store, DatabaseStorage) else time.time()


def _take(items: list[RateLimitItem], namespace: str, identity: str, *,
          remember: bool = False) -> Refusal | None:
    """Take one slot of every tier in order, stopping at the first that is full.
    `remember`: a refusal is kept in this worker until its window ends (per-address tiers)."""
    store, key = storage(), (namespace, identity)
    if remember and (until := _REFUSED.get(key)) is not None:
        left = until - _clock(store)
        if left > 0:
            return Refusal(retry_after=max(1, math.ceil(left)), reset_at=until)
        _REFUSED.pop(key, None)
    try:
        refusal = _take_on(store, items, namespace, identity)
    except StorageError as exc:
        log.warning("throttle: %s unavailable (%s); counting in the database",
                    type(store).__name__, exc.__class__.__name__)
        return _take_on(DatabaseStorage(), items, namespace, identity)
    if remember and refusal is not None and refusal.reset_at:
        if len(_REFUSED) >= _REFUSED_MAX:
            now = _clock(store)
            for old, until in list(_REFUSED.items()):
                if until <= now:
                    _REFUSED.pop(old, None)
            if len(_REFUSED) >= _REFUSED_MAX:
                _REFUSED.clear()
        _REFUSED[key] = refusal.reset_at
    return refusal


def _take_on(store: Storage, items: list[RateLimitItem], namespace: str,
             identity: str) -> Refusal | None:
    limiter = FixedWindowRateLimiter(store)
    for item in items:
        if not limiter.hit(item, namespace, identity):
            stats = limiter.get_window_stats(item, namespace, identity)
            # A window that has room again (another worker began the next one in between)
            # refuses this attempt but is not remembered.
            return Refusal(retry_after=max(1, math.ceil(stats.reset_time - _clock(store))),
                           reset_at=stats.reset_time if stats.remaining == 0 else 0.0)
    return None


def _refuse(refusal: Refusal, what: str) -> RateLimited:
    minutes = max(1, math.ceil(refusal.retry_after / 60))
    wait = "a minute" if minutes == 1 else f"{minutes} minutes"
    return RateLimited(f"Too many {what} from here. Try again in {wait}.",
                       code="too_many_attempts", retry_after=refusal.retry_after)


def check_login(*, email: str, ip: str) -> None:
    """Take a log-in attempt for `email` from `ip`, or raise RateLimited (with `retry_after`
    seconds in its details) when this address, or this account from this address, must wait.

    Call before checking the password; `login_succeeded` afterwards clears the backoff."""
    address = client_key(ip)
    refusal = _take(rules()["login"], "login-ip", _digest(address), remember=True)
    if refusal is None:
        refusal = _take(backoff_tiers(), "login-account", _digest(email, address))
    if refusal is not None:
        raise _refuse(refusal, "log-in attempts")


def login_succeeded(*, email: str, ip: str) -> None:
    """The right password from `ip`: its backoff for `email` starts again from zero."""
    identity = _digest(email, client_key(ip))
    limiter = FixedWindowRateLimiter(storage())
    try:
        for item in backoff_tiers():
            limiter.clear(item, "login-account", identity)
    except StorageError as exc:
        log.warning("throttle: could not clear a backoff (%s)", exc.__class__.__name__)


def check(rule: str, *, ip: str) -> None:
    """Take one attempt of `rule` ("signup", "password_reset") for `ip`, or raise
    RateLimited with `retry_after` seconds in its details."""
    refusal = _take(rules()[rule], rule, _digest(client_key(ip)), remember=True)
    if refusal is not None:
        what = {"signup": "sign-ups", "password_reset": "reset requests"}.get(rule, "attempts")
        raise _refuse(refusal, what)
