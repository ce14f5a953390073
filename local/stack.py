"""``make run``: the whole BFF on localhost - moto, the HitKey emulator, the gateway, the demo SPA.

docs/local.md's ``make run`` table lists the environment it reads (``PORT``, ``APP_ORIGIN``,
``SPA_DIR``, ``HITKEY_*``...). Everything runs in this one process (moto and the emulator in
threads), so Ctrl-C or SIGTERM stops all of it and nothing is left running.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from local.console import LOOPBACK, UserError, ensure_free, free_port, port_from_env, say

REAL_HITKEY = ("HITKEY_AUTHORIZE_URL", "HITKEY_API_URL", "HITKEY_CLIENT_ID", "HITKEY_CLIENT_SECRET")
PORT_VARIABLES = {
    "PORT": "the app",
    "MOTO_PORT": "moto",
    "HITKEY_EMULATOR_PORT": "the HitKey emulator",
    "SAMPLE_API_PORT": "the sample API",
}


def read_ports() -> dict[str, int]:
    """The ports from the environment: ``PORT`` 1-65535, the others 0 (free) or fixed, all distinct."""
    ports = {name: port_from_env(name, 3000 if name == "PORT" else 0) for name in PORT_VARIABLES}
    if ports["PORT"] == 0:
        raise UserError("PORT=0 is not allowed: the browser needs a fixed address (e.g. PORT=3000)")
    taken: dict[int, str] = {}
    for name, port in ports.items():
        if port and port in taken:
            raise UserError(f"{taken[port]}={port} and {name}={port}: give each service its own port")
        taken.setdefault(port, name)
    return ports


def real_hitkey() -> tuple[str, str, str, str] | None:
    """The four ``HITKEY_*`` settings when all are set, ``None`` when none are; an error otherwise."""
    values = [os.environ.get(name, "").strip() for name in REAL_HITKEY]
    if all(values):
        return values[0], values[1], values[2], values[3]
    if any(values):
        missing = ", ".join(name for name, value in zip(REAL_HITKEY, values, strict=True) if not value)
        raise UserError(
            f"{missing} not set: set all four HITKEY_* variables to use a real HitKey, or none for the emulator"
        )
    return None


def app_origin(port: int) -> str:
    """``APP_ORIGIN`` (your dev server) or the BFF's own ``http://localhost:$PORT``."""
    raw = os.environ.get("APP_ORIGIN", "").strip().rstrip("/")
    if not raw:
        return f"http://localhost:{port}"
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or parts.fragment:
        raise UserError(f"APP_ORIGIN={raw} must be a scheme and host, like http://localhost:5173")
    return raw


def spa_dir() -> Path:
    """``SPA_DIR`` (a built SPA) or the demo."""
    from local.gateway import DEFAULT_SPA_DIR

    raw = os.environ.get("SPA_DIR", "").strip()
    if not raw:
        return DEFAULT_SPA_DIR
    folder = Path(raw).expanduser().resolve()
    if not (folder / "index.html").is_file():
        raise UserError(f"SPA_DIR={raw} has no index.html: point it at your SPA's build output (e.g. dist/)")
    return folder


def extra_templates() -> list[Path]:
    """``EXTRA_TEMPLATES``: space-separated SAM templates whose routes join the BFF's HTTP API."""
    found: list[Path] = []
    for raw in os.environ.get("EXTRA_TEMPLATES", "").split():
        path = Path(raw).expanduser().resolve()
        if not path.is_file():
            raise UserError(f"EXTRA_TEMPLATES: {raw} is not a file (give SAM templates, space-separated)")
        found.append(path)
    return found


@dataclass
class Stack:
    """The running parts, stopped in reverse order."""

    app_url: str = ""
    bff_url: str = ""
    emulator: Any = None
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
    real = real_hitkey()
    if real is not None:
        say(f"using the HitKey at {real[1]} (register {redirect_uri} there)")
        return real
    from local.emulator import Emulator

    emulator = Emulator()
    base = emulator.start(LOOPBACK, port)
    stack.stops.append(emulator.stop)
    stack.emulator = emulator
    client = emulator.register_client(
        "hitkey-bff demo", redirect_uri, client_id=secrets.token_hex(16), client_secret=secrets.token_hex(32)
    )
    say(f"HitKey emulator on {base} (test users: Ada, Alan, Grace; redirect URI {redirect_uri})")
    return emulator.authorize_url, base, client["client_id"], client["client_secret"]


def start_sample_api(stack: Stack, port: int) -> None:
    """The sample API beside the emulator, as the proxy's ``demo`` upstream unless API_UPSTREAMS is set."""
    if os.environ.get("API_UPSTREAMS", "").strip():
        say("API_UPSTREAMS from the environment: the API proxy calls your upstreams")
        return
    if stack.emulator is None:
        say("no sample API: it accepts only the emulator's tokens (set API_UPSTREAMS for your own API)")
        return
    from local.sample_api import SampleApi

    api = SampleApi(stack.emulator)
    url = api.start(LOOPBACK, port)
    stack.stops.append(api.stop)
    os.environ["API_UPSTREAMS"] = json.dumps({"demo": url})
    say(f"sample API on {url} (the API proxy's upstream 'demo': /api/demo/...)")


@contextmanager
def _listening(what: str, variable: str) -> Iterator[None]:
    """A port the block cannot listen on is a one-line UserError."""
    try:
        yield
    except OSError as exc:
        raise UserError(
            f"{what} could not listen ({exc.strerror or exc}): pick another port with {variable}=<port>"
        ) from None


def start(ports: dict[str, int]) -> Stack:
    """Start moto, HitKey (emulated unless configured), the sample API, the resources and the gateway."""
    import boto3

    from local import cookie_mode
    from local.gateway import Gateway
    from local.resources import create_resources
    from local.template import TEMPLATE

    port = ports["PORT"]
    origin = app_origin(port)
    spa = spa_dir()
    try:
        plain_http_cookies = cookie_mode.wanted(origin)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    extras = extra_templates()
    real_hitkey()  # a half-configured HitKey fails before anything starts
    for name, what in PORT_VARIABLES.items():
        ensure_free(ports[name], name, what)
    stack = Stack()
    try:
        say(f"moto (DynamoDB, KMS, Secrets Manager) on {start_moto(stack, ports['MOTO_PORT'])}")
        redirect_uri = f"{origin}/auth/callback"
        with _listening("the HitKey emulator", "HITKEY_EMULATOR_PORT"):
            authorize, api, client_id, client_secret = start_hitkey(stack, ports["HITKEY_EMULATOR_PORT"], redirect_uri)
        with _listening("the sample API", "SAMPLE_API_PORT"):
            start_sample_api(stack, ports["SAMPLE_API_PORT"])
        made = create_resources(boto3.Session(), client_secret)
        say(f"created {made.table}, {made.key_id} and the client secret from template.yaml")
        os.environ.update(
            HITKEY_AUTHORIZE_URL=authorize,
            HITKEY_API_URL=api,
            HITKEY_CLIENT_ID=client_id,
            HITKEY_CLIENT_SECRET_ARN=made.secret_id,
            REDIRECT_URI=redirect_uri,
            APP_ORIGIN=origin,
            SESSION_TABLE=made.table,
            KMS_KEY_ID=made.key_id,
            POWERTOOLS_SERVICE_NAME="hitkey-bff",
            POWERTOOLS_METRICS_DISABLED="true",
        )
        os.environ.pop("HITKEY_CLIENT_SECRET", None)  # the functions read it from Secrets Manager
        say(cookie_mode.apply(plain_http_cookies, origin))
        bff = f"http://localhost:{port}"
        try:
            gateway = Gateway(
                TEMPLATE,
                spa_dir=spa,
                spa_fallback=True,
                parameters={"AppOrigin": origin},
                canonical_origin=bff,
                extra_templates=extras,
            )
        except ValueError as exc:
            raise UserError(f"cannot serve these templates' routes: {exc}") from None
        for extra in extras:
            say(f"serving the routes of {extra} (BffSession authorizer applied as in API Gateway)")
        with _listening("the BFF", "PORT"):
            gateway.start(LOOPBACK, port)
        stack.stops.append(gateway.stop)
        if os.environ.get("SPA_DIR", "").strip():
            say(f"serving the SPA in {spa} (index.html for deep links)")
        stack.app_url = f"{origin}/"
        stack.bff_url = bff
    except BaseException:
        stack.stop()
        raise
    return stack


def ready_line(stack: Stack, seconds: float) -> str:
    """What ``make run`` prints once everything listens."""
    line = f"hitkey-bff is ready in {seconds:.1f}s: open {stack.app_url}"
    if stack.app_url.rstrip("/") != stack.bff_url:
        line += f" - in your dev server, proxy /auth and /api to the BFF at {stack.bff_url}"
    return line + "  (Ctrl-C stops)"


def main() -> int:
    """Run until Ctrl-C or SIGTERM."""
    began = time.monotonic()
    warnings.filterwarnings("ignore", "No application metrics to publish")
    done = threading.Event()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: done.set())
    try:
        stack = start(read_ports())
    except UserError as exc:
        say(f"error: {exc}")
        return 1
    print(ready_line(stack, time.monotonic() - began), flush=True)
    try:
        done.wait()
    finally:
        say("stopping")
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
