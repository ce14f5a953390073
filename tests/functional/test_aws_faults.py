"""DynamoDB, KMS and Secrets Manager failing under the BFF's real boto3 clients (moto behind them).

Faults go in through botocore's event system: :class:`AwsFaults` takes moto's ``before-send``
stub off a client and puts itself in front of it, so a faulted attempt is answered with a real
AWS error response (``400 {"__type": "ProvisionedThroughputExceededException"}``, a 500, a
connection error) and never reaches moto - a throttled write writes nothing. Everything after
``before-send`` is botocore's own: the response is parsed, the standard retry mode decides
whether to retry (and how long to back off: recorded, not slept), and the last error is raised
into the BFF. The clients are configured as the Lambda's are (``template.yaml``'s
``hitkey_bff.aws.client_config()``, the same for every client).

What the rotated-token write does when it still fails after every retry
-------------------------------------------------------------------------
A refresh asks HitKey first; HitKey rotates, so from then on the new refresh token exists only in
the Lambda's memory. ``refresh.commit`` retries a throttled write 5 times (each one retried
by botocore too). If DynamoDB still refuses, the request answers ``503 service_unavailable`` and
the rotated refresh token is lost: the item keeps the old one, which HitKey now treats as reuse.
The next refresh (once the lease has passed) gets ``invalid_grant``, so the BFF ends the session
(401, cookie cleared) and the user signs in again - with ``END_ALL_SESSIONS_ON_REUSE`` on, every
session of the user ends, as the BFF cannot tell its own lost rotation from a stolen token. See
``test_commit_that_never_succeeds_loses_the_rotated_token_and_then_the_session``. The lease is
released even then, and the retries fit inside the Lambda's timeout (tests below).
"""

from __future__ import annotations

import json
import types
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.endpoint
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import EndpointConnectionError
from moto.core.models import botocore_stubber

from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from local.template import load_template
from testkit.browser import Browser, approve_at_hitkey
from tests.conftest import Aws
from tests.harness import (
    LOGIN,
    SESSION,
    Bff,
    assert_auth_error,
    assert_error,
    body,
    expires,
    items,
    only_session,
    signed_in,
    upstream,
)

ADA = SEEDED_USERS[0]
FOREVER = 10_000
TEMPLATE = load_template()
LAMBDA_TIMEOUT: int = TEMPLATE["Globals"]["Function"]["Timeout"]
LAMBDA_ENV: dict[str, str] = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
BFF_ATTEMPTS = 3  # hitkey_bff.aws.MAX_ATTEMPTS, for every client (Secrets Manager's too)
SECRETS_ATTEMPTS = BFF_ATTEMPTS
COMMIT_ATTEMPTS = 5  # refresh.commit's own attempts, each retried by botocore


# --- fault injection ---------------------------------------------------------------------------


class _Body:
    """The ``raw`` of an :class:`AWSResponse`: what botocore streams the body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def aws_error(status: int, error_type: str, protocol: str = "1.0") -> Callable[[AWSPreparedRequest], AWSResponse]:
    """An AWS JSON-protocol error response, as the service would send it."""

    def respond(request: AWSPreparedRequest) -> AWSResponse:
        payload = json.dumps({"__type": error_type, "message": "injected fault"}).encode()
        headers = HTTPHeaders()
        headers["x-amzn-RequestId"] = "fault"
        headers["content-type"] = f"application/x-amz-json-{protocol}"
        return AWSResponse(request.url, status, headers, _Body(payload))

    return respond


def unreachable(request: AWSPreparedRequest) -> AWSResponse:
    raise EndpointConnectionError(endpoint_url=request.url)


THROTTLED_DDB = aws_error(400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException")
THROTTLED_KMS = aws_error(400, "ThrottlingException", "1.1")
KMS_INVALID_STATE = aws_error(400, "KMSInvalidStateException", "1.1")
SECRETS_INTERNAL = aws_error(500, "InternalServiceError", "1.1")


def request_json(request: AWSPreparedRequest) -> dict[str, Any]:
    raw = request.body or b"{}"
    data = json.loads(raw if isinstance(raw, str | bytes) else b"{}")
    return data if isinstance(data, dict) else {}


@dataclass
class Fault:
    operation: str  # "dynamodb.GetItem"
    respond: Callable[[AWSPreparedRequest], AWSResponse]
    count: int
    match: Callable[[dict[str, Any]], bool]
    injected: int = 0


@dataclass
class AwsFaults:
    """Faults for the next N matching attempts of an operation, on the clients it is attached to."""

    backoffs: list[float]
    faults: list[Fault] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)  # "dynamodb.GetItem" -> attempts, matched only
    _attached: list[Any] = field(default_factory=list)

    def attach(self, client: Any) -> Any:
        """Stand in front of moto on ``client`` (the BFF's own client object)."""
        if client not in self._attached:
            client.meta.events.unregister("before-send", botocore_stubber)
            client.meta.events.register("before-send", self._before_send)
            self._attached.append(client)
        return client

    def add(
        self,
        operation: str,
        respond: Callable[[AWSPreparedRequest], AWSResponse],
        count: int = FOREVER,
        match: Callable[[dict[str, Any]], bool] = lambda _: True,
    ) -> Fault:
        fault = Fault(operation, respond, count, match)
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def _before_send(self, request: AWSPreparedRequest, event_name: str, **kwargs: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".")
        name = f"{service}.{operation}"
        for fault in self.faults:
            if fault.operation == name and fault.match(request_json(request)):
                self.attempts[name] += 1
                if fault.injected < fault.count:
                    fault.injected += 1
                    return fault.respond(request)
                break
        return botocore_stubber(event_name=event_name, request=request, **kwargs)


@pytest.fixture
def faults(bff: Bff, hitkey: Emulator, monkeypatch: pytest.MonkeyPatch) -> AwsFaults:
    """Fault injection for this test; botocore's backoff delays are recorded instead of slept."""
    for name in ("AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS"):
        if name in LAMBDA_ENV:
            monkeypatch.setenv(name, LAMBDA_ENV[name])
    backoffs: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=backoffs.append))
    bff.cold()
    return AwsFaults(backoffs)


def secrets_client(bff: Bff) -> Any:
    """The Secrets Manager client the BFF reads its client secret with (the one every handler uses)."""
    return bff.deps.aws.secretsmanager()


def commit(params: dict[str, Any]) -> bool:
    """The version-checked write of rotated tokens (not the lease, not its release)."""
    return str(params.get("UpdateExpression", "")).startswith("SET dk = ")


def login_state(params: dict[str, Any]) -> bool:
    return str(params.get("Item", {}).get("pk", {}).get("S", "")).startswith("LOGIN#")


# --- assertions --------------------------------------------------------------------------------


def approved_callback(browser: Browser) -> str:
    return approve_at_hitkey(browser.login()["headers"]["location"], ADA.sub)


# --- DynamoDB: the session route's GetItem -----------------------------------------------------


def test_throttled_get_item_is_retried_by_botocore(bff: Bff, hitkey: Emulator, aws: Aws, faults: AwsFaults) -> None:
    browser = signed_in(bff)
    before = aws.scan()
    faults.attach(bff.deps.aws.dynamodb())
    faults.add("dynamodb.GetItem", THROTTLED_DDB, count=2)
    response = browser.call("GET /auth/session")
    assert response["statusCode"] == 200 and body(response)["authenticated"] is True
    assert faults.attempts["dynamodb.GetItem"] == 3 and len(faults.backoffs) == 2
    assert aws.scan() == before


def test_persistent_get_item_throttling_is_a_503(bff: Bff, hitkey: Emulator, aws: Aws, faults: AwsFaults) -> None:
    browser = signed_in(bff)
    before = aws.scan()
    faults.attach(bff.deps.aws.dynamodb())
    faults.add("dynamodb.GetItem", THROTTLED_DDB)
    response = browser.call("GET /auth/session")
    assert_error(response, 503, "service_unavailable")
    assert response["cookies"] == [] and SESSION in browser.jar  # a 503 is no reason to sign out
    assert faults.attempts["dynamodb.GetItem"] == BFF_ATTEMPTS and len(faults.backoffs) == BFF_ATTEMPTS - 1
    assert aws.scan() == before
    faults.clear()
    assert body(browser.call("GET /auth/session"))["authenticated"] is True


# --- DynamoDB: the refresh's commit of rotated tokens ------------------------------------------


def test_throttled_commit_is_saved_by_the_stores_own_retries(
    bff: Bff, hitkey: Emulator, aws: Aws, faults: AwsFaults
) -> None:
    browser = signed_in(bff)
    before = only_session(aws)
    faults.attach(bff.deps.aws.dynamodb())
    # more failures than botocore's attempts: only refresh.commit's own retry gets through
    faults.add("dynamodb.UpdateItem", THROTTLED_DDB, count=BFF_ATTEMPTS + 1, match=commit)
    hitkey.reset_counters()
    response = browser.call("POST /auth/refresh")
    assert response["statusCode"] == 200 and body(response)["expires_at"] > 0
    assert faults.attempts["dynamodb.UpdateItem"] == BFF_ATTEMPTS + 2  # second store attempt, second try
    assert upstream(hitkey) == {"token": 1, "token.refresh_token": 1}  # HitKey rotated once
    after = only_session(aws)
    assert after["version"] == {"N": "2"} and after["rt"] != before["rt"] and "lease_owner" not in after
    # the stored refresh token is the rotated one: HitKey would refuse (and revoke) the old one
    faults.clear()
    second = browser.call("POST /auth/refresh")
    assert second["statusCode"] == 200 and only_session(aws)["version"] == {"N": "3"}
    assert browser.call("GET /auth/userinfo")["statusCode"] == 200


def test_commit_that_never_succeeds_loses_the_rotated_token_and_then_the_session(
    bff: Bff, hitkey: Emulator, aws: Aws, faults: AwsFaults
) -> None:
    browser = signed_in(bff)
    before = only_session(aws)
    faults.attach(bff.deps.aws.dynamodb())
    faults.add("dynamodb.UpdateItem", THROTTLED_DDB, match=commit)
    response = browser.call("POST /auth/refresh")
    assert_error(response, 503, "service_unavailable")
    assert faults.attempts["dynamodb.UpdateItem"] == COMMIT_ATTEMPTS * BFF_ATTEMPTS
    after = only_session(aws)
    kept = ("version", "rt", "at", "dk", "at_exp")
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}  # no token half-written
    # DynamoDB is back, the lease has passed: the stored refresh token was rotated away at HitKey
    faults.clear()
    aws.session.client("dynamodb").update_item(
        TableName=aws.resources.table,
        Key={"pk": after["pk"], "sk": after["sk"]},
        UpdateExpression="SET lease_until = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )
    ended = browser.call("POST /auth/refresh")
    assert_error(ended, 401, "unauthenticated")
    assert expires(ended, SESSION) and items(aws, "USER#") == []
    assert signed_in(bff).call("GET /auth/userinfo")["statusCode"] == 200


def test_failed_commit_leaves_no_lease_behind(bff: Bff, hitkey: Emulator, aws: Aws, faults: AwsFaults) -> None:
    browser = signed_in(bff)
    before = only_session(aws)
    faults.attach(bff.deps.aws.dynamodb())
    faults.add("dynamodb.UpdateItem", THROTTLED_DDB, match=commit)
    assert_error(browser.call("POST /auth/refresh"), 503, "service_unavailable")
    assert only_session(aws) == before


def test_commit_retries_fit_in_the_lambda_timeout(
    bff: Bff, hitkey: Emulator, aws: Aws, faults: AwsFaults, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.retries import standard

    real_init = standard.ExponentialBackoff.__init__

    def average_jitter(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **{**kwargs, "random": lambda: 0.5})  # the expected delay, not a random one

    monkeypatch.setattr(standard.ExponentialBackoff, "__init__", average_jitter)
    browser = signed_in(bff)
    bff.cold()  # a refresh Lambda with its own clients (built with the average jitter)
    faults.attach(bff.deps.aws.dynamodb())
    faults.add("dynamodb.UpdateItem", THROTTLED_DDB, match=commit)
    assert_error(browser.call("POST /auth/refresh"), 503, "service_unavailable")
    store_backoff = sum(0.1 * 2**i for i in range(COMMIT_ATTEMPTS - 1))
    assert sum(faults.backoffs) + store_backoff < LAMBDA_TIMEOUT


# --- DynamoDB: the login state -----------------------------------------------------------------


def test_login_state_that_cannot_be_stored_sets_no_cookie(
    bff: Bff, hitkey: Emulator, aws: Aws, faults: AwsFaults
) -> None:
    faults.attach(bff.deps.aws.dynamodb())
    faults.add("dynamodb.PutItem", THROTTLED_DDB, match=login_state)
    browser = Browser(bff.invoke)
    response = browser.login()
    assert_error(response, 503, "service_unavailable")
    assert response["cookies"] == [] and browser.jar == {}  # no login cookie for a state never stored
    assert "location" not in response["headers"]
    assert faults.attempts["dynamodb.PutItem"] == BFF_ATTEMPTS
    assert aws.scan() == []
    faults.clear()
    assert browser.sign_in(ADA.sub)["statusCode"] == 302


def test_throttled_login_state_write_is_retried(bff: Bff, hitkey: Emulator, aws: Aws, faults: AwsFaults) -> None:
    faults.attach(bff.deps.aws.dynamodb())
    faults.add("dynamodb.PutItem", THROTTLED_DDB, count=1, match=login_state)
    browser = Browser(bff.invoke)
    response = browser.login()
    assert response["statusCode"] == 302 and LOGIN in browser.jar
    assert faults.attempts["dynamodb.PutItem"] == 2
    assert len(items(aws, "LOGIN#")) == 1  # written once, not twice


# --- KMS: GenerateDataKey when the callback seals the new session's tokens ---------------------


@pytest.mark.parametrize(
    ("respond", "count", "attempts", "status"),
    [
        pytest.param(THROTTLED_KMS, 2, 3, 302, id="throttling-transient"),
        pytest.param(THROTTLED_KMS, FOREVER, BFF_ATTEMPTS, 503, id="throttling-persistent"),
        # not retryable (the key is disabled or pending deletion): one attempt, even if it would pass
        pytest.param(KMS_INVALID_STATE, 1, 1, 503, id="invalid-state-once"),
        pytest.param(KMS_INVALID_STATE, FOREVER, 1, 503, id="invalid-state-persistent"),
    ],
)
def test_kms_fault_at_callback(
    bff: Bff,
    hitkey: Emulator,
    aws: Aws,
    faults: AwsFaults,
    respond: Callable[[AWSPreparedRequest], AWSResponse],
    count: int,
    attempts: int,
    status: int,
) -> None:
    browser = Browser(bff.invoke)
    query = approved_callback(browser)
    faults.attach(bff.deps.aws.kms())
    faults.add("kms.GenerateDataKey", respond, count=count)
    hitkey.reset_counters()
    response = browser.callback(query)
    assert faults.attempts["kms.GenerateDataKey"] == attempts
    assert upstream(hitkey) == {"token": 1, "token.authorization_code": 1, "userinfo": 1}  # no retried exchange
    if status == 302:
        assert SESSION in browser.jar and len(items(aws, "USER#")) == 1
        assert browser.call("GET /auth/userinfo")["statusCode"] == 200
        return
    assert_auth_error(response, "service_unavailable")
    assert SESSION not in browser.jar
    assert aws.scan() == []  # no session item, and the login state is spent
    # the failure cleared the login cookie: a reload of the callback comes without it
    assert browser.callback(query)["headers"]["location"].endswith("auth_error=login_cookie_missing")
    faults.clear()
    assert browser.sign_in(ADA.sub)["statusCode"] == 302
    assert browser.call("GET /auth/userinfo")["statusCode"] == 200


def test_throttled_kms_at_refresh_is_retried(bff: Bff, hitkey: Emulator, aws: Aws, faults: AwsFaults) -> None:
    browser = signed_in(bff)
    bff.cold()  # a cold refresh Lambda: no data key cached yet
    faults.attach(bff.deps.aws.kms())
    faults.add("kms.GenerateDataKey", THROTTLED_KMS, count=2)
    response = browser.call("POST /auth/refresh")
    assert response["statusCode"] == 200 and faults.attempts["kms.GenerateDataKey"] == 3
    item = only_session(aws)
    assert item["version"] == {"N": "2"} and "lease_owner" not in item


def test_kms_failure_at_refresh_happens_before_hitkey_rotates(
    bff: Bff, hitkey: Emulator, aws: Aws, faults: AwsFaults
) -> None:
    browser = signed_in(bff)
    before = only_session(aws)
    bff.cold()  # a cold refresh Lambda: no data key cached yet
    faults.attach(bff.deps.aws.kms())
    faults.add("kms.GenerateDataKey", THROTTLED_KMS)
    hitkey.reset_counters()
    response = browser.call("POST /auth/refresh")
    assert_error(response, 503, "service_unavailable")
    assert upstream(hitkey) == {}  # HitKey must not rotate a token we cannot store
    assert only_session(aws) == before
    faults.clear()
    assert browser.call("POST /auth/refresh")["statusCode"] == 200


# --- Secrets Manager: the client secret at the callback ----------------------------------------


@pytest.mark.parametrize(
    "respond", [pytest.param(SECRETS_INTERNAL, id="internal-error"), pytest.param(unreachable, id="unreachable")]
)
def test_secrets_manager_down_at_callback(
    bff: Bff, hitkey: Emulator, aws: Aws, faults: AwsFaults, respond: Callable[[AWSPreparedRequest], AWSResponse]
) -> None:
    browser = Browser(bff.invoke)
    query = approved_callback(browser)
    faults.attach(secrets_client(bff))
    faults.add("secrets-manager.GetSecretValue", respond)
    hitkey.reset_counters()
    response = browser.callback(query)
    assert_auth_error(response, "service_unavailable")
    assert faults.attempts["secrets-manager.GetSecretValue"] == SECRETS_ATTEMPTS  # retried, then given up
    assert upstream(hitkey) == {}  # the code was not spent: no exchange without the secret
    assert not expires(response, LOGIN) and SESSION not in browser.jar
    assert items(aws, "USER#") == [] and len(items(aws, "LOGIN#")) == 1  # the login state is not spent
    faults.clear()
    retried = browser.callback(query)  # the user reloads: the same code and state now succeed
    assert retried["statusCode"] == 302 and SESSION in browser.jar
    assert browser.call("GET /auth/userinfo")["statusCode"] == 200


def test_secrets_manager_blip_at_callback_is_retried(bff: Bff, hitkey: Emulator, aws: Aws, faults: AwsFaults) -> None:
    browser = Browser(bff.invoke)
    query = approved_callback(browser)
    faults.attach(secrets_client(bff))
    faults.add("secrets-manager.GetSecretValue", SECRETS_INTERNAL, count=1)
    response = browser.callback(query)
    assert response["statusCode"] == 302 and SESSION in browser.jar
    assert faults.attempts["secrets-manager.GetSecretValue"] == 2 and len(items(aws, "USER#")) == 1


def test_secrets_manager_client_has_the_runtimes_timeouts(bff: Bff, hitkey: Emulator, faults: AwsFaults) -> None:
    def timeouts(client: Any) -> tuple[float, float]:
        return client.meta.config.connect_timeout, client.meta.config.read_timeout

    assert timeouts(secrets_client(bff)) == timeouts(bff.deps.aws.dynamodb())  # (1, 3), not botocore's (60, 60)
