"""Reflex state shared by several pages."""
