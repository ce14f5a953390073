"""``ANY /api/{upstream}/{proxy+}`` - the SPA's API calls, forwarded with the session's access token.

Policy and check order (docs/proxy.md, "Check order"):

1. the route wrapper: the event (400 for a query over 4096 characters or 32 fields: the proxy
   keeps the wrapper's limits, it does not pass longer queries through), the CSRF/origin check
   (403), the session (401, one GetItem; none without a cookie);
2. the upstream table (``503 misconfigured`` naming the upstream and what is wrong);
3. :func:`~hitkey_bff.proxy.paths.prepare`: the body (400/413), the name (404), the path (400), the
   method (405 with ``Allow``) and ``paths`` (403) - no I/O;
4. the call, with a fresh token: one refresh first if the token is about to expire, one refresh
   and one retry on the upstream's 401; a second 401 is the upstream's own answer, passed through
   (the BFF session stays). ``invalid_grant`` during a refresh ends the session (401).

The session comes before the table on purpose: a caller without a session learns nothing about
which APIs exist, which paths or methods they allow, or whether the table is valid. A refused
request of a signed-in user costs the one GetItem that authenticated it, nothing more.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from functools import lru_cache

from hitkey_bff.deps import Deps
from hitkey_bff.errors import ConfigError
from hitkey_bff.http import Request, Response
from hitkey_bff.observability import logger
from hitkey_bff.proxy.forward import ProxyResult, client_for, deadline_from, forward
from hitkey_bff.proxy.paths import prepare
from hitkey_bff.proxy.upstreams import Upstream, parse_upstreams
from hitkey_bff.refresh import call_with_fresh_token
from hitkey_bff.route import route
from hitkey_bff.sessions import Session

ENV = "API_UPSTREAMS"


@lru_cache(maxsize=1)
def _parsed(raw: str) -> Mapping[str, Upstream]:
    return parse_upstreams(raw)


def upstream_table() -> Mapping[str, Upstream]:
    """``API_UPSTREAMS``, parsed once per value; a bad table is logged and is ``503 misconfigured``."""
    try:
        return _parsed(os.environ.get(ENV, ""))
    except ConfigError as err:
        logger.error("API_UPSTREAMS is invalid, every /api call answers 503", extra={"problem": err.message})
        raise


def api(request: Request, deps: Deps, session: Session) -> Response:
    """Forward the request to the named upstream; its answer (any status) goes back shaped."""
    deadline = deadline_from(time.monotonic())
    upstream, proxied, url = prepare(upstream_table(), request)
    client = client_for(upstream)

    def call(token: str) -> ProxyResult:
        return forward(client, upstream, proxied, url, token, deadline=deadline)

    _, result = call_with_fresh_token(deps, session, call, refused=_refused)
    return result.to_response()  # a second 401 too: the upstream's own answer, passed through


def _refused(result: ProxyResult) -> bool:
    return result.status == 401


handler = route(api, session="required")
