"""The events for ``sam local invoke`` - ``events/authorizer.json`` (AuthorizerFunction) and
``examples/local-api/events/me.json`` (the example's function) - replayed in-process, and the
example's function answering its routes as documented."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from hitkey_bff.authorizer import handler as authorizer_handler
from local.api_template import load_routes
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from local.lambda_runtime import LambdaContext, LambdaRuntime
from tests.harness import SESSION, Bff, signed_in

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "http://localhost:3000"  # the events' Origin
ADA = SEEDED_USERS[0]


def load(path: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / path).read_text(encoding="utf-8"))
    return event


def example_handler() -> Any:
    routes = load_routes(ROOT / "template.yaml", [ROOT / "examples/local-api/template.yaml"])
    return LambdaRuntime().handler(routes[("GET", "/api/me")].function)


def test_authorizer_event_is_denied_for_a_stranger_and_allowed_for_a_live_session(bff: Bff, hitkey: Emulator) -> None:
    bff.configure(app_origin=ORIGIN)
    event = load("events/authorizer.json")
    authorizer = authorizer_handler.using(bff.deps)
    assert authorizer(copy.deepcopy(event), LambdaContext("AuthorizerFunction")) == {"isAuthorized": False}
    browser = signed_in(bff, ADA.sub)
    live = f"{SESSION}={browser.jar[SESSION]}"
    event["cookies"], event["identitySource"][0] = [live], live
    answer = authorizer(event, LambdaContext("AuthorizerFunction"))
    assert answer["isAuthorized"] is True and answer["context"]["sub"] == ADA.sub


def test_example_function_answers_me_and_echo_from_the_context() -> None:
    handler = example_handler()
    event = load("examples/local-api/events/me.json")
    context = event["requestContext"]["authorizer"]["lambda"]
    me = handler(copy.deepcopy(event), LambdaContext("LocalApiFunction"))
    assert me["statusCode"] == 200
    assert json.loads(me["body"]) == {k: context[k] for k in ("sub", "session_id", "name")}

    echo = copy.deepcopy(event)
    echo.update(routeKey="POST /api/me/echo", rawPath="/api/me/echo", body='{"a": [1, 2]}', isBase64Encoded=False)
    echo["requestContext"]["http"].update(method="POST", path="/api/me/echo")
    answer = handler(echo, LambdaContext("LocalApiFunction"))
    assert answer["statusCode"] == 200 and json.loads(answer["body"]) == {"sub": context["sub"], "body": {"a": [1, 2]}}

    echo["body"] = "not json"
    refused = handler(echo, LambdaContext("LocalApiFunction"))
    assert refused["statusCode"] == 400 and json.loads(refused["body"])["error"] == "invalid_json"


@pytest.mark.parametrize("route", ["/api/me", "/api/me/hitkey"])
def test_example_function_without_the_authorizer_context_is_a_401(route: str) -> None:
    event = load("examples/local-api/events/me.json")
    del event["requestContext"]["authorizer"]
    event["rawPath"] = event["requestContext"]["http"]["path"] = route
    answer = example_handler()(event, LambdaContext("LocalApiFunction"))
    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["error"] == "unauthenticated"


def test_a_misconfigured_function_names_no_variable_to_the_caller(aws: object) -> None:
    """Only the AWS settings are in the environment (the ``aws`` fixture): HITKEY_CLIENT_ID is not."""
    event = load("examples/local-api/events/me.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/api/me/hitkey"
    answer = example_handler()(event, LambdaContext("LocalApiFunction"))
    assert answer["statusCode"] == 503, answer
    assert json.loads(answer["body"])["error"] == "missing_config"
    assert "HITKEY" not in answer["body"] and "SESSION_TABLE" not in answer["body"]
