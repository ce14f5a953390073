"""HitKey's OAuth API: the JSON token endpoint and userinfo, over one reused ``httpx.Client``.

Every failure becomes a typed error: a timeout is :class:`UpstreamTimeout` (504), a 5xx, an HTML
page or unreadable JSON is :class:`UpstreamError` (502), ``invalid_grant`` is
:class:`InvalidGrant`. Nothing here retries: a code exchange and a rotating refresh are not
idempotent. Timeouts keep two calls (the callback makes two) well under API Gateway's 30 s.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from hitkey_bff import __version__, bounded
from hitkey_bff.budgets import CALL_SECONDS
from hitkey_bff.cookies import MAX_SUB_BYTES
from hitkey_bff.errors import InvalidGrant, UpstreamError, UpstreamTimeout
from hitkey_bff.observability import loggable, logger

TIMEOUT = httpx.Timeout(connect=3.0, read=7.0, write=5.0, pool=2.0)
MAX_BODY = 64 * 1024
# CALL_SECONDS (hitkey_bff.budgets): the overall deadline of one HitKey call (headers and whole
# body), unless the caller gives its own: a trickled body cannot hold a call past it (httpx's
# ``read`` bounds each read only). Two calls (the callback's exchange and userinfo) stay under
# API Gateway's integration timeout.


@dataclass(frozen=True, slots=True)
class Answer:
    """HitKey's complete answer: the status and the whole body (at most :data:`MAX_BODY`)."""

    status_code: int
    content: bytes

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` if it is not."""
        return json.loads(self.content)


@dataclass(frozen=True, slots=True)
class TokenSet:
    """A token response. ``refresh_token`` is ``None`` when HitKey did not send one."""

    access_token: str
    refresh_token: str | None
    expires_in: int
    scope: str


def new_http_client(timeout: httpx.Timeout = TIMEOUT, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The process's HTTP client: explicit timeouts, no redirects, small pool (``transport``: tests)."""
    return httpx.Client(
        timeout=timeout,
        transport=transport,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
        headers={"user-agent": f"hitkey-bff/{__version__}", "accept": "application/json"},
    )


def _json(response: Answer) -> dict[str, Any]:
    if len(response.content) > MAX_BODY:
        raise UpstreamError("HitKey sent an oversized response", code="upstream_bad_response")
    try:
        body = response.json()
    except ValueError:
        raise UpstreamError(
            f"HitKey answered {response.status_code} with a body that is not JSON", code="upstream_bad_response"
        ) from None
    if not isinstance(body, dict):
        raise UpstreamError("HitKey answered with unexpected JSON", code="upstream_bad_response")
    return body


def _oauth_error(response: Answer) -> tuple[str, object]:
    """HitKey's OAuth ``error`` and its ``error_description`` (unchecked: for the log only)."""
    if response.status_code >= 500:
        raise UpstreamError(f"HitKey failed with status {response.status_code}")
    body = _json(response)
    error = body.get("error")
    return (error if isinstance(error, str) else "unknown_error"), body.get("error_description")


def _token_set(body: dict[str, Any]) -> TokenSet:
    access, refresh = body.get("access_token"), body.get("refresh_token")
    expires_in, scope = body.get("expires_in", 3600), body.get("scope", "")
    if not isinstance(access, str) or not access or (refresh is not None and not isinstance(refresh, str)):
        raise UpstreamError("HitKey's token response has no usable access_token", code="upstream_bad_response")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
        expires_in = 3600
    return TokenSet(access, refresh or None, min(expires_in, 86_400), scope if isinstance(scope, str) else "")


class HitKeyClient:
    """Calls HitKey as one confidential client."""

    def __init__(self, http: httpx.Client, api_url: str, client_id: str) -> None:
        self._http, self._api, self._client_id = http, api_url.rstrip("/"), client_id

    def _send(self, method: str, path: str, *, seconds: float | None = None, **kwargs: Any) -> Answer:
        """One call, complete (headers and body) within ``seconds`` (default :data:`CALL_SECONDS`)
        - a watchdog shuts the socket at the deadline, so a trickling HitKey cannot hold a refresh
        past its lease. With ``seconds`` given, HitKey may take all of it before its first byte."""
        total = CALL_SECONDS if seconds is None else seconds
        deadline = time.monotonic() + total
        own = self._http.timeout  # the client's per-phase timeouts, none beyond the deadline
        read = total if seconds is not None else min(own.read or total, total)
        timeout = httpx.Timeout(
            read,
            connect=min(own.connect or total, total),
            write=min(own.write or total, total),
            pool=min(own.pool or total, total),
        )
        request = self._http.build_request(method, f"{self._api}{path}", timeout=timeout, **kwargs)
        try:
            response, body = bounded.exchange(self._http, request, deadline, MAX_BODY)
        except bounded.NoAnswer:
            raise UpstreamTimeout("HitKey did not answer in time") from None
        except bounded.Unreachable as exc:
            logger.warning("HitKey could not be reached", extra={"exception_type": str(exc)})
            raise UpstreamError("HitKey could not be reached", code="upstream_unreachable") from None
        except bounded.DeadlinePassed:
            raise UpstreamTimeout("HitKey did not finish its answer in time") from None
        except bounded.BodyTooLarge:
            raise UpstreamError("HitKey sent an oversized response", code="upstream_bad_response") from None
        except (bounded.Broken, bounded.Undecodable) as exc:
            logger.warning("HitKey broke the connection", extra={"exception_type": str(exc)})
            raise UpstreamError("HitKey broke the connection", code="upstream_unreachable") from None
        return Answer(response.status_code, body)

    def _token(self, grant: dict[str, str], seconds: float | None = None) -> TokenSet:
        response = self._send("POST", "/oauth/token", seconds=seconds, json={**grant, "client_id": self._client_id})
        if response.status_code == 200:
            return _token_set(_json(response))
        error, description = _oauth_error(response)
        if error == "invalid_grant":
            raise InvalidGrant("HitKey refused the grant (invalid_grant)")
        if error == "invalid_client":
            raise UpstreamError("HitKey refused this client's credentials", code="invalid_client")
        # HitKey's words go to the log (bounded, escaped), never into an answer: a fixed message
        logger.warning(
            "HitKey's token endpoint refused the grant",
            extra={"status": response.status_code, "hitkey_error": loggable(error), "detail": loggable(description)},
        )
        raise UpstreamError("HitKey's token endpoint refused the request", code="upstream_rejected")

    def exchange_code(self, code: str, verifier: str, redirect_uri: str, client_secret: str) -> TokenSet:
        """``authorization_code`` grant with the PKCE verifier. Exactly one POST, never retried."""
        return self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "client_secret": client_secret,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            }
        )

    def refresh(self, refresh_token: str, client_secret: str, *, seconds: float | None = None) -> TokenSet:
        """``refresh_token`` grant, complete within ``seconds``; HitKey rotates, so the answer
        carries a new refresh token."""
        return self._token(
            {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_secret": client_secret},
            seconds,
        )

    def userinfo(self, access_token: str) -> dict[str, Any] | None:
        """The user's claims; ``None`` when HitKey refuses the token (its 401)."""
        response = self._send("GET", "/oauth/userinfo", headers={"authorization": f"Bearer {access_token}"})
        if response.status_code == 401:
            return None
        if response.status_code != 200:
            raise UpstreamError(f"HitKey's userinfo answered {response.status_code}")
        body = _json(response)
        sub = body.get("sub")
        if not isinstance(sub, str) or not sub.strip() or len(sub.encode()) > MAX_SUB_BYTES or not sub.isprintable():
            raise UpstreamError("HitKey's userinfo has no usable sub", code="upstream_bad_response")
        return body
