"""Domain errors: each carries the API error code, a user-facing message and an HTTP status."""

from __future__ import annotations


class AetherError(Exception):
    """Base of every error the product reports to a user or a caller."""

    code = "error"
    status = 400
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, code: str | None = None, **details):
        self.message = message or self.default_message
        if code:
            self.code = code
        self.details = details
        super().__init__(self.message)


class InvalidInput(AetherError):
    code = "invalid_input"
    status = 400
    default_message = "Some of the information sent is not valid."


class Unauthenticated(AetherError):
    code = "unauthenticated"
    status = 401
    default_message = "Please log in to continue."


class Forbidden(AetherError):
    code = "forbidden"
    status = 403
    default_message = "You don't have access to this."


class NotFound(AetherError):
    code = "not_found"
    status = 404
    default_message = "We couldn't find that."


class Conflict(AetherError):
    code = "conflict"
    status = 409
    default_message = "That conflicts with something that already exists."


class LimitReached(AetherError):
    """A plan limit stops the action; the UI offers an upgrade."""

    code = "limit_reached"
    status = 402
    default_message = "You've reached a limit of your plan."


class RateLimited(AetherError):
    code = "rate_limited"
    status = 429
    default_message = "Too many attempts. Please wait a few minutes and try again."


class ServiceUnavailable(AetherError):
    code = "service_unavailable"
    status = 503
    default_message = "A service we depend on is not answering. Please try again shortly."
