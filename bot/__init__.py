"""Composition root, settings, engine, channels, outbox and staff tools of the intake service."""
