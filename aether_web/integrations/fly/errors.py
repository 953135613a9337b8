"""The one error type the Fly Machines gateway raises."""

from __future__ import annotations


class FlyError(Exception):
    """A Fly Machines API call failed.

    Raised for non-2xx answers, unreadable bodies, timeouts and connection failures, so that
    callers handle a single type and never see the HTTP library's exceptions.

    Attributes:
        message: Fly's own ``error`` text when it sent one, otherwise a description.
        status: the HTTP status, or None when no answer arrived (timeout, connection failure).
        request_id: Fly's ``fly-request-id`` header, to quote to Fly support.
    """

    def __init__(
        self, message: str, *, status: int | None = None, request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id

    @property
    def is_not_found(self) -> bool:
        """True when Fly answered 404 (unknown app or machine)."""
        return self.status == 404

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "no response"
        return f"Fly API error ({where}): {self.message}"
