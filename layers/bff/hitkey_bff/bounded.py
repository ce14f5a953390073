"""One HTTP exchange, complete - headers and whole body - by an overall deadline, not per read.

httpx's read timeout bounds each ``recv``: a server that trickles its body (each piece inside
the read timeout) holds a call for as long as it likes. :class:`Watchdog` shuts the
connection's socket at the deadline, so a read blocked in ``recv`` returns at once, and
:func:`read_within` checks the deadline between chunks. :func:`exchange` is the whole call, for
the HitKey client and the API proxy alike; its failures are the exceptions below, which each
caller words for its own peer.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import httpx


class NoAnswer(Exception):
    """No response (status and headers) before the request's timeouts ran out."""


class Unreachable(Exception):
    """The connection could not be made or broke before the response; the message is the
    transport error's class name (for the log)."""


class DeadlinePassed(Exception):
    """The response was not complete by its deadline."""


class BodyTooLarge(Exception):
    """The response's body is larger than allowed."""


class Undecodable(Exception):
    """The body's content encoding cannot be decoded; the message is the error's class name."""


class Broken(Exception):
    """The connection broke while the body was read; the message is the transport error's class
    name (for the log)."""


# InvalidURL: httpx builds the redirect request of a 3xx even when not following it, and an odd
# ``Location`` makes that raise; StreamError: a stream read twice or after closing.
TRANSPORT_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)


class Watchdog:
    """Shuts the connection's socket at ``deadline`` (a ``time.monotonic()`` value). Start it
    when the headers are in; before that, the request's timeouts bound the call."""

    def __init__(self, response: httpx.Response, deadline: float) -> None:
        stream = response.extensions.get("network_stream")
        self._socket: socket.socket | None = None
        with contextlib.suppress(Exception):
            found = stream.get_extra_info("socket") if stream is not None else None
            self._socket = found if isinstance(found, socket.socket) else None
        self.fired = False
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        if self._socket is not None:
            self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        if self._socket is not None:
            with contextlib.suppress(OSError):  # the plain socket's shutdown, also under TLS
                socket.socket.shutdown(self._socket, socket.SHUT_RDWR)

    def cancel(self) -> None:
        """Stop the timer (the response is complete or abandoned)."""
        self._timer.cancel()


def read_within(response: httpx.Response, deadline: float, max_bytes: int) -> bytes:
    """The streamed ``response``'s body, complete by ``deadline``; raises :class:`DeadlinePassed`
    or :class:`BodyTooLarge`. Transport errors (also the watchdog's shutdown) propagate: the
    caller tells them apart with ``watchdog.fired``."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"more than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise DeadlinePassed("the body was not complete in time")
        chunks.append(chunk)
    return b"".join(chunks)


def exchange(
    client: httpx.Client, request: httpx.Request, deadline: float, max_bytes: int
) -> tuple[httpx.Response, bytes]:
    """Send ``request`` (its own timeouts bound the wait for the headers) and read the whole body
    by ``deadline`` (a ``time.monotonic()`` value), at most ``max_bytes`` of it; a ``HEAD`` has
    none. The response comes back closed, with its body. Raises :class:`NoAnswer`,
    :class:`Unreachable`, :class:`DeadlinePassed`, :class:`BodyTooLarge`, :class:`Undecodable` or
    :class:`Broken`."""
    try:
        response = client.send(request, stream=True, follow_redirects=False)
    except httpx.TimeoutException:
        raise NoAnswer("no answer in time") from None
    except TRANSPORT_ERRORS as exc:
        raise Unreachable(type(exc).__name__) from None
    watchdog = Watchdog(response, deadline)
    try:
        body = b"" if request.method == "HEAD" else read_within(response, deadline, max_bytes)
    except httpx.TimeoutException:
        raise DeadlinePassed("the body was not complete in time") from None
    except httpx.DecodingError as exc:
        raise Undecodable(type(exc).__name__) from None
    except TRANSPORT_ERRORS as exc:
        if watchdog.fired:
            raise DeadlinePassed("the body was not complete in time") from None
        raise Broken(type(exc).__name__) from None
    finally:
        watchdog.cancel()
        response.close()
    return response, body
