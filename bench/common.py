"""Shared pieces of the benchmarks: the handlers, a browser, moto + the HitKey emulator, call
counters, "one warm Lambda per function", in-memory AWS/HitKey answers and Markdown tables.

Nothing here changes the BFF: the handlers are ``functions/<name>/app.py`` loaded by file path,
exactly as Lambda (and ``local.gateway``) does, and AWS is reached through the BFF's own
``hitkey_bff.runtime`` clients.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    import boto3
    import httpx

    from local.emulator import Emulator
    from local.resources import LocalResources

ROOT = Path(__file__).resolve().parent.parent
LAYER_DIR = ROOT / "layers" / "bff"
FUNCTIONS_DIR = ROOT / "functions"
TEMPLATE = ROOT / "template.yaml"

ROUTES: dict[str, str] = {
    "login": "GET /auth/login",
    "callback": "GET /auth/callback",
    "session": "GET /auth/session",
    "userinfo": "GET /auth/userinfo",
    "refresh": "POST /auth/refresh",
    "logout": "POST /auth/logout",
}
"""Function folder -> its route (``tests/bench`` checks this against template.yaml)."""
FUNCTIONS = tuple(ROUTES)

APP_ORIGIN = "https://app.example.com"
REDIRECT_URI = f"{APP_ORIGIN}/auth/callback"
CLIENT_ID = "bench0client0id0000000000000000"
CLIENT_SECRET = "bench-client-secret-" + "7" * 32
REGION = "us-east-1"
SESSION_COOKIE = "__Host-Http-hitkey-session"
LOGIN_COOKIE = f"{SESSION_COOKIE}-login"
SECRET_MAX_AGE = 300  # hitkey_bff.runtime.SECRET_MAX_AGE

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


# -- numbers and tables ------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    """The median (0.0 for no values)."""
    return statistics.median(values) if values else 0.0


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()) -> str:
    """A Markdown table; columns in ``right`` are right-aligned."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        padded = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (w - 1) + ":" if i in right else "-" * w for i, w in enumerate(widths)]
    return "\n".join([line(cells[0]), "| " + " | ".join(rule) + " |", *(line(r) for r in cells[1:])])


def heading(text: str) -> None:
    """A Markdown heading on stdout."""
    print(f"\n### {text}\n", flush=True)


class Progress:
    """``label: done/total`` on stderr: a live line on a terminal, every 10 % otherwise."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, total
        self._tty = sys.stderr.isatty()
        self._start = self._last = time.monotonic()
        self._step = 0

    def update(self, done: int) -> None:
        """Report ``done`` units finished."""
        now = time.monotonic()
        if self._tty:
            if now - self._last >= 0.2 or done >= self.total:
                rate = done / max(now - self._start, 1e-9)
                sys.stderr.write(f"\r  {self.label}: {done}/{self.total} ({rate:,.0f}/s)   ")
                sys.stderr.flush()
                self._last = now
        elif done * 10 // max(self.total, 1) > self._step:
            self._step = done * 10 // max(self.total, 1)
            sys.stderr.write(f"  {self.label}: {done}/{self.total} ({now - self._start:.0f} s)\n")
            sys.stderr.flush()

    def close(self) -> None:
        """End the live line."""
        if self._tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


# -- environment ---------------------------------------------------------------------------------


@contextlib.contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (``None``: unset) environment variables for the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def aws_env(endpoint: str | None = None) -> dict[str, str | None]:
    """Fake credentials, one region, no profile or config file, optionally one endpoint for all
    services (``mock_aws`` only intercepts when no endpoint is set)."""
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("AWS_")}
    nowhere = str(ROOT / ".bench-no-aws-config")
    env.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - a fake credential for moto and the stubs
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=nowhere,
        AWS_SHARED_CREDENTIALS_FILE=nowhere,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_RETRY_MODE="standard",  # as template.yaml sets them
        AWS_MAX_ATTEMPTS="4",
    )
    if endpoint is not None:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


def bff_env(*, api_url: str, authorize_url: str, table: str, key_id: str, secret_id: str) -> dict[str, str | None]:
    """The functions' environment, as template.yaml sets it."""
    return {
        "HITKEY_AUTHORIZE_URL": authorize_url,
        "HITKEY_API_URL": api_url,
        "HITKEY_CLIENT_ID": CLIENT_ID,
        "HITKEY_CLIENT_SECRET_ARN": secret_id,
        "REDIRECT_URI": REDIRECT_URI,
        "APP_ORIGIN": APP_ORIGIN,
        "SESSION_TABLE": table,
        "KMS_KEY_ID": key_id,
        "SCOPES": None,
        "SESSION_TTL_SECONDS": None,
        "COOKIE_NAME": None,
        "END_ALL_SESSIONS_ON_REUSE": None,
        "POWERTOOLS_SERVICE_NAME": "hitkey-bff",
        "POWERTOOLS_METRICS_NAMESPACE": "HitKeyBff",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Keep Powertools' EMF lines (stdout) and INFO logs off the terminal during long runs."""
    from hitkey_bff.observability import logger

    level = logger.log_level
    logger.setLevel("WARNING")
    try:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


# -- handlers and a browser ------------------------------------------------------------------------


def load_handler(function: str) -> Handler:
    """``functions/<function>/app.py``'s ``handler``, imported once by file path."""
    name = f"_bench_fn_{function}"
    module: ModuleType | None = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, FUNCTIONS_DIR / function / "app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    handler: Handler = module.handler
    return handler


def make_event(
    function: str, query: str = "", cookies: Mapping[str, str] | None = None, csrf: bool = True
) -> dict[str, Any]:
    """The API Gateway 2.0 event of ``function``'s route, built as ``local.gateway`` builds it."""
    from local.gateway import build_event

    route = ROUTES[function]
    method, path = route.split(" ", 1)
    headers = {"x-csrf": "1", "origin": APP_ORIGIN} if csrf else {}
    jar = [f"{k}={v}" for k, v in (cookies or {}).items()]
    return build_event(method, path, query, headers=headers, cookies=jar, route_key=route)


def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
    """Call ``function``'s handler with a fresh Lambda context."""
    from local.gateway import make_context

    return load_handler(function)(event, make_context(function))


Invoker = Callable[[str, dict[str, Any]], dict[str, Any]]


@dataclass
class Browser:
    """A cookie jar that calls the handlers the way the SPA and API Gateway would."""

    invoker: Invoker = invoke
    jar: dict[str, str] = field(default_factory=dict)

    def call(self, function: str, query: str = "", csrf: bool = True) -> dict[str, Any]:
        """Invoke ``function``'s route with this browser's cookies; keep what it sets."""
        response = self.invoker(function, make_event(function, query, self.jar, csrf))
        for header in response.get("cookies", []):
            name, _, value = header.split(";", 1)[0].partition("=")
            if "max-age=0" in header.lower():
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return response

    def login(self) -> dict[str, Any]:
        """``GET /auth/login?return_to=/`` (a top-level navigation: no CSRF header)."""
        return self.call("login", "return_to=%2F", csrf=False)

    def callback(self, query: str) -> dict[str, Any]:
        """``GET /auth/callback?...`` as HitKey's redirect lands."""
        return self.call("callback", query, csrf=False)

    @property
    def session_cookie(self) -> str | None:
        """The session cookie's value, if signed in."""
        return self.jar.get(SESSION_COOKIE)


def approve_at_hitkey(http: httpx.Client, authorize_url: str, sub: str | None = None) -> str:
    """The user's part at HitKey's sign-in page (not the BFF's calls): returns the callback query."""
    page = http.get(authorize_url)
    if page.status_code != 200:
        raise RuntimeError(f"HitKey's sign-in page answered {page.status_code}")
    form = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    form["decision"] = "allow"
    if sub:
        form["sub"] = sub
    base = "{0.scheme}://{0.netloc}/".format(urlsplit(authorize_url))
    answer = http.post(base, data=form)
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"HitKey's sign-in form answered {answer.status_code}")
    return urlsplit(answer.headers["location"]).query


def expect(response: dict[str, Any], status: int, what: str) -> dict[str, Any]:
    """Fail loudly when a step did not take the path being measured."""
    if response.get("statusCode") != status:
        raise RuntimeError(f"{what}: expected {status}, got {response.get('statusCode')}: {response.get('body')}")
    return response


# -- moto + the HitKey emulator ------------------------------------------------------------------


@dataclass
class Stack:
    """moto (in-process) with the template's resources, and the HitKey emulator on loopback."""

    emulator: Emulator
    resources: LocalResources
    session: boto3.Session
    dynamodb: Any  # the bench's own client (never counted: made before any counter)
    http: httpx.Client  # the user's browser at HitKey's sign-in page

    def sign_in(self, browser: Browser, sub: str | None = None) -> None:
        """Login, HitKey's page, callback - unmeasured set-up."""
        authorize = expect(browser.login(), 302, "login")["headers"]["location"]
        expect(browser.callback(approve_at_hitkey(self.http, authorize, sub)), 302, "callback")

    def expire_access_token(self, browser: Browser) -> None:
        """Make the stored access token of ``browser``'s session look expired (``at_exp = 1``)."""
        from hitkey_bff.cookies import SessionKey

        key = SessionKey.decode(browser.session_cookie)
        assert key is not None, "not signed in"
        self.dynamodb.update_item(
            TableName=self.resources.table,
            Key={"pk": {"S": f"USER#{key.sub}"}, "sk": {"S": f"SESSION#{key.session_hash}"}},
            UpdateExpression="SET at_exp = :z",
            ExpressionAttributeValues={":z": {"N": "1"}},
        )

    def items(self) -> list[dict[str, Any]]:
        """Every item of the session table."""
        out: list[dict[str, Any]] = self.dynamodb.scan(TableName=self.resources.table)["Items"]
        return out


@contextlib.contextmanager
def local_stack(clock: Callable[[], float] = time.monotonic) -> Iterator[Stack]:
    """moto's ``mock_aws`` with table, key and secret from template.yaml, the HitKey emulator
    (on ``clock``), and the BFF's environment pointing at both; everything restored afterwards."""
    import boto3
    import httpx
    from moto import mock_aws

    from hitkey_bff import runtime
    from local.emulator import Emulator
    from local.resources import create_resources

    with environment(aws_env()), mock_aws():
        session = boto3.Session(region_name=REGION)
        resources = create_resources(session, CLIENT_SECRET, prefix="hitkey-bff-bench")
        emulator = Emulator(clock=clock)
        base_url = emulator.start("127.0.0.1", 0)
        emulator.register_client(
            name="hitkey-bff bench", redirect_uri=REDIRECT_URI, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
        env = bff_env(
            api_url=base_url,
            authorize_url=emulator.authorize_url,
            table=resources.table,
            key_id=resources.key_id,
            secret_id=resources.secret_id,
        )
        try:
            with environment(env), httpx.Client() as http:
                runtime.reset()
                yield Stack(emulator, resources, session, session.client("dynamodb"), http)
        finally:
            runtime.reset()
            emulator.stop()


# -- counting AWS calls --------------------------------------------------------------------------


@contextlib.contextmanager
def on_new_clients(callback: Callable[[Any], None]) -> Iterator[None]:
    """Call ``callback(client)`` for every botocore client created in the block, whichever
    boto3/botocore session creates it (the BFF's ``runtime`` clients come from boto3's default
    session; Powertools' Secrets Manager client from a ``boto3.session.Session()`` of its own)."""
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        callback(client)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]


class AwsCalls:
    """Counts every AWS API call as ``service.Operation`` (``dynamodb.GetItem``,
    ``secretsmanager.GetSecretValue``) with a ``before-call`` hook on each client's own event
    system. The service comes from the operation model, not the event name (whose service part
    is ``secrets-manager`` for Secrets Manager, so ``before-call.secretsmanager.*`` never fires)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._stack = contextlib.ExitStack()

    def _count(self, model: Any = None, **_: Any) -> None:
        self.counts[f"{model.service_model.service_name}.{model.name}"] += 1

    def hook(self, client: Any) -> None:
        """Count ``client``'s calls (for clients made before :meth:`__enter__`)."""
        client.meta.events.register("before-call", self._count, unique_id="hitkey-bff-bench-aws-calls")

    def snapshot(self) -> Counter[str]:
        """A copy of the counts so far."""
        return Counter(self.counts)

    def __enter__(self) -> AwsCalls:
        self._stack.enter_context(on_new_clients(self.hook))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


# -- one warm Lambda per function ----------------------------------------------------------------


class VirtualClock:
    """Simulated wall time for long traffic patterns replayed in seconds (epoch seconds)."""

    def __init__(self, start: float | None = None) -> None:
        self.t = time.time() if start is None else start

    def time(self) -> float:
        """Now, simulated."""
        return self.t

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.t += seconds

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        """The BFF's notion of now (``hitkey_bff.sessions.now``: token and lease expiry) follows this clock."""
        from hitkey_bff import sessions

        original = sessions.now
        sessions.now = lambda: int(self.t)
        try:
            yield
        finally:
            sessions.now = original


@dataclass
class _Lambda:
    cached: dict[str, Any] = field(default_factory=dict)  # runtime's @cache collaborators, this Lambda's
    providers: dict[str, Any] = field(default_factory=dict)  # Powertools' DEFAULT_PROVIDERS, this Lambda's
    secret_born: float | None = None


@dataclass
class _Request:
    sealed: bool = False
    blobs: set[bytes] = field(default_factory=set)


def _runtime_caches() -> dict[str, Any]:
    """``hitkey_bff.runtime``'s process-wide collaborators: its ``functools.cache`` functions."""
    from hitkey_bff import runtime

    return {
        name: value
        for name, value in vars(runtime).items()
        if callable(value) and hasattr(value, "cache_clear") and hasattr(value, "__wrapped__")
    }


class Fleet:
    """Runs each function as its own warm Lambda would, in this one process.

    Lambda gives every function its own processes, so each has its own KMS data-key cache, its
    own client-secret cache and its own clients. The fleet gives every function its own copy of
    each collaborator ``hitkey_bff.runtime`` caches (every ``@cache`` function there:
    ``keyring()``, the secret provider, clients...) and of Powertools' default parameter
    providers, swapped in for each invocation. ``cold(f)`` gives ``f`` a fresh Lambda.

    ``key_uses`` counts what a design without a data-key cache would send to KMS: one
    ``GenerateDataKey`` per request that seals and one ``Decrypt`` per distinct stored blob a
    request opens (a blob it sealed itself it already holds in the clear).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lambdas: dict[str, _Lambda] = {}
        self._request: _Request | None = None
        self.key_uses: Counter[str] = Counter()

    def cold(self, function: str) -> None:
        """The next invocation of ``function`` lands on a fresh Lambda."""
        self._lambdas.pop(function, None)

    def _counting(self, ring: Any) -> Any:
        """``ring`` (the layer's own ``KeyRing``) on this fleet's clock, counting its uses."""
        fleet, base = self, type(ring)

        class CountingKeyRing(base):  # type: ignore[valid-type,misc]
            def for_sealing(self) -> Any:
                key = super().for_sealing()
                request = fleet._request
                if request is not None:
                    if not request.sealed:
                        fleet.key_uses["seal"] += 1
                        request.sealed = True
                    request.blobs.add(key.blob)
                return key

            def for_opening(self, blob: bytes) -> bytes:
                request = fleet._request
                if request is not None and blob not in request.blobs:
                    fleet.key_uses["open"] += 1
                    request.blobs.add(blob)
                return bytes(super().for_opening(blob))

        if hasattr(ring, "_clock"):
            ring._clock = self._clock
        ring.__class__ = CountingKeyRing
        return ring

    def _per_lambda(self, state: _Lambda, name: str, original: Any) -> Callable[[], Any]:
        def collaborator() -> Any:
            if name not in state.cached:
                value = original.__wrapped__()
                state.cached[name] = self._counting(value) if name == "keyring" else value
            return state.cached[name]

        collaborator.cache_clear = lambda: state.cached.pop(name, None)  # type: ignore[attr-defined]
        return collaborator

    def _expire_secrets(self, state: _Lambda) -> None:
        """Powertools' secret cache (max_age) on this fleet's clock, which may be simulated."""
        providers = [p for p in (*state.cached.values(), *state.providers.values()) if hasattr(p, "clear_cache")]
        if state.secret_born is not None and self._clock() - state.secret_born >= SECRET_MAX_AGE:
            for provider in providers:
                provider.clear_cache()
            state.secret_born = None

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke ``function``'s handler on its own warm Lambda."""
        from aws_lambda_powertools.utilities.parameters import base

        from hitkey_bff import runtime

        state = self._lambdas.setdefault(function, _Lambda())
        self._expire_secrets(state)
        default_providers: dict[str, Any] = getattr(base, "DEFAULT_PROVIDERS")  # noqa: B009 - not re-exported
        originals = _runtime_caches()
        outside_providers = dict(default_providers)
        for name, original in originals.items():
            setattr(runtime, name, self._per_lambda(state, name, original))
        default_providers.clear()
        default_providers.update(state.providers)
        self._request = _Request()
        try:
            return invoke(function, event)
        finally:
            self._request = None
            state.providers = dict(default_providers)
            default_providers.clear()
            default_providers.update(outside_providers)
            for name, original in originals.items():
                setattr(runtime, name, original)
            holders = [p for p in (*state.cached.values(), *state.providers.values()) if hasattr(p, "clear_cache")]
            if state.secret_born is None and any(getattr(p, "store", None) for p in holders):
                state.secret_born = self._clock()


# -- in-memory AWS and HitKey (warm and cold-start benches) ---------------------------------------

DATA_KEY = bytes(range(32))
DATA_KEY_BLOB = b"\x01\x02\x02\x00" + bytes(range(180))  # a real KMS blob for a 256-bit key is ~184 bytes
KEY_ARN = f"arn:aws:kms:{REGION}:123456789012:key/00000000-0000-4000-8000-000000000000"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:hitkey-bff/client-secret-AbCdEf"
TABLE = "hitkey-bff-bench-sessions"
USER = {
    "sub": "4f1c7a52-2d0e-4c1e-9a7b-3f5f2b8c9d10",
    "email": "ada@example.com",
    "email_verified": True,
    "name": "Ada Lovelace",
    "given_name": "Ada",
    "family_name": "Lovelace",
}
TOKENS = {
    "access_token": "hkat_" + "a" * 43,
    "refresh_token": "hkrt_" + "r" * 43,
    "token_type": "Bearer",
    "expires_in": 3600,
    "scope": "openid profile email",
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class FakeAws:
    """Answers the BFF's DynamoDB, KMS and Secrets Manager calls at the HTTP layer: botocore still
    serializes, signs and parses every request, only the network is gone.

    The table replays what was put: deletes and updates leave items as they are (so one seeded
    session and one login state serve any number of runs), ``ALL_OLD``/``ALL_NEW`` return the
    stored item. KMS has one data key; Secrets Manager one secret.
    """

    def __init__(self) -> None:
        self.table: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()

    def answer(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON answer to ``X-Amz-Target: target`` with request ``body``."""
        service, _, operation = target.partition(".")
        self.calls[operation] += 1
        if service.startswith("DynamoDB"):
            return self._dynamodb(operation, body)
        if service == "TrentService":
            if operation == "GenerateDataKey":
                return {"CiphertextBlob": _b64(DATA_KEY_BLOB), "Plaintext": _b64(DATA_KEY), "KeyId": KEY_ARN}
            if operation == "Decrypt":
                return {"Plaintext": _b64(DATA_KEY), "KeyId": KEY_ARN, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}
        if service == "secretsmanager" and operation == "GetSecretValue":
            return {
                "ARN": SECRET_ARN,
                "Name": "hitkey-bff/client-secret",
                "VersionId": "00000000-0000-4000-8000-000000000001",
                "SecretString": json.dumps({"client_secret": CLIENT_SECRET}),
                "VersionStages": ["AWSCURRENT"],
                "CreatedDate": 1_700_000_000,
            }
        raise NotImplementedError(f"FakeAws does not answer {target}")

    def _dynamodb(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        item = body.get("Item") or body.get("Key") or {}
        key = (item["pk"]["S"], item["sk"]["S"])
        stored = self.table.get(key)
        if operation == "PutItem":
            self.table[key] = body["Item"]
            return {}
        if operation == "GetItem":
            return {"Item": stored} if stored else {}
        if operation == "DeleteItem":
            return {"Attributes": stored} if stored and body.get("ReturnValues") == "ALL_OLD" else {}
        if operation == "UpdateItem":
            return {"Attributes": stored} if stored and body.get("ReturnValues") == "ALL_NEW" else {}
        raise NotImplementedError(f"FakeAws does not answer DynamoDB {operation}")

    def install(self, client: Any) -> None:
        """Answer ``client``'s requests from memory (a ``before-send`` hook, as moto does)."""
        client.meta.events.register("before-send", self._before_send, unique_id="hitkey-bff-bench-fake-aws")

    def _before_send(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse, HTTPHeaders

        target = request.headers.get("X-Amz-Target")
        target = target.decode() if isinstance(target, bytes) else str(target)
        raw = request.body or b"{}"
        body = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        data = json.dumps(self.answer(target, body)).encode()
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.1"
        return AWSResponse(request.url, 200, headers, _RawBody(data))


class _RawBody:
    """What ``AWSResponse.content`` reads a body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def hitkey_answer(method: str, path: str) -> tuple[int, dict[str, Any]]:
    """HitKey's answer to the BFF: the token endpoint and userinfo, always successful."""
    if method == "POST" and path.endswith("/oauth/token"):
        return 200, TOKENS
    if method == "GET" and path.endswith("/oauth/userinfo"):
        return 200, USER
    return 404, {"error": "not_found"}


def hitkey_transport() -> httpx.MockTransport:
    """An httpx transport that answers as :func:`hitkey_answer` (no socket)."""
    import httpx

    def handle(request: httpx.Request) -> httpx.Response:
        status, body = hitkey_answer(request.method, request.url.path)
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handle)


def stub_env(api_url: str = "https://api.hitkey.example") -> dict[str, str | None]:
    """The BFF's environment for :class:`FakeAws` and the HitKey answers."""
    return bff_env(
        api_url=api_url, authorize_url="https://hitkey.example/", table=TABLE, key_id=KEY_ARN, secret_id=SECRET_ARN
    )


@dataclass(frozen=True)
class Seeded:
    """What :func:`seed` put into a :class:`FakeAws`: a signed-in browser and a pending login."""

    session_cookie: str
    login_state: str
    login_binding: str

    def event(self, function: str) -> dict[str, Any]:
        """The first (and every) event each function is benchmarked with."""
        if function == "login":
            return make_event(function, "return_to=%2Fdashboard", csrf=False)
        if function == "callback":
            query = f"code=bench-code&state={self.login_state}"
            return make_event(function, query, {LOGIN_COOKIE: self.login_binding}, csrf=False)
        return make_event(function, "", {SESSION_COOKIE: self.session_cookie})


def seed(fake: FakeAws) -> Seeded:
    """A session and a login state written by the BFF's own code into ``fake`` (the BFF's
    runtime must be configured with :func:`stub_env` and its clients answered by ``fake``)."""
    from hitkey_bff import runtime, sessions
    from hitkey_bff.cookies import SessionKey, digest
    from hitkey_bff.hitkey import TokenSet
    from hitkey_bff.store import LoginState

    key = SessionKey.new(str(USER["sub"]))
    tokens = TokenSet(str(TOKENS["access_token"]), str(TOKENS["refresh_token"]), 3600, str(TOKENS["scope"]))
    sessions.create(key, tokens, dict(USER))
    state, binding = "bench-state-" + "s" * 32, "bench-binding-" + "b" * 30
    login = LoginState(verifier="v" * 64, return_to="/dashboard")
    runtime.store().put_login_state(digest(state), digest(binding), login, sessions.now() + 3600)
    return Seeded(key.encode(), state, binding)


@contextlib.contextmanager
def stubbed_runtime(fake: FakeAws, api_url: str = "https://api.hitkey.example") -> Iterator[None]:
    """The BFF's runtime against ``fake`` and an in-memory HitKey (httpx ``MockTransport``)."""
    import httpx

    from hitkey_bff import hitkey, runtime

    def http_client() -> httpx.Client:
        return httpx.Client(timeout=hitkey.TIMEOUT, follow_redirects=False, transport=hitkey_transport())

    # hitkey.new_http_client for a runtime that imports it lazily, runtime.new_http_client for one
    # that imported the name at module level
    patched = [m for m in (hitkey, runtime) if hasattr(m, "new_http_client")]
    originals = [m.new_http_client for m in patched]
    with environment(aws_env()), environment(stub_env(api_url)), on_new_clients(fake.install):
        runtime.reset()
        for module in patched:
            module.new_http_client = http_client  # type: ignore[attr-defined]
        try:
            yield
        finally:
            for module, original in zip(patched, originals, strict=True):
                module.new_http_client = original  # type: ignore[attr-defined]
            runtime.reset()
