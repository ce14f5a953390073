"""The BffSession authorizer in template.yaml, its outputs, and the example's template
(AuthorizerFunction's IAM is in test_template.py: GetItem on USER# items only)."""

from __future__ import annotations

from typing import Any

import pytest

from local.template import ROOT, load_template

EXAMPLE = ROOT / "examples" / "local-api" / "template.yaml"


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def test_authorizer_is_a_payload_2_request_authorizer_on_the_cookie_and_x_csrf(sam: dict[str, Any]) -> None:
    props = sam["Resources"]["BffSessionAuthorizer"]["Properties"]
    assert props["ApiId"] == {"Ref": "HttpApi"} and props["Name"] == "BffSession"
    assert (props["AuthorizerType"], props["AuthorizerPayloadFormatVersion"]) == ("REQUEST", "2.0")
    assert props["EnableSimpleResponses"] is True
    assert props["IdentitySource"] == ["$request.header.cookie", "$request.header.x-csrf"]
    assert props["AuthorizerResultTtlInSeconds"] == {"Ref": "AuthorizerCacheSeconds"}
    assert "${AuthorizerFunction.Arn}" in props["AuthorizerUri"]["Fn::Sub"]


def test_cache_is_off_by_default_and_at_most_an_hour(sam: dict[str, Any]) -> None:
    spec = sam["Parameters"]["AuthorizerCacheSeconds"]
    assert (spec["Default"], spec["MinValue"], spec["MaxValue"]) == (0, 0, 3600)


def test_only_this_apis_authorizer_may_invoke_the_function(sam: dict[str, Any]) -> None:
    props = sam["Resources"]["AuthorizerPermission"]["Properties"]
    assert props["FunctionName"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    assert props["Principal"] == "apigateway.amazonaws.com"
    assert props["SourceArn"]["Fn::Sub"].endswith(":${HttpApi}/authorizers/${BffSessionAuthorizer}")


def test_authorizer_function_has_no_route_of_its_own(sam: dict[str, Any]) -> None:
    assert "Events" not in sam["Resources"]["AuthorizerFunction"]["Properties"]


def test_outputs_for_a_teams_stack(sam: dict[str, Any]) -> None:
    outputs = sam["Outputs"]
    assert outputs["HttpApiId"]["Value"] == {"Ref": "HttpApi"}
    assert outputs["SessionAuthorizerId"]["Value"] == {"Ref": "BffSessionAuthorizer"}
    assert outputs["BffLayerArn"]["Value"] == {"Ref": "BffLayer"}  # a LayerVersion's Ref is its ARN


def test_example_parameters_are_the_bff_outputs_it_binds(sam: dict[str, Any]) -> None:
    example = load_template(EXAMPLE)
    wanted = {"HttpApiId", "SessionAuthorizerId", "BffLayerArn", "SessionTableName", "TokenKeyArn", "ClientSecretArn"}
    assert wanted <= set(example["Parameters"]) and wanted <= set(sam["Outputs"])
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in example["Resources"].values()
        if r["Type"].endswith("Route")
    }
    assert set(routes) == {"GET /api/me", "POST /api/me/echo", "GET /api/me/hitkey"}
    for props in routes.values():
        assert props["AuthorizationType"] == "CUSTOM" and props["AuthorizerId"] == {"Ref": "SessionAuthorizerId"}


def test_example_function_gets_what_userinfo_gets_and_no_more(sam: dict[str, Any]) -> None:
    """The documented policy for call_with_fresh_token: what the token function holds to read,
    lease, rotate and end a session (no login states, no PutItem), with the same conditions."""
    example = load_template(EXAMPLE)
    fn = example["Resources"]["LocalApiFunction"]["Properties"]
    (policy,) = fn["Policies"]

    def actions(statement: dict[str, Any]) -> tuple[str, ...]:
        action = statement["Action"]
        return tuple(sorted(action if isinstance(action, list) else [action]))

    granted = {actions(s): s.get("Condition") for s in policy["Statement"]}
    assert granted == {
        ("dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"): {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["USER#*"]}
        },
        ("kms:Decrypt", "kms:GenerateDataKey"): {
            "StringEquals": {"kms:EncryptionContext:purpose": "hitkey-bff/session-tokens"}
        },
        ("secretsmanager:GetSecretValue",): None,
    }
    (token_policy,) = sam["Resources"]["TokenFunction"]["Properties"]["Policies"]
    token_statements = token_policy["Statement"]
    token_actions = {a for s in token_statements for a in actions(s)}
    assert {a for key in granted for a in key} <= token_actions  # nothing the BFF's own function lacks
    kms = next(s for s in token_statements if "kms:Decrypt" in actions(s))
    assert kms.get("Condition") == granted[("kms:Decrypt", "kms:GenerateDataKey")]
    assert fn["Timeout"] <= 60  # the refresh lease outlives holders of at most the BFF's timeout


def test_docs_state_what_the_template_and_the_authorizer_do(sam: dict[str, Any]) -> None:
    import re

    from hitkey_bff.authorizer import CONTEXT_KEYS

    doc = (ROOT / "docs" / "local-api.md").read_text(encoding="utf-8")
    outputs = re.findall(r"^\| `(\w+)`(?:, `(\w+)`)*(?:, `(\w+)`)? \|", doc, flags=re.M)
    named = {name for row in outputs for name in row if name}
    assert {"HttpApiId", "SessionAuthorizerId", "BffLayerArn", "SessionTableName"} <= named
    assert named <= set(sam["Outputs"]) | set(CONTEXT_KEYS)
    context_rows = re.findall(r"^\| `(\w+)` \| (?!what)", doc.split("## What your function receives")[1], flags=re.M)
    assert tuple(context_rows[: len(CONTEXT_KEYS)]) == CONTEXT_KEYS
    spec = sam["Parameters"]["AuthorizerCacheSeconds"]
    assert f"(default `{spec['Default']}`, at most `{spec['MaxValue']}`)" in doc
    for status, body in ((401, "Unauthorized"), (403, "Forbidden"), (500, "Internal Server Error")):
        assert f'| {status} | `{{"message":"{body}"}}` |' in doc
