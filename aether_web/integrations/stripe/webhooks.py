"""Webhook signature verification on the raw request body."""

from __future__ import annotations

import json
from typing import Any

import stripe

from aether_web.errors import InvalidInput

TOLERANCE_SECONDS = 300


class InvalidSignature(InvalidInput):
    """The `Stripe-Signature` header is missing, malformed, stale or does not match."""

    code = "invalid_signature"
    default_message = "The Stripe signature is missing or does not match."


def verify_event(raw_body: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event as a plain dict, once `signature` proves Stripe sent exactly `raw_body`.

    Raises InvalidSignature for a missing/wrong/expired signature, InvalidInput for a body
    that is not an event.
    """
    if not signature:
        raise InvalidSignature("The Stripe-Signature header is missing.")
    try:
        payload = raw_body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("The webhook body is not UTF-8 JSON.", code="malformed_json") from exc
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        raise InvalidSignature() from exc
    # Only the verified bytes are parsed, as plain JSON: we store and process dicts.
    try:
        event = json.loads(payload)
    except RecursionError as exc:  # nested deeper than the interpreter allows: not Stripe
        raise InvalidInput("The webhook body is nested too deep.", code="json_too_deep") from exc
    except ValueError as exc:
        raise InvalidInput("The webhook body is not valid JSON.", code="malformed_json") from exc
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise InvalidInput("The webhook body is not a Stripe event.", code="invalid_event")
    return event
