"""The proxy's one upstream call and the answer it makes (docs/proxy.md).

:func:`forward` makes the call over the upstream's cached ``httpx.Client`` (:func:`client_for`)
and returns a :class:`ProxyResult`, which :meth:`ProxyResult.to_response` turns into API
Gateway's answer. The route glue is :mod:`hitkey_bff.routes.api` (CSRF and the session first,
then :func:`~hitkey_bff.proxy.paths.prepare`, then :func:`forward` inside
``call_with_fresh_token``, whose ``refused`` is a 401 result; the last result is the answer).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from hitkey_bff import bounded
from hitkey_bff.errors import (
    BffError,
    UpstreamError,
    UpstreamResponseTooLarge,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from hitkey_bff.http import Response
from hitkey_bff.observability import logger, metrics
from hitkey_bff.proxy.headers import inbound_headers, outbound_headers, stash_location
from hitkey_bff.proxy.limits import (
    CONNECT_TIMEOUT,
    DEADLINE_SECONDS,
    LAMBDA_PAYLOAD,
    MAX_RESPONSE_BODY,
    MIN_CALL_SECONDS,
    RESPONSE_OVERHEAD,
    USER_AGENT,
)
from hitkey_bff.proxy.paths import ProxyRequest
from hitkey_bff.proxy.upstreams import Upstream

_TEXT_TYPES = ("application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded")


# --- the answer ---------------------------------------------------------------------------------


def _textual(content_type: str) -> bool:
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    charset = next(
        (
            p.split("=", 1)[1].strip().strip('"').lower()
            for p in params.split(";")
            if p.strip().lower().startswith("charset=")
        ),
        "utf-8",
    )
    if charset not in ("utf-8", "utf8", "us-ascii"):
        return False
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


@dataclass(frozen=True, slots=True)
class ProxyResult:
    """The upstream's answer, already shaped for the browser."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def to_response(self) -> Response:
        """API Gateway's answer: text when the type is textual and the bytes are UTF-8 and fit,
        base64 otherwise (which always fits: :data:`MAX_RESPONSE_BODY`)."""
        body, is_base64 = self.body, True
        text: str | None = None
        if _textual(self.headers.get("content-type", "")):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is not None and len(json.dumps(text)) <= LAMBDA_PAYLOAD - RESPONSE_OVERHEAD:
            encoded, is_base64 = text, False
        else:
            encoded = base64.b64encode(body).decode("ascii")
        return {
            "statusCode": self.status,
            "headers": dict(self.headers),
            "cookies": [],
            "body": encoded if body else "",
            "isBase64Encoded": is_base64 and bool(body),
        }


# --- the call -----------------------------------------------------------------------------------


def _no_cookies() -> CookieJar:
    """A jar that keeps nothing: one client serves every user of a warm Lambda, so a cookie the
    upstream set for one user must never be sent on another's call."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


_clients_lock = threading.Lock()
_clients: dict[Upstream, httpx.Client] = {}


def client_for(upstream: Upstream) -> httpx.Client:
    """The upstream's ``httpx.Client``, made once per process: no redirects, no proxies from the
    environment, explicit timeouts (each call narrows them to its deadline), a small pool."""
    with _clients_lock:
        client = _clients.get(upstream)
        if client is None:
            client = httpx.Client(
                timeout=httpx.Timeout(upstream.timeout, connect=min(CONNECT_TIMEOUT, upstream.timeout)),
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
                headers={"user-agent": USER_AGENT},
                cookies=_no_cookies(),
                event_hooks={"response": [stash_location]},
            )
            _clients[upstream] = client
        return client


def close_clients() -> None:
    """Close and forget every cached client (tests; a process that changes its table)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def deadline_from(started: float, remaining_ms: int | None = None) -> float:
    """The monotonic deadline of a proxied request that started at ``started``: at most
    :data:`DEADLINE_SECONDS`, and one second before the Lambda's own end when that is known."""
    budget = DEADLINE_SECONDS if remaining_ms is None else min(DEADLINE_SECONDS, remaining_ms / 1000 - 1.0)
    return started + budget


def _log_transport_error(name: str) -> None:
    """The transport error's class for operators (the log); callers get a sentence without it."""
    logger.warning("upstream transport error", extra={"transport_error": name})


def _send(client: httpx.Client, request: httpx.Request, call_deadline: float) -> tuple[httpx.Response, bytes]:
    try:
        return bounded.exchange(client, request, call_deadline, MAX_RESPONSE_BODY)
    except bounded.NoAnswer:
        raise UpstreamTimeout("the API did not answer in time") from None
    except bounded.Unreachable as exc:
        _log_transport_error(str(exc))
        raise UpstreamUnreachable("the API could not be reached") from None
    except bounded.DeadlinePassed:
        raise UpstreamTimeout("the API did not finish its answer in time") from None
    except bounded.BodyTooLarge:
        raise UpstreamResponseTooLarge("the API's answer is too large to return") from None
    except bounded.Undecodable:
        raise UpstreamError("the API sent a body that cannot be decoded", code="upstream_bad_response") from None
    except bounded.Broken as exc:
        _log_transport_error(str(exc))
        raise UpstreamUnreachable("the API broke the connection") from None


def _record(upstream: Upstream, method: str, status: int, started: float, outcome: str) -> None:
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    logger.info(
        "proxy call",
        extra={
            "upstream": upstream.name,
            "method": method,
            "status": status,
            "duration_ms": duration_ms,
            "outcome": outcome,
        },
    )
    series: list[tuple[str, MetricUnit, float]] = [
        ("ProxyCalls", MetricUnit.Count, 1),
        ("ProxyLatency", MetricUnit.Milliseconds, duration_ms),
    ]
    if 400 <= status < 500:
        series.append(("ProxyClientErrors", MetricUnit.Count, 1))
    elif status >= 500:
        series.append(("ProxyServerErrors", MetricUnit.Count, 1))
    for name, unit, value in series:
        # A metric of its own (not metrics.add_dimension): the dimension must not leak onto the
        # invocation's other metrics (Refreshes, ...), which would change their identity.
        with single_metric(name=name, unit=unit, value=value, namespace=metrics.namespace) as metric:
            metric.add_dimension(name="upstream", value=upstream.name)


def forward(
    client: httpx.Client,
    upstream: Upstream,
    request: ProxyRequest,
    url: httpx.URL,
    access_token: str,
    *,
    deadline: float,
) -> ProxyResult:
    """One call to the upstream, finished by ``min(now + upstream.timeout, deadline)``.

    Raises :class:`UpstreamTimeout` (504), :class:`UpstreamUnreachable` or
    :class:`UpstreamResponseTooLarge` (502). Any status, 401 and 5xx included, is a result.
    The request's body is bytes already, so a retry sends exactly the same request; its method
    was checked against the upstream's ``methods`` (:func:`~hitkey_bff.proxy.paths.check`)."""
    started = time.monotonic()
    budget = min(upstream.timeout, deadline - started)
    if budget < MIN_CALL_SECONDS:
        _record(upstream, request.method, 504, started, "no_time_left")
        raise UpstreamTimeout("no time was left to call the API")
    outgoing = client.build_request(
        request.method,
        url,
        headers=outbound_headers(request.headers, access_token, request.source_ip),
        content=request.body if request.body or request.method not in ("GET", "HEAD") else None,
        timeout=httpx.Timeout(budget, connect=min(CONNECT_TIMEOUT, budget)),
    )
    try:
        response, body = _send(client, outgoing, started + budget)
    except BffError as err:
        _record(upstream, request.method, err.status, started, err.code)
        raise
    result = ProxyResult(response.status_code, inbound_headers(response, url, upstream), body)
    _record(upstream, request.method, response.status_code, started, "answered")
    return result
