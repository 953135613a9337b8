"""From a period's bill to Stripe's invoice."""
