"""The current Lambda invocation's remaining time, for code far from the handler (the refresher).

The route wrapper calls :func:`begin` with the invocation's context; :func:`remaining_seconds` is
``None`` outside an invocation or when the context cannot tell.
"""

from __future__ import annotations

import contextvars
from typing import Any

_context: contextvars.ContextVar[Any] = contextvars.ContextVar("lambda_context", default=None)


def begin(context: Any) -> None:
    """Remember ``context`` (a Lambda context) for this invocation."""
    _context.set(context)


def remaining_seconds() -> float | None:
    """Seconds until the Lambda's own timeout, if known."""
    getter = getattr(_context.get(), "get_remaining_time_in_millis", None)
    if getter is None:
        return None
    try:
        return float(getter()) / 1000
    except (TypeError, ValueError):
        return None
