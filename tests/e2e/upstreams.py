"""Two API upstreams on loopback for the attack tests: a hostile one and a benign recorder.

The **hostile** upstream answers what a compromised or malicious API would, chosen by path:

* ``/redirect/<status>/<key>``: a ``307``/``308`` whose ``Location`` is ``LOCATIONS[key]``, each a
  dot segment a browser resolves (``%2e%2e``, ``.%2e``, ``%2E%2E``...) but RFC 3986 does not;
* ``/challenge/<key>``: ``401`` with ``WWW-Authenticate: CHALLENGES[key]``;
* ``/public``: ``200`` with ``Cache-Control: public, max-age=600, s-maxage=600``;
* anything else: ``401`` with a ``Bearer`` challenge, always (the refresh loop).

The **benign** upstream answers ``200 {"ok": true}`` and records every request that reaches it
(method, path, headers, body): any entry in it during an attack is a request that escaped.
Both count their calls per path. Neither logs anything: their requests carry bearer tokens.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from local.httpserver import Server

__all__ = ["CHALLENGES", "LOCATIONS", "Benign", "Hostile", "Recorded"]

# Each resolves, in a browser, from /api/hostile/... to a route it must never reach.
LOCATIONS: dict[str, str] = {
    "sessions-pct": "/%2e%2e/%2e%2e/auth/sessions",
    "sessions-dot-pct": "/.%2e/.%2e/auth/sessions",
    "sessions-pct-dot": "/%2e./%2e./auth/sessions",
    "sessions-upper": "/%2E%2E/%2E%2E/auth/sessions",
    "benign-pct": "/%2e%2e/benign/collect",
    "benign-mixed": "/%2E./benign/collect",
}
CHALLENGES: dict[str, str] = {
    "bearer-then-basic": 'Bearer realm="a", Basic realm="b"',
    "bearerx-then-basic": 'BearerX, Basic realm="b"',
}
PUBLIC_CACHE = "public, max-age=600, s-maxage=600"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Upstream(Server):
    def __init__(self, name: str) -> None:
        super().__init__(self.wsgi, name)
        self._lock = threading.Lock()
        self._hits: Counter[str] = Counter()

    def hits(self, path: str | None = None) -> int:
        """Calls so far, to ``path`` or to any path."""
        with self._lock:
            return self._hits[path] if path is not None else sum(self._hits.values())

    def answer(self, request: Request) -> Response:
        raise NotImplementedError

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._lock:
            self._hits[request.path] += 1
        return self.answer(request)(environ, start_response)


class Hostile(_Upstream):
    """``Hostile().start()`` -> its base URL."""

    def __init__(self) -> None:
        super().__init__("hostile-upstream")

    def answer(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "redirect" and parts[1] in ("307", "308") and parts[2] in LOCATIONS:
            return Response(b"", int(parts[1]), {"Location": LOCATIONS[parts[2]], "Cache-Control": "no-store"})
        if len(parts) == 2 and parts[0] == "challenge" and parts[1] in CHALLENGES:
            return _json(401, {"error": "invalid_token"}, {"WWW-Authenticate": CHALLENGES[parts[1]]})
        if parts == ["public"]:
            return _json(200, {"user": "data of one user"}, {"Cache-Control": PUBLIC_CACHE})
        return _json(401, {"error": "invalid_token"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'})


class Benign(_Upstream):
    """``Benign().start()`` -> its base URL; :attr:`seen` holds every request it got."""

    def __init__(self) -> None:
        super().__init__("benign-upstream")
        self.seen: list[Recorded] = []

    def answer(self, request: Request) -> Response:
        entry = Recorded(request.method, request.path, dict(request.headers), request.get_data())
        with self._lock:
            self.seen.append(entry)
        return _json(200, {"ok": True}, {})


def _json(status: int, body: dict[str, Any], headers: dict[str, str]) -> Response:
    response = Response(json.dumps(body), status, headers)
    response.content_type = "application/json"
    return response
