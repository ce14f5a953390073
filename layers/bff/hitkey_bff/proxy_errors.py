"""The proxy's typed errors, each a status and a stable ``error`` code (see :mod:`hitkey_bff.errors`).

Kept apart from :mod:`hitkey_bff.errors` so the proxy can land without touching it; they may
move there later. Upstream *answers* (including 5xx) are passed through, never raised: only
what the BFF refuses and transport failures are errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hitkey_bff.errors import AccessTokenRejected, BadRequest, BffError, UpstreamError

if TYPE_CHECKING:
    from hitkey_bff.proxy import ProxyResult


class InvalidPath(BadRequest):
    """The path after ``/api/{name}`` could leave the upstream's base, or is malformed (400)."""

    code = "invalid_path"


class InvalidBody(BadRequest):
    """The event's body cannot be decoded (bad base64, unencodable text) (400)."""

    code = "invalid_body"


class UnknownApi(BffError):
    """No upstream of that name is configured (404)."""

    status = 404
    code = "unknown_api"


class MethodNotAllowed(BffError):
    """The upstream's ``methods`` do not include the request's (405); ``allow`` is for ``Allow``."""

    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, *, allow: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allow = allow
        self.headers = {"allow": ", ".join(allow)}


class PathNotAllowed(BffError):
    """The upstream's ``paths`` allow-list does not match the request's path (403)."""

    status = 403
    code = "path_not_allowed"


class PayloadTooLarge(BffError):
    """The request body is over the proxy's limit (413)."""

    status = 413
    code = "payload_too_large"


class UpstreamUnreachable(UpstreamError):
    """The upstream could not be reached, or the connection broke (502)."""

    code = "upstream_unreachable"


class UpstreamResponseTooLarge(UpstreamError):
    """The upstream's body does not fit in a Lambda response (502)."""

    code = "upstream_response_too_large"


class UpstreamUnauthorized(AccessTokenRejected):
    """The upstream answered 401. The fresh-token helper refreshes once and retries once; when
    this escapes the retry, the glue answers with ``result`` (the upstream's own 401)."""

    code = "upstream_unauthorized"
    pass_through = True

    def __init__(self, result: ProxyResult) -> None:
        super().__init__("the upstream refused the access token")
        self.result = result
