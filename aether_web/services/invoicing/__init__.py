"""From a period's bill to Stripe's invoice: sending, gating, reconciling, adjusting."""
