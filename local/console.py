"""What ``make run`` and ``make sam-local`` share: the error a user can fix, a progress line on
stderr, and ports read from the environment and checked free on loopback."""

from __future__ import annotations

import os
import socket
import sys

LOOPBACK = "127.0.0.1"


class UserError(Exception):
    """Something the user can fix; the message says how."""


def say(message: str) -> None:
    """One progress line on stderr (stdout carries only the ready line)."""
    print(f"==> {message}", file=sys.stderr, flush=True)


def port_from_env(name: str, default: int) -> int:
    """The port in ``name`` (0: a free one), or ``default`` when it is unset."""
    raw = os.environ.get(name, "").strip() or str(default)
    if not raw.isdigit() or int(raw) > 65535:
        raise UserError(f"{name}={raw} is not a port number (0-65535)")
    return int(raw)


def ensure_free(port: int, variable: str, what: str = "") -> None:
    """Fail with a clear message if ``port`` is taken on loopback (0 is any free one)."""
    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            named = f" ({what})" if what else ""
            raise UserError(
                f"port {port}{named} is already in use: stop whatever uses it, or pick another with {variable}=<port>"
            ) from None


def free_port() -> int:
    """A port the OS says is free now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])
