"""AWS X-Ray tracing, only when the stack turns it on (``Tracing=Active`` sets ``TRACING=true``).

On: Powertools' Tracer wraps each handler in a ``## handler`` subsegment and patches botocore
(DynamoDB, KMS, Secrets Manager calls) and httpx (HitKey calls). Responses and exceptions are
not recorded: a response carries the session cookie, and trace metadata is readable by anyone
with ``xray:BatchGetTraces``. Off (the default): no Tracer is built - even a disabled one
imports ``aws_xray_sdk`` (Powertools loads it lazily, on first use) - so the X-Ray SDK costs the
cold start nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

H = TypeVar("H", bound=Callable[..., Any])

PATCHED = ("botocore", "httpx")


def enabled() -> bool:
    """Whether ``TRACING`` asks for tracing (``true``; anything else is off)."""
    return os.environ.get("TRACING", "").strip().lower() == "true"


@cache
def tracer() -> Tracer:
    """The process's one Tracer; building it patches :data:`PATCHED` (needs ``aws-xray-sdk``)."""
    from aws_lambda_powertools import Tracer

    return Tracer(service="hitkey-bff", patch_modules=list(PATCHED))


def instrument(handler: H) -> H:
    """``handler`` traced when tracing is on, else ``handler`` itself."""
    if not enabled():
        return handler
    traced = tracer().capture_lambda_handler(handler, capture_response=False, capture_error=False)
    return traced  # type: ignore[return-value]
