"""Fixture: fails at import time (an init error)."""

raise ImportError("fixture failure: cannot initialise")


def handler(event, context):  # pragma: no cover - never reached
    return "unreachable"
