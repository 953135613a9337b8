"""Stripe failures as domain errors: callers never see a `stripe` exception."""

from __future__ import annotations

from aether_web.errors import AetherError, ServiceUnavailable


class StripeUnavailable(ServiceUnavailable):
    """Stripe did not answer (network, timeout, 5xx, rate limit) after the client's retries."""

    code = "stripe_unavailable"
    default_message = "Our payment provider is not answering. Please try again in a minute."

    def __init__(self, message: str | None = None, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status  # 429, 5xx, or None (no answer at all)


class StripeGatewayError(AetherError):
    """Stripe refused a request. `stripe_code`/`param` say why (e.g. a duplicate identifier)."""

    code = "stripe_error"
    status = 502
    default_message = "Our payment provider refused the request. We've been notified."

    def __init__(self, message: str | None = None, *, stripe_code: str | None = None,
                 param: str | None = None, http_status: int | None = None,
                 stripe_message: str = "") -> None:
        super().__init__(message)
        self.stripe_code = stripe_code
        self.param = param
        self.http_status = http_status
        self.stripe_message = stripe_message
