"""``make run``: the whole BFF on localhost - moto, the HitKey emulator, the gateway, the demo SPA.

Environment (all optional):

* ``PORT`` - the app's port (default 3000); the app is ``http://localhost:$PORT``.
* ``MOTO_PORT``, ``HITKEY_EMULATOR_PORT`` - fixed ports for moto and the emulator (default: free).
* ``HITKEY_AUTHORIZE_URL``, ``HITKEY_API_URL``, ``HITKEY_CLIENT_ID``, ``HITKEY_CLIENT_SECRET`` -
  all four set: use that HitKey instead of the emulator (register
  ``http://localhost:$PORT/auth/callback`` there).

Everything runs in this one process (moto and the emulator in threads), so Ctrl-C or SIGTERM
stops all of it and nothing is left running.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

REAL_HITKEY = ("HITKEY_AUTHORIZE_URL", "HITKEY_API_URL", "HITKEY_CLIENT_ID", "HITKEY_CLIENT_SECRET")
LOOPBACK = "127.0.0.1"


class StackError(Exception):
    """Something the user can fix; the message says how."""


def say(message: str) -> None:
    """One progress line on stderr (stdout carries only the ready line)."""
    print(f"==> {message}", file=sys.stderr, flush=True)


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 <= int(raw) < 65536:
        raise StackError(f"{name}={raw} is not a port number (0-65535)")
    return int(raw)


def ensure_free(port: int, what: str, variable: str) -> None:
    """Fail with a clear message if ``port`` is taken on loopback."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            raise StackError(
                f"port {port} ({what}) is already in use: stop whatever uses it, or pick another with {variable}=<port>"
            ) from None


def free_port() -> int:
    """A port the OS says is free now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """The running parts, stopped in reverse order."""

    app_url: str = ""
    stops: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        """Stop everything that was started; idempotent."""
        while self.stops:
            try:
                self.stops.pop()()
            except Exception as exc:  # keep stopping the rest
                say(f"while stopping: {type(exc).__name__}: {exc}")


def start_moto(stack: Stack, port: int) -> str:
    """moto's server on loopback; boto3 in this process is pointed at it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log

    port = port or free_port()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    stack.stops.append(server.stop)
    url = f"http://{LOOPBACK}:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - moto accepts anything
        AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    os.environ.pop("AWS_PROFILE", None)
    return url


def start_hitkey(stack: Stack, port: int, redirect_uri: str) -> tuple[str, str, str, str]:
    """The emulator with this app's client registered; returns (authorize, api, client id, secret)."""
    if all(os.environ.get(name) for name in REAL_HITKEY):
        say(f"using the HitKey at {os.environ['HITKEY_API_URL']} (register {redirect_uri} there)")
        return tuple(os.environ[name] for name in REAL_HITKEY)  # type: ignore[return-value]
    from local.emulator import Emulator

    emulator = Emulator()
    base = emulator.start(LOOPBACK, port)
    stack.stops.append(emulator.stop)
    client = emulator.register_client(
        "hitkey-bff demo", redirect_uri, client_id=secrets.token_hex(16), client_secret=secrets.token_hex(32)
    )
    say(f"HitKey emulator on {base} (test users: Ada, Alan, Grace)")
    return emulator.authorize_url, base, client["client_id"], client["client_secret"]


def start(port: int, moto_port: int = 0, emulator_port: int = 0) -> Stack:
    """Start moto, HitKey (emulated unless configured), the resources and the gateway."""
    import boto3

    from local.gateway import Gateway
    from local.resources import TEMPLATE, create_resources

    ensure_free(port, "the app", "PORT")
    ensure_free(moto_port, "moto", "MOTO_PORT")
    ensure_free(emulator_port, "the HitKey emulator", "HITKEY_EMULATOR_PORT")
    stack = Stack()
    try:
        say(f"moto (DynamoDB, KMS, Secrets Manager) on {start_moto(stack, moto_port)}")
        app_origin = f"http://localhost:{port}"
        authorize, api, client_id, client_secret = start_hitkey(stack, emulator_port, f"{app_origin}/auth/callback")
        made = create_resources(boto3.Session(), client_secret)
        say(f"created {made.table}, {made.key_id} and the client secret from template.yaml")
        os.environ.update(
            HITKEY_AUTHORIZE_URL=authorize,
            HITKEY_API_URL=api,
            HITKEY_CLIENT_ID=client_id,
            HITKEY_CLIENT_SECRET_ARN=made.secret_id,
            REDIRECT_URI=f"{app_origin}/auth/callback",
            APP_ORIGIN=app_origin,
            SESSION_TABLE=made.table,
            KMS_KEY_ID=made.key_id,
            POWERTOOLS_SERVICE_NAME="hitkey-bff",
            POWERTOOLS_METRICS_DISABLED="true",
        )
        os.environ.pop("HITKEY_CLIENT_SECRET", None)  # the functions read it from Secrets Manager
        gateway = Gateway(TEMPLATE)
        gateway.start(LOOPBACK, port)
        stack.stops.append(gateway.stop)
        stack.app_url = f"{app_origin}/"
    except BaseException:
        stack.stop()
        raise
    return stack


def main() -> int:
    """Run until Ctrl-C or SIGTERM."""
    began = time.monotonic()
    warnings.filterwarnings("ignore", "No application metrics to publish")
    done = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        stack = start(_port("PORT", 3000), _port("MOTO_PORT", 0), _port("HITKEY_EMULATOR_PORT", 0))
    except StackError as exc:
        say(f"error: {exc}")
        return 1
    print(f"hitkey-bff is ready in {time.monotonic() - began:.1f}s: open {stack.app_url}  (Ctrl-C stops)", flush=True)
    try:
        done.wait()
    finally:
        say("stopping")
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
