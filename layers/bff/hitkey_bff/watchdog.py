"""An overall deadline for one HTTP response, not per read.

httpx's read timeout bounds each ``recv``: a server that trickles its body (each piece inside
the read timeout) holds a call for as long as it likes. :class:`Watchdog` shuts the
connection's socket at the deadline, so a read blocked in ``recv`` returns at once, and
:func:`read_within` checks the deadline between chunks. Used by the HitKey client and the proxy.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import httpx


class DeadlinePassed(Exception):
    """The response was not complete by its deadline."""


class BodyTooLarge(Exception):
    """The response's body is larger than allowed."""


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
