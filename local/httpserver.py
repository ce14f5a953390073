"""Serve a WSGI app on werkzeug in a daemon thread, quietly.

werkzeug's request log prints the request line, query string included - OAuth codes and states -
so the handler here logs nothing; each app writes its own path-only access log.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any, Self

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

__all__ = ["QuietHandler", "Server"]


class QuietHandler(WSGIRequestHandler):
    """No request line, no protocol errors echoing the request (they carry the query string)."""

    def make_environ(self) -> Any:
        """werkzeug's environ, plus the header lines as sent (``local.headers``): WSGI joins repeats."""
        environ = super().make_environ()
        environ["local.headers"] = list(self.headers.items())
        return environ

    def version_string(self) -> str:
        return "local"

    def log(self, type: str, message: str, *args: Any) -> None:
        return  # werkzeug's request line, errors and messages all come here


class _TrackingServer(ThreadedWSGIServer):
    """Remembers open connections so :meth:`Server.stop` can cut hung and slow ones."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.open_connections: set[socket.socket] = set()  # add, discard and copy are atomic
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.open_connections.discard(request)
        super().shutdown_request(request)


class Server:
    """One threaded werkzeug server for ``app``; :meth:`start` binds, :meth:`stop` releases.

    ``with server:`` starts it (on a free loopback port) unless it runs, and stops it. Slow answers
    wait on :attr:`stopping`, which :meth:`stop` sets.
    """

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.name = name
        self.stopping = threading.Event()
        self._serving: tuple[_TrackingServer, threading.Thread] | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen (``port=0`` picks one) and serve in a daemon thread; returns the base URL."""
        if self._serving is not None:
            raise RuntimeError(f"{self.name} already started")
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))  # OSError (EADDRINUSE) for a taken port, for the caller to word
            sock.listen(128)
            # werkzeug binds itself and sys.exit()s on a busy port: hand it a bound socket instead.
            server = _TrackingServer(host, port, self.app, handler=QuietHandler, fd=sock.fileno())
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.name, daemon=True
        )
        self._serving = server, thread
        self.stopping.clear()
        thread.start()
        return self.base_url

    @property
    def base_url(self) -> str:
        if self._serving is None:
            raise RuntimeError(f"{self.name} not started")
        host, port = self._serving[0].server_address[:2]
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(str(host), str(host))  # wildcard: loopback
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def stop(self) -> None:
        """Wake slow answers, stop accepting, close the socket and cut open connections (idempotent)."""
        self.stopping.set()
        serving, self._serving = self._serving, None
        if serving is None:
            return
        server, thread = serving
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        for connection in server.open_connections.copy():
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Self:
        if self._serving is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
