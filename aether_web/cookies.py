"""Cookie names, in one place: the API sets them, state and pages read them (`cookie_value`)."""

from __future__ import annotations

from http.cookies import SimpleCookie

SESSION_COOKIE = "aether_session"
# The email typed into a log-in or sign-up form that failed, so the form can keep it.
FORM_EMAIL_COOKIE = "aether_form_email"


def cookie_value(header: str | None, name: str) -> str | None:
    """The value of cookie `name` in a Cookie header; None when absent or unreadable."""
    try:
        jar = SimpleCookie()
        jar.load(header or "")
    except Exception:  # a malformed header holds no cookie we can read
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None
