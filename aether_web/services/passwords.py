"""Argon2id password hashes, computed outside any database transaction and a few at a time.

Each hash takes 19 MiB and about 20 ms of one CPU (OWASP's Password Storage Cheat Sheet:
argon2id with 19 MiB of memory, an iteration count of 2 and a parallelism of 1). A hash made
with other parameters (an older, costlier profile) still verifies, and is replaced by one with
these at the next successful log-in (`needs_rehash`). A per-worker cap
(`AETHER_PASSWORD_HASH_CONCURRENCY`) bounds the memory of a log-in burst; async callers wait
for their turn on the event loop (not on a thread), so a burst never ties up the thread pool
that other requests need. No caller may hold a transaction while hashing: on SQLite that
would keep the write lock for the whole hash.
"""

from __future__ import annotations

import functools
import re
import threading

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from aether_web.loop_limits import LoopLimiter

# One lane: a log-in never takes more than one core from the requests beside it.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def _cap() -> int:
    from aether_web.settings import get_settings

    return get_settings().password_hash_concurrency


@functools.cache
def _thread_gate() -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(_cap())


# Async callers wait for the cap here, on the event loop, before a thread is taken.
_loop_gate = LoopLimiter(_cap)


def hash_password(password: str) -> str:
    """The argon2id hash of `password` (blocks; waits for a free slot of the cap)."""
    with _thread_gate():
        return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> tuple[bool, bool]:
    """(matches, needs_rehash) for `password` against `stored_hash` (blocks; capped)."""
    with _thread_gate():
        try:
            _hasher.verify(stored_hash, password or "")
        except (VerificationError, InvalidHashError):
            return False, False
        return True, _hasher.check_needs_rehash(stored_hash)


# Verifying against this for unknown emails keeps their timing like known ones.
DUMMY_HASH = _hasher.hash("not-a-real-password")


async def hash_password_async(password: str) -> str:
    """`hash_password` on a worker thread, waiting for the cap on the event loop."""
    return await anyio.to_thread.run_sync(hash_password, password, limiter=_loop_gate())


async def verify_password_async(stored_hash: str, password: str) -> tuple[bool, bool]:
    """`verify_password` on a worker thread, waiting for the cap on the event loop."""
    return await anyio.to_thread.run_sync(verify_password, stored_hash, password,
                                          limiter=_loop_gate())


# OWASP: at least 12 characters, any characters, no composition rules; not a common password.
MIN_PASSWORD = 12
MAX_PASSWORD = 256
TOO_SHORT = f"Use at least {MIN_PASSWORD} characters for your password."
TOO_COMMON = "This password is too common and easy to guess. Choose another one."
# NIST SP 800-63B also names repetitive and sequential characters ("aaaaaaaaaaaa",
# "123456789012", "qwertyuiopas"): zxcvbn's estimate of the guesses an attacker needs, from
# its patterns (repeats, sequences, keyboard walks, dates, words), must reach this.
MIN_GUESSES_LOG10 = 6
_ESTIMATED_CHARS = 72  # zxcvbn refuses longer input; the first 72 characters decide


@functools.cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of leaked lists, as zxcvbn ships them."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str, *, email: str = "") -> str | None:
    """What is wrong with a new password, as a sentence for the form, or None when fine."""
    password = password or ""
    if len(password) < MIN_PASSWORD:
        return TOO_SHORT
    if len(password) > MAX_PASSWORD:
        return f"Use at most {MAX_PASSWORD} characters for your password."
    if "\x00" in password:
        return "Your password can't contain a NUL character."
    lowered = password.lower()
    if lowered in _common_passwords() or (email and lowered == email.strip().lower()) or \
            _guesses_log10(password, email) < MIN_GUESSES_LOG10:
        return TOO_COMMON
    return None


def _guesses_log10(password: str, email: str) -> float:
    """zxcvbn's estimate (log10 of the guesses needed), with the email's parts as words."""
    from zxcvbn import zxcvbn

    words = [w for w in re.split(r"[@._+-]", email.strip().lower()) if len(w) > 2]
    return float(zxcvbn(password[:_ESTIMATED_CHARS], user_inputs=words)["guesses_log10"])


def password_matches(stored_hash: str, password: str) -> bool:
    """Whether `password` matches the stored hash (False for an empty one). Blocks; capped."""
    return bool(stored_hash) and verify_password(stored_hash, password)[0]
