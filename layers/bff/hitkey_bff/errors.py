"""Typed errors, each mapped to an HTTP status and a stable ``error`` code.

A handler raises one of these; :func:`hitkey_bff.http.endpoint` turns it into
``{"error": code, "message": text}``. Messages are for humans and never carry a secret.
"""

from __future__ import annotations


class BffError(Exception):
    """Base class: ``status`` and ``code`` are the response's; the message is its text."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, cookies: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.cookies = cookies
        if code is not None:
            self.code = code


class BadRequest(BffError):
    """The request itself is malformed (400)."""


class Forbidden(BffError):
    """CSRF defences refused the request (403)."""

    status = 403
    code = "forbidden"


class Unauthenticated(BffError):
    """No valid session (401)."""

    status = 401
    code = "unauthenticated"


class SessionEnded(Unauthenticated):
    """HitKey refused the session's refresh token; the session is gone (401)."""

    code = "session_ended"


class ConfigError(BffError):
    """The deployment is misconfigured: a variable or the client secret is missing (503)."""

    status = 503
    code = "misconfigured"


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


class AccessTokenRejected(BffError):
    """HitKey's userinfo refused the access token (401 from upstream)."""

    status = 401
    code = "access_token_rejected"


class ServiceUnavailable(BffError):
    """An AWS dependency (DynamoDB, KMS, Secrets Manager) failed after retries (503)."""

    status = 503
    code = "service_unavailable"
