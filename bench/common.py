"""Shared pieces of the benchmarks: the BFF's dependencies built for a bench (moto + the HitKey
emulator, or in-memory answers), a browser, call counters, "one warm Lambda per function" and
Markdown tables.

Nothing here changes the BFF: the handlers are ``functions/<name>/app.py`` loaded by file path
(:mod:`testkit.functions`), exactly as Lambda does, and each is invoked on a ``Deps`` built here - the
same object a Lambda builds from its environment, with a bench's clock, AWS and HitKey.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from unittest import mock

from testkit import browser
from testkit.aws import Body
from testkit.browser import Browser
from testkit.clock import ManualClock
from testkit.functions import FUNCTIONS_DIR, LAYER_DIR, ROOT, TEMPLATE, function_of, load_handler, route_of, routes

if TYPE_CHECKING:
    import boto3
    import httpx

    from hitkey_bff.clock import Clock
    from hitkey_bff.config import Settings
    from hitkey_bff.deps import Deps
    from hitkey_bff.vault import DataKey, KeyRing
    from local.emulator import Emulator
    from local.resources import LocalResources

__all__ = [
    "FUNCTIONS_DIR",
    "LAYER_DIR",
    "ROOT",
    "TEMPLATE",
    "Browser",
    "ManualClock",
    "function_of",
    "load_handler",
    "routes",
]

FUNCTIONS = tuple(dict.fromkeys(r.function for r in routes().values()))
"""The function folders, from template.yaml's routes."""
ROUTE_NAMES = tuple(dict.fromkeys(r.name for r in routes().values()))
"""The routes' names (``hitkey_bff.routes.<name>``), in the template's order."""

APP_ORIGIN = "https://app.example.com"
REDIRECT_URI = f"{APP_ORIGIN}/auth/callback"
CLIENT_ID = "bench0client0id0000000000000000"
CLIENT_SECRET = "bench-client-secret-" + "7" * 32
REGION = "us-east-1"

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


def interleaved(
    label: str, variants: Mapping[str, Callable[[], Any]], calls: int, rounds: int = 15, warmup: int = 50
) -> tuple[dict[str, float], dict[str, float], int]:
    """Per-call medians (seconds) of CPU (``thread_time``: the calling thread only) and wall time
    per variant, and the timed calls each: ``warmup`` untimed calls each (caches filled), then
    ``calls`` timed ones, interleaved in ``rounds`` so drift affects every variant alike."""
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    wall: dict[str, list[float]] = {name: [] for name in variants}
    per_round = max(1, calls // rounds)
    for call in variants.values():
        for _ in range(warmup):
            call()
    bar = Progress(label, rounds * len(variants))
    thread_ns, perf_ns = time.thread_time_ns, time.perf_counter_ns
    for r in range(rounds):
        for i, (name, call) in enumerate(variants.items()):
            c_samples, w_samples = cpu[name], wall[name]
            for _ in range(per_round):
                c0, w0 = thread_ns(), perf_ns()
                call()
                w1, c1 = perf_ns(), thread_ns()
                c_samples.append((c1 - c0) / 1e9)
                w_samples.append((w1 - w0) / 1e9)
            bar.update(r * len(variants) + i + 1)
    bar.close()
    return {k: median(v) for k, v in cpu.items()}, {k: median(v) for k, v in wall.items()}, per_round * rounds


# -- environment ---------------------------------------------------------------------------------


@contextlib.contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (``None``: unset) environment variables for the block; the whole environment is restored."""
    with mock.patch.dict(os.environ):
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield


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
        AWS_RETRY_MODE="standard",  # as template.yaml sets it
    )
    if endpoint is not None:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


def settings(*, api_url: str, authorize_url: str, table: str, key_id: str, secret_id: str) -> Settings:
    """The BFF's settings for a bench (the rest: ``Settings``' defaults, as the template's)."""
    from hitkey_bff.config import Settings

    return Settings(
        client_id=CLIENT_ID,
        client_secret_id=secret_id,
        redirect_uri=REDIRECT_URI,
        app_origin=APP_ORIGIN,
        session_table=table,
        kms_key_id=key_id,
        authorize_url=authorize_url,
        api_url=api_url,
    )


def bff_env(s: Settings) -> dict[str, str | None]:
    """The functions' environment for ``s``, as template.yaml sets it (for a child process)."""
    return {
        "HITKEY_AUTHORIZE_URL": s.authorize_url,
        "HITKEY_API_URL": s.api_url,
        "HITKEY_CLIENT_ID": s.client_id,
        "HITKEY_CLIENT_SECRET_ARN": s.client_secret_id,
        "REDIRECT_URI": s.redirect_uri,
        "APP_ORIGIN": s.app_origin,
        "SESSION_TABLE": s.session_table,
        "KMS_KEY_ID": s.kms_key_id,
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


# -- events and a browser ------------------------------------------------------------------------


def make_event(
    function: str, query: str = "", cookies: Mapping[str, str] | None = None, csrf: bool = True
) -> dict[str, Any]:
    """The API Gateway 2.0 event of ``function``'s route, built as ``local.gateway`` builds it."""
    from local.apigw.event import build_event

    route = route_of(function)
    headers = {"x-csrf": "1", "origin": APP_ORIGIN} if csrf else {}
    jar = [f"{k}={v}" for k, v in (cookies or {}).items()]
    return build_event(route.method, route.path, query, headers=headers, cookies=jar, route_key=route.key)


def approve_at_hitkey(http: httpx.Client, authorize_url: str, sub: str | None = None, email: str = "") -> str:
    """The user's part at HitKey's sign-in page (:func:`testkit.browser.approve_at_hitkey` on ``http``);
    ``email`` signs in a user of that address (the emulator makes one up), else ``sub``."""
    return browser.approve_at_hitkey(authorize_url, sub, http=http, email=email)


def expect(response: dict[str, Any], status: int, what: str) -> dict[str, Any]:
    """Fail loudly when a step did not take the path being measured."""
    if response.get("statusCode") != status:
        raise RuntimeError(f"{what}: expected {status}, got {response.get('statusCode')}: {response.get('body')}")
    return response


# -- moto + the HitKey emulator ------------------------------------------------------------------


@dataclass
class Stack:
    """moto (in-process) with the template's resources, the HitKey emulator on loopback, and the
    BFF's settings for both."""

    emulator: Emulator
    resources: LocalResources
    session: boto3.Session
    settings: Settings
    dynamodb: Any  # the bench's own client (never counted: not made by a Fleet)
    http: httpx.Client  # the user's browser at HitKey's sign-in page

    def sign_in(self, browser: Browser, sub: str | None = None, email: str = "") -> None:
        """Login, HitKey's page, callback - unmeasured set-up."""
        authorize = expect(browser.login(), 302, "login")["headers"]["location"]
        expect(browser.callback(approve_at_hitkey(self.http, authorize, sub, email)), 302, "callback")

    def expire_access_token(self, browser: Browser) -> None:
        """Make the stored access token of ``browser``'s session look expired (``at_exp = 1``)."""
        from hitkey_bff.cookies import SessionKey

        key = SessionKey.decode(browser.jar.get(self.settings.cookie_name))
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
    """moto's ``mock_aws`` with table, key and secret from template.yaml and the HitKey emulator
    (on ``clock``); the process environment restored afterwards."""
    import boto3
    import httpx
    from moto import mock_aws

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
        s = settings(
            api_url=base_url,
            authorize_url=emulator.authorize_url,
            table=resources.table,
            key_id=resources.key_id,
            secret_id=resources.secret_id,
        )
        try:
            with httpx.Client() as http:
                yield Stack(emulator, resources, session, s, session.client("dynamodb"), http)
        finally:
            emulator.stop()


# -- counting AWS calls --------------------------------------------------------------------------


class AwsCalls:
    """Counts every AWS API call as ``service.Operation`` (``dynamodb.GetItem``,
    ``secretsmanager.GetSecretValue``) with a ``before-call`` hook on the botocore sessions the
    BFF's clients come from. The service comes from the operation model, not the event name
    (whose service part is ``secrets-manager`` for Secrets Manager)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def _count(self, model: Any = None, **_: Any) -> None:
        self.counts[f"{model.service_model.service_name}.{model.name}"] += 1

    def hook(self, session: Any) -> None:
        """Count the calls of every client ``session`` (botocore's) creates from now on."""
        session.register("before-call", self._count, unique_id="hitkey-bff-bench-aws-calls")

    def snapshot(self) -> Counter[str]:
        """A copy of the counts so far."""
        return Counter(self.counts)


# -- one warm Lambda per function ----------------------------------------------------------------


def botocore_session(*hooks: Callable[[Any], None]) -> Any:
    """A new botocore session (what one Lambda process has), with ``hooks(session)`` applied."""
    import botocore.session

    session = botocore.session.get_session()
    for hook in hooks:
        hook(session)
    return session


@dataclass
class _Request:
    sealed: bool = False
    blobs: set[bytes] = field(default_factory=set)


def counting_keyring(fleet: Fleet, deps_settings: Settings, kms: Callable[[], Any], clock: Clock) -> KeyRing:
    """The layer's own ``KeyRing``, counting what a design without a data-key cache would send to KMS."""
    from hitkey_bff.vault import KeyRing

    class CountingKeyRing(KeyRing):
        def for_sealing(self) -> DataKey:
            key = super().for_sealing()
            request = fleet.request
            if request is not None:
                if not request.sealed:
                    fleet.key_uses["seal"] += 1
                    request.sealed = True
                request.blobs.add(key.blob)
            return key

        def for_opening(self, blob: bytes) -> bytes:
            request = fleet.request
            if request is not None and blob not in request.blobs:
                fleet.key_uses["open"] += 1
                request.blobs.add(blob)
            return super().for_opening(blob)

    return CountingKeyRing(kms, deps_settings.kms_key_id, clock=clock.monotonic)


class Fleet:
    """Runs each function as its own warm Lambda would, in this one process.

    Lambda gives every function its own processes, so each has its own KMS data-key cache, its
    own client-secret cache and its own clients: here, its own ``Deps`` (on the fleet's clock,
    which may be simulated), built at its first invocation. ``cold(f)`` gives ``f`` a fresh one.

    ``key_uses`` counts what a design without a data-key cache would send to KMS: one
    ``GenerateDataKey`` per request that seals and one ``Decrypt`` per distinct stored blob a
    request opens (a blob it sealed itself it already holds in the clear).
    """

    def __init__(
        self, settings: Settings, clock: Clock | None = None, hooks: Sequence[Callable[[Any], None]] = ()
    ) -> None:
        from hitkey_bff.clock import SystemClock

        self.settings, self.clock, self._hooks = settings, clock or SystemClock(), tuple(hooks)
        self._lambdas: dict[str, Handler] = {}
        self.request: _Request | None = None
        self.key_uses: Counter[str] = Counter()

    def cold(self, function: str) -> None:
        """The next invocation of ``function`` (a function's or a route's name) lands on a fresh Lambda."""
        self._lambdas.pop(function_of(function), None)

    def deps(self) -> Deps:
        """A new Lambda's dependencies: its own botocore session, clients and caches."""
        from hitkey_bff.aws import AwsClients
        from hitkey_bff.deps import Deps

        aws = AwsClients(botocore_session(*self._hooks))
        keyring = counting_keyring(self, self.settings, aws.kms, self.clock)
        return Deps(self.settings, clock=self.clock, aws=aws, keyring=keyring)

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke the function serving ``function`` (a function's or a route's name, or a route key)
        on its own warm Lambda; the event's ``routeKey`` picks the route, as in Lambda."""
        from local.lambda_runtime import LambdaContext

        function = function_of(function)
        if function not in self._lambdas:
            self._lambdas[function] = load_handler(function).using(self.deps())
        self.request = _Request()
        try:
            return self._lambdas[function](event, LambdaContext(function))
        finally:
            self.request = None


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

    The table replays what was put. Items put before :meth:`pin` (the seeded session and login
    state) stay as they are through deletes and updates, so they serve any number of runs; items
    put after it are deleted (a benchmarked callback's new sessions must not pile up under one
    user, or each sign-in's session cap would read more of them than a real user has).
    ``ALL_OLD``/``ALL_NEW`` return the stored item. KMS has one data key; Secrets Manager one secret.
    """

    def __init__(self) -> None:
        self.table: dict[tuple[str, str], dict[str, Any]] = {}
        self.pinned: set[tuple[str, str]] = set()
        self.calls: Counter[str] = Counter()

    def pin(self) -> None:
        """Keep every item stored now through deletes."""
        self.pinned = set(self.table)

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
        if operation == "Query":  # a user's sessions (the cap, /auth/sessions): the partition's items
            pk = body["ExpressionAttributeValues"][":pk"]["S"]
            found = [v for (p, _), v in self.table.items() if p == pk]
            return {"Items": found, "Count": len(found), "ScannedCount": len(found)}
        item = body.get("Item") or body.get("Key") or {}
        key = (item["pk"]["S"], item["sk"]["S"])
        stored = self.table.get(key)
        if operation == "PutItem":
            self.table[key] = body["Item"]
            return {}
        if operation == "GetItem":
            return {"Item": stored} if stored else {}
        if operation == "DeleteItem":
            if key not in self.pinned:
                self.table.pop(key, None)
            return {"Attributes": stored} if stored and body.get("ReturnValues") == "ALL_OLD" else {}
        if operation == "UpdateItem":
            return {"Attributes": stored} if stored and body.get("ReturnValues") == "ALL_NEW" else {}
        raise NotImplementedError(f"FakeAws does not answer DynamoDB {operation}")

    def install(self, session: Any) -> None:
        """Answer the requests of every client ``session`` (botocore's) creates from memory
        (a ``before-send`` hook, as moto does)."""
        session.register("before-send", self._before_send, unique_id="hitkey-bff-bench-fake-aws")

    def _before_send(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse, HTTPHeaders

        target = request.headers.get("X-Amz-Target")
        target = target.decode() if isinstance(target, bytes) else str(target)
        raw = request.body or b"{}"
        body = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        data = json.dumps(self.answer(target, body)).encode()
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.1"
        return AWSResponse(request.url, 200, headers, Body(data))


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


def stub_settings(api_url: str = "https://api.hitkey.example") -> Settings:
    """The BFF's settings for :class:`FakeAws` and the HitKey answers."""
    return settings(
        api_url=api_url, authorize_url="https://hitkey.example/", table=TABLE, key_id=KEY_ARN, secret_id=SECRET_ARN
    )


def stub_deps(fake: FakeAws, api_url: str = "https://api.hitkey.example") -> Deps:
    """The BFF's dependencies against ``fake`` and an in-memory HitKey (httpx ``MockTransport``)."""
    from hitkey_bff.aws import AwsClients
    from hitkey_bff.deps import Deps
    from hitkey_bff.hitkey import HitKeyClient, new_http_client

    s = stub_settings(api_url)
    hitkey = HitKeyClient(new_http_client(transport=hitkey_transport()), s.api_url, s.client_id)
    return Deps(s, aws=AwsClients(botocore_session(fake.install)), hitkey=hitkey)


@dataclass(frozen=True)
class Seeded:
    """What :func:`seed` put into a :class:`FakeAws`: a signed-in browser and a pending login."""

    session_cookie: str
    login_state: str
    login_binding: str
    cookie_name: str

    def event(self, function: str) -> dict[str, Any]:
        """The first (and every) event each function is benchmarked with."""
        if function == "login":
            return make_event(function, "return_to=%2Fdashboard", csrf=False)
        if function == "callback":
            query = f"code=bench-code&state={self.login_state}"
            return make_event(function, query, {f"{self.cookie_name}-login": self.login_binding}, csrf=False)
        if function == "api":  # GET /api/bench/userinfo: the stub's HitKey userinfo as the upstream
            from local.apigw.event import build_event

            route = route_of(function)
            headers = {"x-csrf": "1", "origin": APP_ORIGIN}
            cookies = [f"{self.cookie_name}={self.session_cookie}"]
            return build_event("GET", "/api/bench/userinfo", headers=headers, cookies=cookies, route_key=route.key)
        return make_event(function, "", {self.cookie_name: self.session_cookie})


def seed(deps: Deps, fake: FakeAws | None = None) -> Seeded:
    """A session and a login state written by the BFF's own code through ``deps`` (and pinned in
    ``fake``, the FakeAws behind ``deps``, so they outlive the run)."""
    from hitkey_bff import sessions
    from hitkey_bff.cookies import SessionKey, digest
    from hitkey_bff.hitkey import TokenSet
    from hitkey_bff.store import LoginState

    key = SessionKey.new(str(USER["sub"]))
    tokens = TokenSet(str(TOKENS["access_token"]), str(TOKENS["refresh_token"]), 3600, str(TOKENS["scope"]))
    sessions.create(deps, key, tokens, dict(USER))
    state, binding = "bench-state-" + "s" * 32, "bench-binding-" + "b" * 30
    login = LoginState(verifier="v" * 64, return_to="/dashboard")
    deps.store.put_login_state(digest(state), digest(binding), login, deps.clock.now() + 3600)
    if fake is not None:
        fake.pin()
    return Seeded(key.encode(), state, binding, deps.settings.cookie_name)
