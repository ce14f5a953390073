"""Every public error code, once, with its HTTP status and what it means (docs/reference.md, "Errors").

A leaf module: it imports nothing. ``tests/unit/test_catalogue.py`` checks that docs/reference.md's
tables equal these, both ways, and that the layer answers no code outside them (the codes of the
error classes it raises, the literal ``code=`` and ``"error"`` values, the callback's
``auth_error`` values) and the JS client raises none outside :data:`CLIENT_ERRORS`.
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    """One ``error`` code: the HTTP status it comes with and one sentence for the app's developer."""

    status: int
    meaning: str


ERRORS: dict[str, Entry] = {
    "query_too_long": Entry(400, "The query string is too long or has too many parameters."),
    "invalid_query": Entry(400, "The API proxy got a query string that is not valid text."),
    "invalid_path": Entry(
        400,
        "The path after `/api/{name}` is malformed or could leave the upstream's base "
        "(dot segments, encoded `/`, `\\`, control characters).",
    ),
    "invalid_body": Entry(400, "The request body cannot be decoded (bad base64, or text that is not UTF-8)."),
    "invalid_request": Entry(400, "`POST /auth/logout` got more copies of the session cookie than a browser sends."),
    "unauthenticated": Entry(
        401, "No session: none was sent, or it expired, was tampered with or was ended; the cookie is cleared."
    ),
    "csrf_header_missing": Entry(403, "The call lacked the header `X-CSRF: 1`."),
    "origin_not_allowed": Entry(
        403, "The browser's `Origin` is not `APP_ORIGIN`, or it said the request is cross-site."
    ),
    "path_not_allowed": Entry(403, "The API upstream's `paths` allow-list does not match this path."),
    "not_found": Entry(404, "The function serving this request has no route for it."),
    "unknown_api": Entry(404, "No API upstream of that name is configured."),
    "unknown_session": Entry(404, "No session of the caller's has that id."),
    "method_not_allowed": Entry(
        405, "The route or the API upstream does not allow this method (`Allow` lists those it does)."
    ),
    "payload_too_large": Entry(413, "The request body is over the API proxy's limit."),
    "internal_error": Entry(500, "An unexpected failure; the details are in the function's log only."),
    "upstream_error": Entry(502, "HitKey failed (a 5xx, or it refused a fresh token)."),
    "upstream_bad_response": Entry(502, "HitKey or the API answered something unreadable or oversized."),
    "upstream_unreachable": Entry(502, "HitKey or the API could not be reached, or broke the connection."),
    "upstream_rejected": Entry(502, "HitKey's token endpoint answered an OAuth error other than `invalid_grant`."),
    "upstream_response_too_large": Entry(502, "The API's answer does not fit in a Lambda response."),
    "invalid_client": Entry(502, "HitKey refused the BFF's client credentials: a deployment problem."),
    "missing_config": Entry(503, "A required environment variable of the function is not set."),
    "misconfigured": Entry(503, "A setting or the API upstream table is invalid; the log (or the message) says which."),
    "client_secret_missing": Entry(503, "The HitKey client secret is missing or empty in Secrets Manager."),
    "service_unavailable": Entry(503, "DynamoDB, KMS or Secrets Manager failed after retries; retry."),
    "refresh_retry": Entry(
        503, "Too little time was left to refresh the tokens safely; nothing was sent to HitKey, retry."
    ),
    "upstream_timeout": Entry(504, "HitKey or the API did not answer in time."),
    "refresh_in_progress": Entry(504, "Another request's refresh of this session did not finish in time; retry."),
}
"""The ``{"error": code, "message": text}`` answers of the BFF's routes."""

CLIENT_ERRORS: dict[str, Entry] = {
    "network_error": Entry(0, "The JS client could not reach the BFF (offline, or no dev-server proxy)."),
    "no_location": Entry(0, "The JS client's `login()` has no page to navigate (`createBff({location})`)."),
    "invalid_path": Entry(
        0,
        "`api(name, path)` was given a name outside `[a-z0-9-]{1,32}` or a path a browser "
        "would resolve out of `/api/{name}/` (a dot segment in any decoding, a backslash); nothing was sent.",
    ),
}
"""Errors the JS client (``clients/js``) raises itself, with status 0: no answer came."""

AUTH_ERRORS: dict[str, str] = {
    "invalid_request": "The callback had no usable `code` or `state`.",
    "invalid_state": "The login cookie does not match this sign-in: it belongs to another sign-in, "
    "or that sign-in expired or was already used.",
    "login_cookie_missing": "The browser did not send back the login cookie: cookies are blocked, the sign-in "
    "took more than 10 minutes, or WebKit (Safari) dropped a `Secure` cookie on http://localhost.",
    "invalid_grant": "HitKey refused the code (used twice, or too old).",
    "access_denied": "The user declined at HitKey.",
    "authorization_failed": "HitKey sent an error that is not a plain OAuth code.",
    "upstream_error": "HitKey failed during the code exchange or userinfo.",
    "upstream_timeout": "HitKey did not answer in time.",
    "misconfigured": "The BFF's configuration is wrong (a setting, or HitKey refused its client credentials).",
    "service_unavailable": "DynamoDB, KMS or Secrets Manager failed.",
    "server_error": "An unexpected failure in the BFF, or HitKey's own `server_error`.",
    "temporarily_unavailable": "HitKey is overloaded or down for maintenance (HitKey's code).",
    "unauthorized_client": "HitKey does not let this client use the authorization-code flow (HitKey's code).",
    "unsupported_response_type": "HitKey does not support `response_type=code` here (HitKey's code).",
    "invalid_scope": "HitKey refused the requested `SCOPES` (HitKey's code).",
}
"""The callback's ``302`` to ``APP_ORIGIN/?auth_error=<code>``. HitKey's own OAuth error codes
(RFC 6749, 4.1.2.1) are passed on as they are, so any other plain code may appear too."""

INTERNAL_CODES: dict[str, str] = {
    "invalid_grant": "HitKey refused a code or refresh token: the callback answers `auth_error=invalid_grant`, "
    "a refresh ends the session (`401 unauthenticated`).",
}
"""Codes of error classes the layer raises and handles itself: never an answer's ``error``."""
