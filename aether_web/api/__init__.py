"""HTTP routes under /api/. Each route module owns its transaction."""
