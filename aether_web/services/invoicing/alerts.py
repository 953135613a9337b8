"""Billing alerts: every case where overage could not reach its period's invoice, or an
invoice differs from our computation, is logged, sent to Sentry and counted for
`/api/metrics` (`aether_billing_alerts_total{kind}`); the support console lists the rows."""

from __future__ import annotations

import sentry_sdk

from aether_web import metrics
from aether_web.observability import log

metrics.describe("aether_billing_alerts_total",
                 "Overage that missed its invoice, was refused, or differs from the invoice.")


def billing_alert(kind: str, message: str) -> None:
    """Raise one alert of `kind` (late, refused, no_final_invoice, invoice_short,
    invoice_over, item_failed, second_subscription, meter_event_left)."""
    log.error("billing alert %s: %s", kind, message)
    sentry_sdk.capture_message(f"billing alert {kind}: {message}", level="error")
    metrics.inc("aether_billing_alerts_total", kind=kind)
