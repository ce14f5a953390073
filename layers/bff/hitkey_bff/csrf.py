"""CSRF defences for the JSON and state-changing routes.

A cross-site page cannot add a custom header without a CORS preflight, so ``X-CSRF: 1`` proves
the request came from script on an allowed origin; ``Origin`` and ``Sec-Fetch-Site``, where the
browser sends them, must agree.
"""

from __future__ import annotations

from hitkey_bff.errors import Forbidden
from hitkey_bff.http import Request


def require_same_origin(request: Request, app_origin: str) -> None:
    """Raise :class:`Forbidden` unless the request carries ``X-CSRF: 1`` from ``app_origin``."""
    if request.headers.get("x-csrf") != "1":
        raise Forbidden("this route needs the header X-CSRF: 1", code="csrf_header_missing")
    # The expected origin is public (it is the app's own address, and CORS answers it anyway);
    # naming it tells a developer on the wrong host or port what to set or open.
    origin = request.headers.get("origin")
    if origin is not None and origin.lower().rstrip("/") != app_origin:
        raise Forbidden(
            f"requests from this origin are not allowed: only {app_origin} may call",
            code="origin_not_allowed",
        )
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise Forbidden(f"cross-site requests are not allowed: only {app_origin} may call", code="origin_not_allowed")
