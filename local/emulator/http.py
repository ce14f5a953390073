"""What the emulator reads from a request (bearer, JSON body, body limits) and its JSON and redirect replies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.wrappers import Request, Response

from local.emulator.provider import OAuthError

MAX_BODY_BYTES: Final = 64 * 1024


class Reply(Response):
    default_mimetype = None  # no Content-Type unless given: a redirect has none


def json_response(status: int, payload: object, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response that caches must not store."""
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})}
    return Reply(json.dumps(payload), status, headers, content_type="application/json")


def oauth_error_response(error: OAuthError) -> Response:
    """The JSON error body, plus WWW-Authenticate for bearer-token errors."""
    challenge = f'Bearer error="invalid_token", error_description="{error.description}"'
    headers = {"WWW-Authenticate": challenge} if error.error == "invalid_token" else {}
    return json_response(error.status, {"error": error.error, "error_description": error.description}, headers)


def redirect_response(uri: str, params: Mapping[str, str]) -> Response:
    """302 to ``uri`` with ``params`` added to its query."""
    parts = urlsplit(uri)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    return Reply(b"", 302, {"Location": location, "Cache-Control": "no-store"})


def bearer(request: Request) -> str | None:
    """The bearer token from the Authorization header, if any."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    token = value.strip()
    return token if scheme.lower() == "bearer" and token else None


def json_object(request: Request) -> dict[str, Any]:
    """The JSON object body, or ``invalid_request``."""
    if request.mimetype != "application/json":
        raise OAuthError("invalid_request", "the body must be JSON (Content-Type: application/json)")
    try:
        value = json.loads(request.get_data())
    except (ValueError, UnicodeDecodeError):
        raise OAuthError("invalid_request", "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise OAuthError("invalid_request", "the body must be a JSON object")
    return value


def check_body(environ: Mapping[str, Any]) -> None:
    """Refuse a chunked body, a bad Content-Length and a body over MAX_BODY_BYTES."""
    length = environ.get("CONTENT_LENGTH") or ""
    if environ.get("HTTP_TRANSFER_ENCODING"):
        raise OAuthError("invalid_request", "send a Content-Length", 411)
    if length and not length.strip().isdigit():
        raise OAuthError("invalid_request", "invalid Content-Length")
    if length and int(length) > MAX_BODY_BYTES:
        raise OAuthError("invalid_request", "body too large", 413)
