"""What text a person may type into a name, an email or a search: no NUL bytes, no control
characters, and none of the invisible ones that make text lie about itself (bidi overrides
and isolates, zero-width joiners and spaces, blank fillers). Pure functions, no I/O."""

from __future__ import annotations

import unicodedata

MAX_NAME = 120
MAX_EMAIL = 320
MAX_SEARCH = 320

# Cc control (NUL, tab, newline, ...), Cf format (bidi marks/overrides/isolates, zero-width
# space/joiners, BOM, soft hyphen), Cs surrogates, Co private use, Cn unassigned, Zl/Zp
# line and paragraph separators.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
# Letters that render as nothing (Hangul and braille blanks).
_BLANK_LETTERS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}


def hidden_character(text: str) -> str | None:
    """The first refused character of `text` as `U+XXXX`, or None when all are fine."""
    text = text or ""
    if text.isascii() and text.isprintable():
        return None  # printable ASCII has no refused character (every hook field is this)
    for ch in text:
        if ch in _BLANK_LETTERS or unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return f"U+{ord(ch):04X}"
    return None


def name_problem(name: str) -> str | None:
    """Why `name` (a person's name, optional) can't be used, or None."""
    name = (name or "").strip()
    if len(name) > MAX_NAME:
        return f"Use at most {MAX_NAME} characters for your name."
    if hidden_character(name):
        return "Your name can't contain control or invisible characters."
    return None


def email_problem(email: str) -> str | None:
    """Why `email` can't even be looked at (empty, too long, hidden characters), or None.
    The shape check (`x@y.z`) is the caller's."""
    email = (email or "").strip()
    if not email:
        return "Enter your email address."
    if len(email) > MAX_EMAIL:
        return "Enter a valid email address, like you@example.com."
    if hidden_character(email):
        return "Your email address can't contain control or invisible characters."
    return None


def search_problem(query: str) -> str | None:
    """Why a support search string can't be used, or None."""
    if len(query or "") > MAX_SEARCH:
        return f"Search for at most {MAX_SEARCH} characters."
    if hidden_character(query):
        return "Searches can't contain control or invisible characters."
    return None
