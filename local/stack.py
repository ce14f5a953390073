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
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hitkey_bff.config import LOOPBACK_HOSTS
from hitkey_bff.cookies import use_plain_http_cookies
from local.console import LOOPBACK, UserError, ensure_free, port_from_env, say

REAL_HITKEY = ("HITKEY_AUTHORIZE_URL", "HITKEY_API_URL", "HITKEY_CLIENT_ID", "HITKEY_CLIENT_SECRET")
PORT_VARIABLES = {
    "PORT": "the app",
    "MOTO_PORT": "moto",
    "HITKEY_EMULATOR_PORT": "the HitKey emulator",
    "SAMPLE_API_PORT": "the sample API",
}
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
COOKIE_SETTING = "HTTP_COOKIES"
_ON, _OFF = ("1", "true", "yes"), ("", "0", "false", "no")


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


def spa_dir() -> Path | None:
    """``SPA_DIR`` (a built SPA), or ``None`` for the demo."""
    if not (raw := os.environ.get("SPA_DIR", "").strip()):
        return None
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


def wanted_http_cookies(origin: str) -> bool:
    """``HTTP_COOKIES=1``: cookies without ``Secure`` and the ``__Host-`` prefix, for WebKit (Safari),
    which keeps no ``Secure`` cookie on http://localhost (docs/browsers.md); by default they are the
    deployed ones. Only this process can turn the mode on (the functions read no setting for it and
    refuse it for an APP_ORIGIN other than http on loopback); a :class:`UserError` if unusable."""
    raw = os.environ.get(COOKIE_SETTING, "").strip().lower()
    if raw not in _ON + _OFF:
        raise UserError(
            f"{COOKIE_SETTING}={raw} is not 1 or 0: set {COOKIE_SETTING}=1 for Safari/WebKit on http://localhost"
        )
    if raw in _OFF:
        return False
    parts = urlsplit(origin)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        raise UserError(
            f"{COOKIE_SETTING}=1 is for an app on http://localhost, not {origin}: unset it (https keeps Secure cookies)"
        )
    return True


def apply_cookie_mode(on: bool, origin: str) -> str:
    """Set this process's cookie mode; returns the line ``make run`` prints about it."""
    use_plain_http_cookies(on)
    if on:
        return (
            f"{COOKIE_SETTING}=1: cookies without Secure and without the __Host- prefix, for Safari/WebKit "
            "on http://localhost (make run only; deployed cookies are always Secure)"
        )
    if origin.startswith("http://"):
        return (
            "cookies are Secure with __Host- names, as deployed: Chromium and Firefox keep them on http://localhost, "
            f"Safari/WebKit does not - for Safari run `{COOKIE_SETTING}=1 make run` (docs/browsers.md)"
        )
    return "cookies are Secure with __Host- names, as deployed"


@dataclass
class Stack:
    """The running parts, stopped in reverse order."""

    app_url: str = ""
    bff_url: str = ""
    emulator: Any = None
    stops: list[Callable[[], None]] = field(default_factory=list)

    def serve(self, server: Any, port: int, variable: str) -> str:
        """Start ``server`` on loopback, to be stopped with the stack; a port it cannot listen on is
        a one-line :class:`UserError` naming ``variable``. Returns its base URL."""
        try:
            url = str(server.start(LOOPBACK, port))
        except OSError as exc:
            raise UserError(
                f"{PORT_VARIABLES[variable]} could not listen ({exc.strerror or exc}): "
                f"pick another port with {variable}=<port>"
            ) from None
        self.stops.append(server.stop)
        return url

    def stop(self) -> None:
        """Stop everything that was started; idempotent."""
        while self.stops:
            try:
                self.stops.pop()()
            except Exception as exc:  # keep stopping the rest
                say(f"while stopping: {type(exc).__name__}: {exc}")

    def ready_line(self, seconds: float) -> str:
        """What ``make run`` prints once everything listens."""
        line = f"hitkey-bff is ready in {seconds:.1f}s: open {self.app_url}"
        if self.app_url.rstrip("/") != self.bff_url:
            line += f" - in your dev server, proxy /auth and /api to the BFF at {self.bff_url}"
        return line + "  (Ctrl-C stops)"


def start_moto(stack: Stack, port: int) -> str:
    """moto's server on loopback; boto3 in this process is pointed at it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    stack.stops.append(server.stop)
    url = "http://{}:{}".format(*server.get_host_and_port())
    os.environ.update(
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - moto accepts anything
        AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    os.environ.pop("AWS_PROFILE", None)
    return url


def start_hitkey(stack: Stack, hitkey: tuple[str, str, str, str] | None, port: int, redirect_uri: str) -> str:
    """``hitkey`` (:func:`real_hitkey`), or the emulator with this app's client registered, in the
    functions' environment; returns the client secret (for Secrets Manager: the functions read it there)."""
    if hitkey is None:
        from local.emulator import Emulator

        stack.emulator = Emulator()
        base = stack.serve(stack.emulator, port, "HITKEY_EMULATOR_PORT")
        client = stack.emulator.register_client(
            "hitkey-bff demo", redirect_uri, client_id=secrets.token_hex(16), client_secret=secrets.token_hex(32)
        )
        say(f"HitKey emulator on {base} (test users: Ada, Alan, Grace; redirect URI {redirect_uri})")
        hitkey = stack.emulator.authorize_url, base, client["client_id"], client["client_secret"]
    else:
        say(f"using the HitKey at {hitkey[1]} (register {redirect_uri} there)")
    os.environ.update(zip(REAL_HITKEY[:3], hitkey[:3], strict=True))
    os.environ.pop("HITKEY_CLIENT_SECRET", None)
    return hitkey[3]


def start_sample_api(stack: Stack, port: int) -> None:
    """The sample API beside the emulator, as the proxy's ``demo`` upstream unless API_UPSTREAMS is set."""
    if os.environ.get("API_UPSTREAMS", "").strip():
        say("API_UPSTREAMS from the environment: the API proxy calls your upstreams")
        return
    if stack.emulator is None:
        say("no sample API: it accepts only the emulator's tokens (set API_UPSTREAMS for your own API)")
        return
    from local.sample_api import SampleApi

    url = stack.serve(SampleApi(stack.emulator), port, "SAMPLE_API_PORT")
    os.environ["API_UPSTREAMS"] = json.dumps({"demo": url})
    say(f"sample API on {url} (the API proxy's upstream 'demo': /api/demo/...)")


def start(ports: dict[str, int]) -> Stack:
    """Start moto, HitKey (emulated unless configured), the sample API, the resources and the gateway."""
    import boto3

    from local.gateway import DEFAULT_SPA_DIR, Gateway
    from local.resources import create_resources
    from local.template import TEMPLATE

    port = ports["PORT"]
    origin = app_origin(port)
    spa = spa_dir()
    plain_http_cookies = wanted_http_cookies(origin)
    extras = extra_templates()
    hitkey = real_hitkey()
    for name, what in PORT_VARIABLES.items():
        ensure_free(ports[name], name, what)
    stack = Stack(app_url=f"{origin}/", bff_url=f"http://localhost:{port}")
    try:
        say(f"moto (DynamoDB, KMS, Secrets Manager) on {start_moto(stack, ports['MOTO_PORT'])}")
        redirect_uri = f"{origin}/auth/callback"
        client_secret = start_hitkey(stack, hitkey, ports["HITKEY_EMULATOR_PORT"], redirect_uri)
        start_sample_api(stack, ports["SAMPLE_API_PORT"])
        made = create_resources(boto3.Session(), client_secret)
        say(f"created {made.table}, {made.key_id} and the client secret from template.yaml")
        os.environ.update(
            HITKEY_CLIENT_SECRET_ARN=made.secret_id,
            REDIRECT_URI=redirect_uri,
            APP_ORIGIN=origin,
            SESSION_TABLE=made.table,
            KMS_KEY_ID=made.key_id,
            POWERTOOLS_SERVICE_NAME="hitkey-bff",
            POWERTOOLS_METRICS_DISABLED="true",
        )
        say(apply_cookie_mode(plain_http_cookies, origin))
        try:
            gateway = Gateway(
                TEMPLATE,
                spa_dir=spa or DEFAULT_SPA_DIR,
                spa_fallback=True,
                parameters={"AppOrigin": origin},
                canonical_origin=stack.bff_url,
                extra_templates=extras,
            )
        except ValueError as exc:
            raise UserError(f"cannot serve these templates' routes: {exc}") from None
        for extra in extras:
            say(f"serving the routes of {extra} (BffSession authorizer applied as in API Gateway)")
        stack.serve(gateway, port, "PORT")
        if spa:
            say(f"serving the SPA in {spa} (index.html for deep links)")
    except BaseException:
        stack.stop()
        raise
    return stack


def main() -> int:
    """Run until Ctrl-C or SIGTERM."""
    began = time.monotonic()
    warnings.filterwarnings("ignore", "No application metrics to publish")
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # here and in every thread: for sigwait()
    try:
        stack = start(read_ports())
    except UserError as exc:
        say(f"error: {exc}")
        return 1
    print(stack.ready_line(time.monotonic() - began), flush=True)
    signal.sigwait(STOP_SIGNALS)
    say("stopping")
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
