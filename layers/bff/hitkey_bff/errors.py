"""Typed errors, each mapped to an HTTP status and a stable ``error`` code.

A flow raises one of these; :func:`hitkey_bff.route.route` turns it into
``{"error": code, "message": text}``. Messages are for humans and never carry a secret.
"""

from __future__ import annotations

from collections.abc import Mapping


class BffError(Exception):
    """Base class: ``status`` and ``code`` are the response's; the message is its text."""

    status = 400
    code = "bad_request"
    headers: Mapping[str, str] = {}  # extra response headers (e.g. ``Allow`` on a 405)

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(BffError):
    """The request itself is malformed (400)."""


class Forbidden(BffError):
    """CSRF defences refused the request (403)."""

    status = 403
    code = "forbidden"


class Unauthenticated(BffError):
    """No valid session (401); the route wrapper also deletes the session cookie."""

    status = 401
    code = "unauthenticated"


class ConfigError(BffError):
    """The deployment is misconfigured: a variable or the client secret is missing (503). Its
    message goes to the log; the caller gets a generic one unless ``public`` says it names no
    internals (the API proxy's upstream table, shown to signed-in callers only)."""

    status = 503
    code = "misconfigured"
    public = False


class UpstreamError(BffError):
    """HitKey failed: 5xx, an unreadable answer, or refused our client (502)."""

    status = 502
    code = "upstream_error"


class UpstreamTimeout(UpstreamError):
    """HitKey did not answer within our budget (504)."""

    status = 504
    code = "upstream_timeout"


class InvalidGrant(BffError):
    """HitKey answered ``invalid_grant``: the code or refresh token is no longer good."""

    status = 401
    code = "invalid_grant"


class ServiceUnavailable(BffError):
    """An AWS dependency (DynamoDB, KMS, Secrets Manager) failed after retries (503)."""

    status = 503
    code = "service_unavailable"


# --- the API proxy and session management (upstream *answers*, 5xx included, are passed
# through, never raised: only what the BFF refuses and transport failures are errors) ---


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


class UnknownSession(BffError):
    """No such session among the caller's (the same answer whether it exists elsewhere or not)."""

    status = 404
    code = "unknown_session"


class UnknownRoute(BffError):
    """The function has no route for the event's route key (404): the template sends a route to a
    function whose dispatch table does not list it."""

    status = 404
    code = "not_found"
