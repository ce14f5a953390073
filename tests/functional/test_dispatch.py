"""The two functions' dispatch tables: a route key picks its route, an unknown one is a clean 404,
and the session function's routes live on DynamoDB alone, as its IAM role requires."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from hitkey_bff.aws import AwsClients
from hitkey_bff.deps import Deps
from local.apigw.event import build_event
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from local.lambda_runtime import LambdaContext
from testkit import browser as kit
from testkit.functions import load_handler, routes
from tests.harness import SESSION, Bff, assert_error, body, signed_in

FUNCTIONS = sorted({r.function for r in routes().values()})


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(
    "event",
    [
        {"routeKey": "GET /auth/nothing-here"},
        {"routeKey": "$default"},
        {"routeKey": None},
        {"routeKey": ["GET /auth/session"]},
        {},
        [],
        "GET /auth/session",
    ],
    ids=repr,
)
def test_an_unknown_route_key_is_a_clean_404(bff: Bff, hitkey: Emulator, function: str, event: Any) -> None:
    handler = load_handler(function).using(bff.deps)
    response = handler(event, LambdaContext(function))
    assert_error(response, 404, "not_found")
    assert response["cookies"] == []


def test_every_route_key_reaches_its_own_route(bff: Bff, hitkey: Emulator) -> None:
    """Each route key of the template, sent to its function, is answered by that route's flow:
    the same answer as the route's own handler gives."""
    browser = signed_in(bff)
    cookies = [f"{SESSION}={browser.jar[SESSION]}"]
    for key, spec in routes().items():
        if spec.name in ("logout", "callback", "login"):  # they change state: compared below
            continue
        method, path = key.split(" ", 1)
        path = path.replace("{id}", "nope").replace("{upstream}", "nowhere").replace("{proxy+}", "x")
        event = build_event(
            method, path, headers={"x-csrf": "1", "origin": browser.origin}, cookies=cookies, route_key=key
        )
        via_table = bff.invoke(key, event)
        direct = bff.invoke_route(key, event)
        assert via_table["statusCode"] == direct["statusCode"], key
        assert body(via_table).keys() == body(direct).keys(), key


def test_an_any_route_also_answers_its_methods_route_key(bff: Bff, hitkey: Emulator) -> None:
    """``sam local`` names an ANY route by the request's method: the API proxy still answers."""
    browser = signed_in(bff)
    key = "GET /api/{upstream}/{proxy+}"
    event = build_event(
        "GET",
        "/api/nowhere/x",
        headers={"x-csrf": "1", "origin": browser.origin},
        cookies=[f"{SESSION}={browser.jar[SESSION]}"],
        route_key=key,
    )
    response = load_handler("token").using(bff.deps)(event, LambdaContext("token"))
    assert_error(response, 404, "unknown_api")  # the proxy's own answer, not the table's not_found


# --- the session function: DynamoDB only -----------------------------------------------------------


class _DynamoDbOnlyClients(AwsClients):
    """The test's DynamoDB client (moto); KMS and Secrets Manager refused."""

    def __init__(self, real: AwsClients) -> None:
        super().__init__()
        self._real = real

    def dynamodb(self) -> Any:
        return self._real.dynamodb()

    def kms(self) -> Any:
        raise AssertionError("the session function created a KMS client")

    def secretsmanager(self) -> Any:
        raise AssertionError("the session function created a Secrets Manager client")


class _DynamoDbOnly(Deps):
    """What the session function's role allows: DynamoDB; no key ring, HitKey or client secret."""

    @property
    def keyring(self) -> Any:
        raise AssertionError("the session function used the token key")

    @property
    def hitkey(self) -> Any:
        raise AssertionError("the session function called HitKey")

    @property
    def client_secret(self) -> Callable[[], str]:
        raise AssertionError("the session function read the client secret")


def test_session_function_routes_need_nothing_but_dynamodb(bff: Bff, hitkey: Emulator) -> None:
    """Every route of the session function, through its table, on dependencies that fail on any
    use of KMS, Secrets Manager or HitKey: a whole session's life still works."""
    restricted = _DynamoDbOnly(bff.settings, clock=bff.clock, aws=_DynamoDbOnlyClients(bff.deps.aws))
    session_function = load_handler("session").using(restricted)

    def invoke(key: str, event: dict[str, Any]) -> dict[str, Any]:
        if routes()[key].function == "session":
            response: dict[str, Any] = session_function(event, LambdaContext("SessionFunction"))
            return response
        return bff.invoke(key, event)

    other = signed_in(bff, SEEDED_USERS[0].sub)  # a second session of the same user, to end
    browser = kit.Browser(invoke)
    browser.sign_in(SEEDED_USERS[0].sub)  # login: session function; callback: token function
    assert body(browser.call("GET /auth/session"))["authenticated"] is True
    listed = body(browser.call("GET /auth/sessions"))
    assert len(listed["sessions"]) == 2, listed
    theirs = next(s["id"] for s in listed["sessions"] if not s["current"])
    event = build_event(
        "DELETE",
        f"/auth/sessions/{theirs}",
        headers={"x-csrf": "1", "origin": browser.origin},
        cookies=[f"{k}={v}" for k, v in browser.jar.items()],
        route_key="DELETE /auth/sessions/{id}",
        path_parameters={"id": theirs},
    )
    assert invoke("DELETE /auth/sessions/{id}", event)["statusCode"] == 204
    assert json.loads(other.call("GET /auth/session")["body"])["authenticated"] is False
    assert body(browser.call("DELETE /auth/sessions")) == {"ended": 0}
    assert browser.call("POST /auth/logout")["statusCode"] == 204
    assert body(browser.call("GET /auth/session"))["authenticated"] is False


def test_the_restricted_dependencies_do_fail_on_a_token_route(bff: Bff, hitkey: Emulator) -> None:
    """The counter-check: the same dependencies under a token-function route do fail, so the
    test above proves something."""
    restricted = _DynamoDbOnly(bff.settings, clock=bff.clock, aws=_DynamoDbOnlyClients(bff.deps.aws))
    browser = signed_in(bff)
    event = build_event(
        "GET",
        "/auth/userinfo",
        headers={"x-csrf": "1", "origin": browser.origin},
        cookies=[f"{SESSION}={browser.jar[SESSION]}"],
        route_key="GET /auth/userinfo",
    )
    response = load_handler("token").using(restricted)(event, LambdaContext("TokenFunction"))
    assert response["statusCode"] == 500, response
