"""Use cases. Each takes a session (keyword-only), never commits, and raises domain errors."""
