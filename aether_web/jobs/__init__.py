"""Scheduled jobs: thin wrappers over services, each tick run once across workers."""
