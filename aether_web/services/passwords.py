"""Password rules (OWASP): long enough, not a common password, no composition rules."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD = 12
MAX_PASSWORD = 256
# argon2id with the library's RFC 9106 low-memory profile.
_hasher = PasswordHasher()


@functools.cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of leaked lists, as zxcvbn ships them."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str, *, email: str = "") -> str | None:
    """What is wrong with a new password, as a sentence for the form, or None when fine."""
    password = password or ""
    if len(password) < MIN_PASSWORD:
        return f"Use at least {MIN_PASSWORD} characters for your password."
    if len(password) > MAX_PASSWORD:
        return f"Use at most {MAX_PASSWORD} characters for your password."
    lowered = password.lower()
    if lowered in _common_passwords() or (email and lowered == email.strip().lower()):
        return "This password is too common and easy to guess. Choose another one."
    return None


def hash_password(password: str) -> str:
    """The argon2id hash stored for a password."""
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether `password` matches the stored hash (False for an empty or broken hash)."""
    if not stored:
        return False
    try:
        return _hasher.verify(stored, password or "")
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a stored hash uses older parameters than today's."""
    return _hasher.check_needs_rehash(stored)
