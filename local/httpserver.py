"""Serve a WSGI app on werkzeug in a daemon thread, quietly.

werkzeug's request log prints the request line, query string included - OAuth codes and states -
so the handler here logs nothing; each app writes its own path-only access log.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

__all__ = ["QuietHandler", "Server", "url_for"]


class QuietHandler(WSGIRequestHandler):
    """No request line, no protocol errors echoing the request (they carry the query string)."""

    def make_environ(self) -> Any:
        """werkzeug's environ, plus the header lines as sent (``local.headers``): WSGI joins repeats."""
        environ = super().make_environ()
        environ["local.headers"] = list(self.headers.items())
        return environ

    def version_string(self) -> str:
        return "local"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return

    def log(self, type: str, message: str, *args: Any) -> None:
        return


class _TrackingServer(ThreadedWSGIServer):
    """Remembers open connections so :meth:`Server.stop` can cut hung and slow ones."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.open_connections: set[socket.socket] = set()
        self.open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.open_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.open_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)


def url_for(host: str, port: int) -> str:
    """``http://host:port``, wildcard binds shown as loopback, IPv6 in brackets."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Server:
    """One threaded werkzeug server for ``app``; :meth:`start` binds, :meth:`stop` releases."""

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.name = name
        self._server: _TrackingServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen (``port=0`` picks one) and serve in a daemon thread; returns the base URL."""
        if self._server is not None:
            raise RuntimeError(f"{self.name} already started")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))  # OSError (EADDRINUSE) for a taken port, for the caller to word
            sock.listen(128)
            # werkzeug binds itself and sys.exit()s on a busy port: hand it a bound socket instead.
            server = _TrackingServer(host, port, self.app, handler=QuietHandler, fd=sock.fileno())
        finally:
            sock.close()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.name, daemon=True
        )
        self._thread.start()
        return self.base_url

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} not started")
        host, port = self._server.server_address[:2]
        return url_for(str(host), int(port))

    def stop(self) -> None:
        """Stop accepting, close the socket and cut open connections (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        if thread is not None:
            thread.join(timeout=5)
        server.server_close()
        with server.open_lock:
            connections = list(server.open_connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
