"""The faults the emulator can inject: which endpoints, the kinds and what each does to a call."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from typing import Final

from werkzeug.wrappers import Response

from local.emulator.http import Reply, oauth_error_response
from local.emulator.pages import page
from local.emulator.provider import OAuthError, invalid_token

FAULT_ENDPOINTS: Final = ("token", "userinfo", "authorize", "clients")
_FAULT_HTML: Final = page(
    "502 Bad Gateway", "<h1>502 Bad Gateway</h1>\n<p>The upstream server returned an invalid response.</p>"
)
# What each fault kind does to a call: the answer sent instead of the endpoint's, or None for the
# timed kinds (default seconds below). ``hang`` waits, then closes without answering; ``delay`` and
# ``trickle`` answer first (a refresh is rotated at once), then ``delay`` waits before sending and
# ``trickle`` sends the body in pieces spread over the seconds.
FAULTS: Final[dict[str, Callable[[], Response] | None]] = {
    "error500": lambda: oauth_error_response(OAuthError("server_error", "injected fault", 500)),
    "html": lambda: Reply(_FAULT_HTML, 502, content_type="text/html; charset=utf-8"),
    "malformed": lambda: Reply(b'{"access_token": "hkat_trunc', 200, content_type="application/json"),
    "hang": None,
    "delay": None,
    "invalid_grant": lambda: oauth_error_response(OAuthError("invalid_grant", "injected fault")),
    "invalid_client": lambda: oauth_error_response(OAuthError("invalid_client", "injected fault", 401)),
    "unauthorized": lambda: oauth_error_response(invalid_token("injected fault")),
    "trickle": None,
}
FAULT_KINDS: Final = tuple(FAULTS)
FAULT_SECONDS: Final = {"hang": 30.0, "delay": 1.0, "trickle": 10.0}


def trickle(response: Response, seconds: float, stopping: threading.Event) -> Response:
    """The same answer, its body sent in pieces over ``seconds``, each under 7 s after the last."""
    body = response.get_data()
    gaps = max(1, math.ceil(seconds))  # a piece at least every second: well under httpx's 7 s read timeout
    size = max(1, math.ceil(len(body) / (gaps + 1)))
    pieces = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    pause = seconds / max(1, len(pieces) - 1)

    def stream() -> Iterator[bytes]:
        for index, piece in enumerate(pieces):
            if index and stopping.wait(pause):
                return
            yield piece

    response.response = stream()  # its headers, Content-Length included, stay as they are
    response.direct_passthrough = True
    return response
