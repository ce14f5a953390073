"""template.yaml as CloudFormation will see it: translated by aws-sam-translator, then audited.

Least privilege per function is the point of one-function-per-route, so every role's effective
permissions (inline policies, customer-managed policies by Ref, policies attached from the other
side with ``Roles``) are resolved from the translated template and compared to what each route
needs - no more, no less. The CloudFront example in docs/deploy.md is linted and checked here too.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]
from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

from local.template import ROOT, load_template

TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
RUNTIME = "python3.12"

FUNCTIONS = {
    "session": "SessionFunction",
    "token": "TokenFunction",
    "authorizer": "AuthorizerFunction",  # BffSession, the Lambda authorizer of a team's own routes
}

ROUTES = {
    "GET /auth/login": "SessionFunction",
    "GET /auth/session": "SessionFunction",
    "GET /auth/sessions": "SessionFunction",
    "DELETE /auth/sessions": "SessionFunction",
    "DELETE /auth/sessions/{id}": "SessionFunction",
    "POST /auth/logout": "SessionFunction",
    "GET /auth/callback": "TokenFunction",
    "GET /auth/userinfo": "TokenFunction",
    "POST /auth/refresh": "TokenFunction",
    "ANY /api/{upstream}/{proxy+}": "TokenFunction",
    "ANY /api/{upstream}": "TokenFunction",
}

SESSION_ACTIONS = {
    "dynamodb:PutItem",
    "dynamodb:GetItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
}
TOKEN_ACTIONS = SESSION_ACTIONS | {"kms:Decrypt", "kms:GenerateDataKey", "secretsmanager:GetSecretValue"}

# Exactly these actions, per function; the second set is what it MAY have on top.
EXPECTED_ACTIONS: dict[str, tuple[set[str], set[str]]] = {
    # login writes a login state; session reads a session, ends a dead one (DeleteItem) and records
    # activity (UpdateItem); sessions and logout list the user's sessions (Query) and end them.
    "SessionFunction": (SESSION_ACTIONS, set()),
    # callback spends the login state and writes the session (sealing its tokens: GenerateDataKey,
    # the client secret), the cap lists the user's sessions; userinfo, refresh and the proxy open
    # the tokens (Decrypt), lease and rotate them, end a session on reuse (all of them: Query).
    "TokenFunction": (TOKEN_ACTIONS, set()),
    # The BffSession authorizer: read-only, one GetItem; no KMS, no secret, no write.
    "AuthorizerFunction": ({"dynamodb:GetItem"}, set()),
}

# The partition-key prefix each function may touch, per DynamoDB action (Query: LEADING_KEYS_QUERY).
LEADING_KEYS: dict[str, dict[str, str]] = {
    "SessionFunction": {"dynamodb:PutItem": "LOGIN#*"}
    | {a: "USER#*" for a in ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")},
    "TokenFunction": {"dynamodb:DeleteItem": "LOGIN#*,USER#*"}
    | {a: "USER#*" for a in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")},
    "AuthorizerFunction": {"dynamodb:GetItem": "USER#*"},
}
LEADING_KEYS_QUERY = "USER#*"

DYNAMODB_READS = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PartiQLSelect",
    "dynamodb:ExecuteStatement",
    "dynamodb:BatchExecuteStatement",
    "dynamodb:ExecuteTransaction",
    "dynamodb:GetRecords",
    "dynamodb:ExportTableToPointInTime",
    "dynamodb:RestoreTableToPointInTime",
}

# Which resource each service's actions must be scoped to.
RESOURCE_FOR_SERVICE = {
    "dynamodb": {"Fn::GetAtt": ["SessionTable", "Arn"]},
    "kms": {"Fn::GetAtt": ["TokenKey", "Arn"]},
    "secretsmanager": {"Ref": "ClientSecret"},
}

# The only AWS-managed policy a function role may carry: CloudWatch Logs for its own log group.
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# ... and, only with Tracing=Active, X-Ray's write-only policy (put segments, read sampling rules).
XRAY_WRITE_ONLY = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"


class _NoManagedPolicyLookups:
    """aws-sam-translator asks IAM for AWS-managed policy names used in ``Policies``; the
    template must not use any (so this stays offline), hence an empty map."""

    def load(self) -> dict[str, str]:
        return {}


@dataclass(frozen=True)
class Statement:
    source: str  # where it came from, for messages
    effect: str
    actions: tuple[str, ...]
    resources: tuple[Any, ...]
    condition: dict[str, Any]
    raw: dict[str, Any]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(document: dict[str, Any], source: str) -> list[Statement]:
    out = []
    for raw in _as_list(document.get("Statement", [])):
        out.append(
            Statement(
                source=source,
                effect=raw.get("Effect", ""),
                actions=tuple(_as_list(raw.get("Action", []))),
                resources=tuple(_as_list(raw.get("Resource", []))),
                condition=raw.get("Condition", {}),
                raw=raw,
            )
        )
    return out


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    """template.yaml as written (SAM)."""
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def cfn(sam: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """template.yaml as CloudFormation receives it after the SAM transform."""
    template = copy.deepcopy(sam)
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):  # what `sam package` does: local folders -> S3
            if key in props:
                props[key] = f"s3://artifacts/{logical_id}.zip"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", REGION)  # the translator fills in AWS::Region/Partition
        yield transform(template, {}, _NoManagedPolicyLookups())


def _resources(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == kind}


def _role_id(cfn: dict[str, Any], function_id: str) -> str:
    role = cfn["Resources"][function_id]["Properties"]["Role"]
    assert set(role) == {"Fn::GetAtt"}, f"{function_id}: role is not one of this template's roles: {role}"
    role_id: str = role["Fn::GetAtt"][0]
    assert cfn["Resources"][role_id]["Type"] == "AWS::IAM::Role"
    return role_id


def effective_statements(cfn: dict[str, Any], function_id: str) -> list[Statement]:
    """Every statement granted to the function's role, wherever it is declared."""
    role_id = _role_id(cfn, function_id)
    role = cfn["Resources"][role_id]["Properties"]
    found: list[Statement] = []
    for policy in role.get("Policies", []):
        found += _statements(policy["PolicyDocument"], f"{role_id} inline {policy['PolicyName']}")
    for arn in role.get("ManagedPolicyArns", []):
        if arn in (BASIC_EXECUTION, XRAY_WRITE_ONLY):  # AWS-managed, no data access (asserted below)
            continue
        assert isinstance(arn, dict) and set(arn) == {"Ref"}, (
            f"{function_id}: managed policy {arn!r} is neither AWSLambdaBasicExecutionRole nor one of this "
            "template's AWS::IAM::ManagedPolicy resources, so its permissions cannot be audited"
        )
        managed = cfn["Resources"][arn["Ref"]]
        assert managed["Type"] == "AWS::IAM::ManagedPolicy"
        found += _statements(managed["Properties"]["PolicyDocument"], f"{arn['Ref']} (managed)")
    # Policies attached from the policy's side (Roles: [!Ref XRole]).
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
        for policy_id, policy in _resources(cfn, kind).items():
            props = policy["Properties"]
            roles = _as_list(props.get("Roles", [])) + ([props["RoleName"]] if "RoleName" in props else [])
            if {"Ref": role_id} in roles:
                found += _statements(props["PolicyDocument"], f"{policy_id} (attached to {role_id})")
    return found


def granted_actions(cfn: dict[str, Any], function_id: str) -> set[str]:
    return {a for s in effective_statements(cfn, function_id) if s.effect == "Allow" for a in s.actions}


# The translation itself
# --------------------------------------------------------------------------------------------


def test_translates_to_two_lambda_functions_with_one_role_each(cfn: dict[str, Any]) -> None:
    functions = _resources(cfn, "AWS::Lambda::Function")
    assert set(functions) == set(FUNCTIONS.values())
    roles = {_role_id(cfn, f) for f in functions}
    assert len(roles) == len(functions), "functions share a role, so they share permissions"


# Permissions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function_id", FUNCTIONS.values())
def test_function_is_granted_exactly_what_its_route_needs(cfn: dict[str, Any], function_id: str) -> None:
    required, optional = EXPECTED_ACTIONS[function_id]
    granted = granted_actions(cfn, function_id)
    assert required <= granted, f"{function_id} lacks {sorted(required - granted)}"
    assert granted <= required | optional, f"{function_id} also has {sorted(granted - required - optional)}"


@pytest.mark.parametrize("function_id", FUNCTIONS.values())
def test_no_wildcard_actions_and_no_escape_hatches(cfn: dict[str, Any], function_id: str) -> None:
    for st in effective_statements(cfn, function_id):
        assert st.effect == "Allow", f"{st.source}: unexpected {st.effect} statement {st.raw}"
        assert "NotAction" not in st.raw and "NotResource" not in st.raw, f"{st.source}: {st.raw}"
        assert st.actions, f"{st.source}: statement without Action"
        for action in st.actions:
            assert "*" not in action and "?" not in action, f"{st.source}: wildcard action {action!r}"


@pytest.mark.parametrize("function_id", FUNCTIONS.values())
def test_every_data_action_is_scoped_to_this_stacks_resource(cfn: dict[str, Any], function_id: str) -> None:
    for st in effective_statements(cfn, function_id):
        services = {a.split(":", 1)[0] for a in st.actions}
        assert len(services) == 1, f"{st.source}: one statement mixes {sorted(services)}"
        (service,) = services
        assert st.resources, f"{st.source}: statement without Resource"
        assert "*" not in st.resources, f"{st.source}: Resource '*' for {st.actions}"
        assert list(st.resources) == [RESOURCE_FOR_SERVICE[service]], f"{st.source}: {st.actions} on {st.resources}"


@pytest.mark.parametrize("function_id", FUNCTIONS.values())
def test_dynamodb_statements_are_limited_to_their_partition_prefix(cfn: dict[str, Any], function_id: str) -> None:
    allowed = LEADING_KEYS[function_id]
    dynamodb = [s for s in effective_statements(cfn, function_id) if s.actions[0].startswith("dynamodb:")]
    assert dynamodb
    for st in dynamodb:
        assert set(st.condition) == {"ForAllValues:StringLike"}, f"{st.source}: condition {st.condition}"
        keys = st.condition["ForAllValues:StringLike"]
        assert set(keys) == {"dynamodb:LeadingKeys"}, f"{st.source}: condition {st.condition}"
        prefixes = _as_list(keys["dynamodb:LeadingKeys"])
        for action in st.actions:
            expected = LEADING_KEYS_QUERY if action == "dynamodb:Query" else allowed.get(action)
            assert prefixes == str(expected).split(","), (
                f"{st.source}: {action} on partition keys {prefixes}, expected [{expected}]"
            )


def test_session_function_has_no_kms_and_no_secret(cfn: dict[str, Any]) -> None:
    """The session function (every page load, and /auth/login, which anyone can call) answers from
    DynamoDB alone: it can neither use the token key nor read the client secret."""
    granted = granted_actions(cfn, "SessionFunction")
    assert not {a for a in granted if a.startswith(("kms:", "secretsmanager:"))}, granted


def test_session_function_writes_only_login_states(cfn: dict[str, Any]) -> None:
    """It never creates a session: its one PutItem is held to LOGIN# partitions."""
    puts = [s for s in effective_statements(cfn, "SessionFunction") if "dynamodb:PutItem" in s.actions]
    assert [s.actions for s in puts] == [("dynamodb:PutItem",)]
    assert puts[0].condition == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["LOGIN#*"]}}


def test_only_the_token_function_holds_kms_and_the_secret(cfn: dict[str, Any]) -> None:
    holders = {
        f
        for f in FUNCTIONS.values()
        if {a for a in granted_actions(cfn, f) if a.startswith(("kms:", "secretsmanager:"))}
    }
    assert holders == {"TokenFunction"}


def test_each_function_serves_exactly_its_dispatch_table(sam: dict[str, Any]) -> None:
    """The template's routes to a function and the route keys of its app.py's dispatch table are
    the same set: a route sent to a function that lacks it would answer 404."""
    from local.api_template import api_routes, route_functions
    from testkit.functions import load_handler

    for spec in route_functions(TEMPLATE):
        keys = {route.route_key for route in api_routes(TEMPLATE) if route.function == spec}
        assert keys == set(load_handler(spec.code_uri.name).routes), spec.logical_id


@pytest.mark.parametrize("function_id", FUNCTIONS.values())
def test_kms_use_requires_the_token_encryption_context(cfn: dict[str, Any], function_id: str) -> None:
    """A function's role can use the key only for session tokens, with the context vault.py sends."""
    from hitkey_bff.vault import ENCRYPTION_CONTEXT

    for statement in effective_statements(cfn, function_id):
        if any(a.startswith("kms:") for a in statement.actions):
            expected = {f"kms:EncryptionContext:{k}": v for k, v in ENCRYPTION_CONTEXT.items()}
            assert statement.condition == {"StringEquals": expected}, statement.source


@pytest.mark.parametrize("function_id", FUNCTIONS.values())
def test_only_aws_managed_policy_is_basic_execution(cfn: dict[str, Any], function_id: str) -> None:
    role = cfn["Resources"][_role_id(cfn, function_id)]["Properties"]
    aws_managed = [a for a in role.get("ManagedPolicyArns", []) if isinstance(a, str) or set(a) != {"Ref"}]
    assert aws_managed == [BASIC_EXECUTION]


def test_key_policy_grants_nothing_to_function_roles(cfn: dict[str, Any]) -> None:
    """The key policy only delegates to the account's IAM (the root statement), so the role
    policies audited above are the whole story of who may use the token key."""
    (key,) = _resources(cfn, "AWS::KMS::Key").values()
    for st in key["Properties"]["KeyPolicy"]["Statement"]:
        principal = st["Principal"]
        assert principal == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}, st
    assert key["Properties"]["EnableKeyRotation"] is True


# Runtime, layer, table, API, parameters, outputs
# --------------------------------------------------------------------------------------------


def test_python312_everywhere(cfn: dict[str, Any], sam: dict[str, Any]) -> None:
    runtimes = {f: r["Properties"].get("Runtime") for f, r in _resources(cfn, "AWS::Lambda::Function").items()}
    assert set(runtimes.values()) == {RUNTIME}, runtimes
    layers = _resources(cfn, "AWS::Lambda::LayerVersion").values()
    assert [layer["Properties"]["CompatibleRuntimes"] for layer in layers] == [[RUNTIME]] * 2
    sam_layers = [r for r in sam["Resources"].values() if r["Type"] == "AWS::Serverless::LayerVersion"]
    assert [r["Metadata"]["BuildMethod"] for r in sam_layers] == [RUNTIME] * 2  # what `sam build` builds them with


def test_functions_and_layer_share_one_architecture(cfn: dict[str, Any], sam: dict[str, Any]) -> None:
    """The layer carries compiled wheels (cryptography, cffi): built for another CPU, every import fails."""
    archs = {
        repr(r["Properties"].get("Architectures", ["x86_64"]))
        for r in _resources(cfn, "AWS::Lambda::Function").values()
    }
    assert archs == {repr([{"Ref": "Architecture"}])}, archs  # all follow the parameter
    for layer in _resources(cfn, "AWS::Lambda::LayerVersion").values():
        assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    for sam_layer in (r for r in sam["Resources"].values() if r["Type"] == "AWS::Serverless::LayerVersion"):
        assert sam_layer["Metadata"]["BuildArchitecture"] == {"Ref": "Architecture"}
    spec = sam["Parameters"]["Architecture"]
    assert spec["Default"] == "arm64" and sorted(spec["AllowedValues"]) == ["arm64", "x86_64"]


def test_aws_endpoint_url_is_declared_empty(sam: dict[str, Any]) -> None:
    """`sam local` passes a function only the variables the template declares: declared (empty in
    AWS, where boto3 ignores an empty value), env.json can point boto3 at moto."""
    assert sam["Globals"]["Function"]["Environment"]["Variables"]["AWS_ENDPOINT_URL"] == ""


def test_one_bff_layer_and_tracing_only_when_on(cfn: dict[str, Any]) -> None:
    """Every function has the BFF layer; the tracing layer (the X-Ray SDK and the second botocore it
    brings) exists and is added only under the TracingOn condition."""
    layers = _resources(cfn, "AWS::Lambda::LayerVersion")  # SAM suffixes a hash to the logical ids
    bff, tracing = (next(lid for lid in layers if lid.startswith(p)) for p in ("BffLayer", "TracingLayer"))
    assert len(layers) == 2, sorted(layers)
    assert layers[tracing]["Condition"] == "TracingOn"
    assert "Condition" not in layers[bff]
    functions = _resources(cfn, "AWS::Lambda::Function")
    assert len(functions) == len(FUNCTIONS)
    conditional = {"Fn::If": ["TracingOn", {"Ref": tracing}, {"Ref": "AWS::NoValue"}]}
    for function_id, function in functions.items():
        assert function["Properties"].get("Layers") == [{"Ref": bff}, conditional], function_id
        assert function["Properties"]["Handler"] == "app.handler", function_id


def test_bff_layer_pins_no_xray_sdk_and_no_botocore() -> None:
    """``sam build`` installs a layer's requirements.txt as it is, without .pyc: a botocore there would
    shadow the runtime's precompiled one and be compiled on every cold start."""
    pins = {
        line.split("==", 1)[0].lower()
        for line in (ROOT / "layers" / "bff" / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith((" ", "#"))
    }
    assert "aws-lambda-powertools" in pins
    assert not pins & {"aws-xray-sdk", "botocore", "boto3", "urllib3", "python-dateutil", "wrapt"}, pins
    tracing = (ROOT / "layers" / "tracing" / "requirements.txt").read_text(encoding="utf-8")
    assert tracing.startswith("# Generated") and "\naws-xray-sdk==" in tracing


def test_session_table_is_on_demand_with_ttl_and_pitr(cfn: dict[str, Any]) -> None:
    (table,) = _resources(cfn, "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in props
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}  # store.py writes `ttl`
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    keys = {k["AttributeName"]: k["KeyType"] for k in props["KeySchema"]}
    assert keys == {"pk": "HASH", "sk": "RANGE"}
    assert table.get("DeletionPolicy") == "Retain", "a stack delete would take every session with it"


def _routes(cfn: dict[str, Any]) -> dict[str, str]:
    """Route key -> the function its Lambda proxy integration (payload 2.0) invokes, on ``HttpApi``."""
    routes: dict[str, str] = {}
    for route in _resources(cfn, "AWS::ApiGatewayV2::Route").values():
        props = route["Properties"]
        assert props["ApiId"] == {"Ref": "HttpApi"}, props
        target = re.fullmatch(r"integrations/\$\{(\w+)\}", props["Target"]["Fn::Sub"])
        assert target, props["Target"]
        integration = cfn["Resources"][target.group(1)]
        assert integration["Type"] == "AWS::ApiGatewayV2::Integration", target.group(1)
        assert integration["Properties"]["ApiId"] == {"Ref": "HttpApi"}
        assert integration["Properties"]["IntegrationType"] == "AWS_PROXY"
        assert integration["Properties"]["PayloadFormatVersion"] == "2.0", props["RouteKey"]
        (function_id, attribute) = integration["Properties"]["IntegrationUri"]["Fn::GetAtt"]
        assert attribute == "Arn"
        routes[props["RouteKey"]] = function_id
    return routes


def test_every_http_api_route_goes_to_its_function(cfn: dict[str, Any]) -> None:
    assert _routes(cfn) == ROUTES


def test_the_http_api_is_plain_resources_that_a_bff_update_leaves_alone(cfn: dict[str, Any]) -> None:
    """No OpenAPI body: API Gateway re-imports a changed body over the whole API, removing the
    routes and authorizers other stacks (and BffSession) add. Every route of the dispatch tables is
    a Route resource of this template, to its function, which API Gateway may invoke."""
    from testkit.functions import load_handler

    (api,) = _resources(cfn, "AWS::ApiGatewayV2::Api").values()
    assert not {"Body", "BodyS3Location", "BasePath"} & set(api["Properties"])
    assert api["Properties"]["ProtocolType"] == "HTTP"
    dispatch = {key: FUNCTIONS[name] for name in ("session", "token") for key in load_handler(name).routes}
    assert _routes(cfn) == dispatch
    stage = _stage(cfn)
    assert stage["ApiId"] == {"Ref": "HttpApi"} and stage["AutoDeploy"] is True
    keys = {r["Properties"]["RouteKey"]: lid for lid, r in _resources(cfn, "AWS::ApiGatewayV2::Route").items()}
    (stage_id,) = _resources(cfn, "AWS::ApiGatewayV2::Stage")
    assert set(cfn["Resources"][stage_id]["DependsOn"]) == {keys[k] for k in stage["RouteSettings"]}
    invokable = {}
    for permission in _resources(cfn, "AWS::Lambda::Permission").values():
        props = permission["Properties"]
        assert props["Principal"] == "apigateway.amazonaws.com" and props["Action"] == "lambda:InvokeFunction"
        assert props["SourceArn"]["Fn::Sub"].startswith("arn:${AWS::Partition}:execute-api:${AWS::Region}:")
        function_id = props["FunctionName"]["Fn::GetAtt"][0]
        invokable[function_id] = props["SourceArn"]["Fn::Sub"].split(":${AWS::AccountId}:", 1)[1]
    assert invokable == {
        "SessionFunction": "${HttpApi}/*",
        "TokenFunction": "${HttpApi}/*",
        "AuthorizerFunction": "${HttpApi}/authorizers/${BffSessionAuthorizer}",
    }


def test_the_api_and_its_stage_keep_the_logical_ids_a_0_1_0_stack_has(cfn: dict[str, Any]) -> None:
    """A stack deployed from 0.1.0 (an AWS::Serverless::HttpApi) has the API as ``HttpApi`` and its
    ``$default`` stage as ``HttpApiApiGatewayDefaultStage``, the ids SAM gave them: with the same ids
    the update changes both in place instead of creating a second ``$default`` stage, which API
    Gateway refuses. docs/deploy.md's upgrade steps name the stage."""
    assert set(_resources(cfn, "AWS::ApiGatewayV2::Api")) == {"HttpApi"}
    assert set(_resources(cfn, "AWS::ApiGatewayV2::Stage")) == {"HttpApiApiGatewayDefaultStage"}
    assert "`HttpApiApiGatewayDefaultStage`" in (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")


def test_cors_allows_credentials_only_for_the_app_origin(cfn: dict[str, Any]) -> None:
    (api,) = _resources(cfn, "AWS::ApiGatewayV2::Api").values()
    cors = api["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == [{"Ref": "AppOrigin"}]
    assert cors["AllowCredentials"] is True


# Response headers script on another origin may read without Access-Control-Expose-Headers.
CORS_SAFELISTED_RESPONSE_HEADERS = {
    "cache-control",
    "content-language",
    "content-length",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
}


def test_cors_agrees_with_the_routes_and_the_proxy(cfn: dict[str, Any]) -> None:
    """Every method a route serves (``ANY``: every method an upstream may allow, but ``OPTIONS``,
    which API Gateway answers itself as a preflight), ``X-CSRF`` and every request header the proxy
    forwards may come from the app's origin; every proxied response header script cannot read by
    default is exposed."""
    from hitkey_bff.proxy.headers import REQUEST_HEADERS, RESPONSE_HEADERS
    from hitkey_bff.proxy.upstreams import METHODS

    (api,) = _resources(cfn, "AWS::ApiGatewayV2::Api").values()
    cors = api["Properties"]["CorsConfiguration"]
    served: set[str] = set()
    for key in _routes(cfn):
        method = key.split(" ", 1)[0]
        served |= set(METHODS) - {"OPTIONS"} if method == "ANY" else {method}
    assert served >= {"GET", "POST", "DELETE", "PUT", "PATCH"}
    assert set(cors["AllowMethods"]) == served and len(cors["AllowMethods"]) == len(served)
    assert set(cors["AllowHeaders"]) == {"x-csrf"} | REQUEST_HEADERS
    assert set(cors["ExposeHeaders"]) == RESPONSE_HEADERS - CORS_SAFELISTED_RESPONSE_HEADERS


@pytest.mark.parametrize(
    ("parameter", "env", "good", "bad"),
    [
        ("HitKeyClientId", "HITKEY_CLIENT_ID", [], []),
        (
            "AppOrigin",
            "APP_ORIGIN",
            ["https://app.example.com", "http://localhost:3000"],
            ["https://app.example.com/", "https://app.example.com/path", "app.example.com"],
        ),
        (
            "RedirectUri",
            "REDIRECT_URI",
            ["https://app.example.com/auth/callback"],
            ["https://app.example.com/auth/callback?x=1", "https://app.example.com/callback", "/auth/callback"],
        ),
    ],
)
def test_required_parameter_reaches_every_function(
    sam: dict[str, Any], cfn: dict[str, Any], parameter: str, env: str, good: list[str], bad: list[str]
) -> None:
    spec = sam["Parameters"][parameter]
    assert spec["Type"] == "String"
    assert "Default" not in spec, f"{parameter} must be given at deploy time"
    pattern = spec.get("AllowedPattern")
    if pattern:
        for value in good:
            assert re.fullmatch(pattern, value), (parameter, value)
        for value in bad:
            assert not re.fullmatch(pattern, value), (parameter, value)
    else:
        assert spec.get("MinLength", 0) >= 1
    for function_id, function in _resources(cfn, "AWS::Lambda::Function").items():
        assert function["Properties"]["Environment"]["Variables"][env] == {"Ref": parameter}, function_id


def test_outputs(sam: dict[str, Any]) -> None:
    outputs = sam["Outputs"]
    api_url = outputs["ApiUrl"]["Value"]["Fn::Sub"]
    assert api_url.startswith("https://${HttpApi}.execute-api."), api_url
    assert outputs["CallbackUrl"]["Value"] == {"Ref": "RedirectUri"}
    assert outputs["ClientSecretArn"]["Value"] == {"Ref": "ClientSecret"}  # docs/deploy.md relies on it


# The CloudFront site stack, deploy/site.yaml (docs/deploy.md tells readers to deploy it)
# --------------------------------------------------------------------------------------------

CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
SITE = ROOT / "deploy" / "site.yaml"


@pytest.fixture(scope="module")
def site_snippet() -> tuple[str, dict[str, Any]]:
    """The CloudFront stack docs/deploy.md tells readers to deploy, as text and as data."""
    return SITE.read_text(encoding="utf-8"), load_template(SITE)


def test_deploy_guide_points_at_the_site_stack_instead_of_listing_it() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "deploy/site.yaml" in guide
    listings = [b for b in re.findall(r"^```ya?ml\n(.*?)^```$", guide, re.S | re.M) if "AWS::CloudFront::" in b]
    assert listings == [], "docs/deploy.md should reference deploy/site.yaml, not list a copy that can drift"


def test_deploy_guide_cloudfront_example_lints_clean(site_snippet: tuple[str, dict[str, Any]]) -> None:
    matches = lint(site_snippet[0], config=ManualArgs(regions=[REGION]))
    assert not matches, "\n".join(str(m) for m in matches)


def test_deploy_guide_cloudfront_example_routes_auth_to_the_api_uncached(
    site_snippet: tuple[str, dict[str, Any]],
) -> None:
    (distribution,) = (r for r in site_snippet[1]["Resources"].values() if r["Type"] == "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    assert "CustomErrorResponses" not in config, "distribution-wide error pages would rewrite the BFF's 401/403"
    assert "S3OriginConfig" in origins[config["DefaultCacheBehavior"]["TargetOriginId"]]
    (auth,) = (b for b in config["CacheBehaviors"] if b["PathPattern"] == "/auth/*")
    assert "CustomOriginConfig" in origins[auth["TargetOriginId"]]
    assert auth["CachePolicyId"] == CACHING_DISABLED
    assert auth["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert {"GET", "POST"} <= set(auth["AllowedMethods"])
    assert "FunctionAssociations" not in auth, "the SPA fallback must not touch /auth/*"
    (proxy,) = (b for b in config["CacheBehaviors"] if b["PathPattern"] == "/api/*")  # the API proxy
    assert {k: v for k, v in proxy.items() if k != "PathPattern"} == {
        k: v for k, v in auth.items() if k != "PathPattern"
    }, "/api/* goes to the BFF exactly like /auth/*: uncached, cookies and headers, all methods"
    assert set(proxy["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}


def test_every_function_logs_to_one_group_with_a_retention(cfn: dict[str, Any]) -> None:
    """Lambda's default log groups keep logs forever; ours expire after LogRetentionInDays."""
    (group_id,) = _resources(cfn, "AWS::Logs::LogGroup")
    group = cfn["Resources"][group_id]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert cfn["Parameters"]["LogRetentionInDays"]["Default"] == 30
    for function_id in FUNCTIONS.values():
        config = cfn["Resources"][function_id]["Properties"]["LoggingConfig"]
        assert config["LogGroup"] == {"Ref": group_id}, function_id


# Operations: alarms, dashboard, tracing, throttling (docs/operations.md)
# --------------------------------------------------------------------------------------------

OPERATIONS_DOC = ROOT / "docs" / "operations.md"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ops"
PSEUDO = {"AWS::Region": REGION, "AWS::StackName": "hitkey-bff", "AWS::AccountId": "123456789012"}

# Metrics the alarms and the dashboard read before the layer emits them (none today): listed here
# they are a strict xfail, so the test says when one starts being emitted.
PENDING_METRICS: set[str] = set()


def _params(sam: dict[str, Any], **overrides: str) -> dict[str, Any]:
    values = {name: spec.get("Default") for name, spec in sam["Parameters"].items()}
    values.update(overrides)
    return values


def _evaluate(value: Any, conditions: dict[str, Any], params: dict[str, Any]) -> Any:
    """The value CloudFormation would compute for Ref/Fn::Equals/Fn::Not/Fn::If/Condition."""
    if isinstance(value, list):
        return [_evaluate(v, conditions, params) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"} and value["Ref"] in params:
        return params[value["Ref"]]
    if set(value) == {"Condition"}:
        return _evaluate(conditions[value["Condition"]], conditions, params)
    if set(value) == {"Fn::Equals"}:
        a, b = (_evaluate(v, conditions, params) for v in value["Fn::Equals"])
        return str(a) == str(b)
    if set(value) == {"Fn::Not"}:
        return not _evaluate(value["Fn::Not"][0], conditions, params)
    if set(value) == {"Fn::If"}:
        name, yes, no = value["Fn::If"]
        chosen = yes if _evaluate(conditions[name], conditions, params) else no
        return _evaluate(chosen, conditions, params)
    return {k: _evaluate(v, conditions, params) for k, v in value.items()}


def _resolved(sam: dict[str, Any], value: Any, **overrides: str) -> Any:
    """``value`` with the template's conditions evaluated for its defaults plus ``overrides``;
    properties that come out as AWS::NoValue are dropped, as CloudFormation does."""
    out = _evaluate(value, sam["Conditions"], _params(sam, **overrides))
    if isinstance(out, dict):
        return {k: v for k, v in out.items() if v != {"Ref": "AWS::NoValue"}}
    return out


@pytest.fixture(scope="module")
def cfn_traced(sam: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """template.yaml after the SAM transform with Tracing=Active."""
    template = copy.deepcopy(sam)
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in props:
                props[key] = f"s3://artifacts/{logical_id}.zip"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        yield transform(template, {"Tracing": "Active"}, _NoManagedPolicyLookups())


def _alarms(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in _resources(cfn, "AWS::CloudWatch::Alarm").items()}


def _alarm_metrics(alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric name, dimensions) of every metric an alarm reads."""
    if "MetricName" in alarm:
        dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        return [(alarm["Namespace"], alarm["MetricName"], dims)]
    out = []
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            out.append((metric["Namespace"], metric["MetricName"], dims))
    return out


@pytest.mark.parametrize("function_id", FUNCTIONS.values())
@pytest.mark.parametrize(
    ("metric", "statistic"), [("Errors", "Sum"), ("Throttles", "Sum"), ("Duration", "p99")], ids=str
)
def test_every_function_has_its_lambda_alarms(
    cfn: dict[str, Any], function_id: str, metric: str, statistic: str
) -> None:
    matching = [
        a
        for a in _alarms(cfn).values()
        if a.get("Namespace") == "AWS/Lambda"
        and a.get("MetricName") == metric
        and a.get("Dimensions") == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
    ]
    assert len(matching) == 1, f"{function_id}: {len(matching)} alarms on {metric}"
    (alarm,) = matching
    assert statistic in (alarm.get("Statistic"), alarm.get("ExtendedStatistic")), alarm
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_p99_duration_alarm_fires_below_the_timeout(sam: dict[str, Any]) -> None:
    timeout_ms = sam["Globals"]["Function"]["Timeout"] * 1000
    threshold = sam["Parameters"]["DurationP99ThresholdMs"]["Default"]
    assert 0.5 * timeout_ms <= threshold < timeout_ms, (threshold, timeout_ms)
    for function in (r for r in sam["Resources"].values() if r["Type"] == "AWS::Serverless::Function"):
        assert "Timeout" not in function["Properties"], "a per-function timeout needs its own p99 threshold"


def test_api_5xx_rate_alarm_divides_5xx_by_requests_of_this_api(cfn: dict[str, Any]) -> None:
    (alarm,) = (a for a in _alarms(cfn).values() if ("AWS/ApiGateway", "5xx") in {m[:2] for m in _alarm_metrics(a)})
    dims = {"ApiId": {"Ref": "HttpApi"}, "Stage": "$default"}
    assert sorted(_alarm_metrics(alarm), key=str) == sorted(
        [("AWS/ApiGateway", "5xx", dims), ("AWS/ApiGateway", "Count", dims)], key=str
    )
    (expression,) = (q["Expression"] for q in alarm["Metrics"] if q.get("ReturnData"))
    assert expression == {"Fn::Sub": "IF(requests >= ${Api5xxMinRequests}, 100 * errors / requests, 0)"}
    assert alarm["Threshold"] == {"Ref": "Api5xxRatePercent"}


def test_dynamodb_throttle_alarm_watches_the_session_table(cfn: dict[str, Any]) -> None:
    (alarm,) = (a for a in _alarms(cfn).values() if any(m[0] == "AWS/DynamoDB" for m in _alarm_metrics(a)))
    table = {"TableName": {"Ref": "SessionTable"}}
    assert sorted(_alarm_metrics(alarm), key=str) == sorted(
        [("AWS/DynamoDB", "ReadThrottleEvents", table), ("AWS/DynamoDB", "WriteThrottleEvents", table)], key=str
    )


def _emitted_dimensions() -> tuple[str, dict[str, str]]:
    """Namespace and dimensions of a metric the layer emits with ``metrics.add_metric``, from the
    layer's own Metrics object serialising an EMF blob."""
    from hitkey_bff.observability import metrics

    metrics.add_metric(name="Probe", unit="Count", value=1)
    try:
        blob = metrics.serialize_metric_set()
    finally:
        metrics.clear_metrics()
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    (names,) = directive["Dimensions"]
    return directive["Namespace"], {name: blob[name] for name in names}


@pytest.mark.parametrize(
    ("metric", "extra_dimensions"),
    [("RefreshTokenRejected", {}), ("RefreshOutcomeLost", {}), ("SessionsEnded", {"reason": "reuse"})],
)
def test_security_alarms_read_the_metrics_as_the_layer_emits_them(
    cfn: dict[str, Any], sam: dict[str, Any], metric: str, extra_dimensions: dict[str, str]
) -> None:
    """CloudWatch matches namespace, name and the exact dimension set: one difference and the
    alarm watches a metric that never gets a datapoint."""
    namespace, dims = _emitted_dimensions()
    assert sam["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == namespace
    wanted = (namespace, metric, {**dims, **extra_dimensions})
    matching = [a for a in _alarms(cfn).values() if wanted in _alarm_metrics(a)]
    assert len(matching) == 1, f"no alarm on {wanted}"


def _layer_metric_names() -> set[str]:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "layers" / "bff" / "hitkey_bff").rglob("*.py"))
    names = set(re.findall(r"""add_metric\(\s*name=["'](\w+)["']""", source))
    names |= set(re.findall(r"""single_metric\(\s*name=["'](\w+)["']""", source))
    if "capture_cold_start_metric=True" in source:
        names.add("ColdStart")  # emitted by Powertools' log_metrics
    return names


def _custom_metric_names(cfn: dict[str, Any], namespace: str) -> set[str]:
    names = {m[1] for a in _alarms(cfn).values() for m in _alarm_metrics(a) if m[0] == namespace}
    for widget in _dashboard(cfn)["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            if row and row[0] == namespace:
                names.add(row[1])
            elif row and isinstance(row[0], dict):
                names |= set(re.findall(r'MetricName="(\w+)"', row[0].get("expression", "")))
    return names


def _metric_name_cases() -> list[Any]:
    cfn_names = {
        "ColdStart",
        "Logins",
        "LoginsStarted",
        "LoginsFailed",
        "Refreshes",
        "RefreshJoined",
        "RefreshTokenRejected",
        "AwsFailures",
        "RefreshOutcomeLost",
        "RefreshSuppressed",
        "SessionsEnded",
        *PENDING_METRICS,
    }
    return [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason="not emitted by the layer yet"))
        if n in PENDING_METRICS
        else n
        for n in sorted(cfn_names)
    ]


def test_alarms_and_dashboard_use_exactly_the_listed_custom_metrics(cfn: dict[str, Any]) -> None:
    namespace, _ = _emitted_dimensions()
    listed = {p if isinstance(p, str) else p.values[0] for p in _metric_name_cases()}
    assert _custom_metric_names(cfn, namespace) == listed


@pytest.mark.parametrize("metric", _metric_name_cases())
def test_custom_metric_read_by_alarms_or_dashboard_is_emitted_by_the_layer(metric: str) -> None:
    assert metric in _layer_metric_names(), f"no add_metric(name={metric!r}) in the layer"


@pytest.mark.parametrize("metric", sorted(PENDING_METRICS | {"RefreshTokenRejected", "Logins", "ColdStart"}))
def test_custom_metrics_are_documented(metric: str) -> None:
    assert f"`{metric}`" in OPERATIONS_DOC.read_text(encoding="utf-8")


def test_every_alarm_threshold_is_a_documented_parameter(cfn: dict[str, Any], sam: dict[str, Any]) -> None:
    doc = OPERATIONS_DOC.read_text(encoding="utf-8")
    for alarm_id, alarm in _alarms(cfn).items():
        ref = alarm["Threshold"]
        assert set(ref) == {"Ref"}, f"{alarm_id}: a literal threshold cannot be tuned per stack"
        spec = sam["Parameters"][ref["Ref"]]
        assert spec["Type"] == "Number" and "Default" in spec, ref
        assert f"`{ref['Ref']}`" in doc, f"{ref['Ref']} is not explained in docs/operations.md"
        assert alarm["TreatMissingData"] == "notBreaching", alarm_id  # our metrics only exist when nonzero


@pytest.mark.parametrize(("topic", "notified"), [("", False), (TOPIC, True)])
def test_alarms_notify_the_topic_only_when_one_is_given(
    cfn: dict[str, Any], sam: dict[str, Any], topic: str, notified: bool
) -> None:
    alarms = _alarms(cfn)
    assert len(alarms) == 3 * len(FUNCTIONS) + 5
    for alarm_id, alarm in alarms.items():
        props = _resolved(sam, alarm, AlarmTopicArn=topic)
        for key in ("AlarmActions", "OKActions"):
            if notified:
                assert props[key] == [TOPIC], (alarm_id, key)
            else:
                assert key not in props, (alarm_id, key)


def test_alarm_topic_parameter_accepts_an_sns_arn_or_nothing(sam: dict[str, Any]) -> None:
    spec = sam["Parameters"]["AlarmTopicArn"]
    assert spec["Default"] == ""
    for good in ("", TOPIC, "arn:aws-us-gov:sns:us-gov-west-1:123456789012:ops-alerts.fifo"):
        assert re.fullmatch(spec["AllowedPattern"], good), good
    for bad in ("ops", "arn:aws:sqs:us-east-1:123456789012:ops", "arn:aws:sns:us-east-1:1234:ops"):
        assert not re.fullmatch(spec["AllowedPattern"], bad), bad


def _dashboard(cfn: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's body after CloudFormation's substitution (parameters at their defaults)."""
    (dashboard,) = _resources(cfn, "AWS::CloudWatch::Dashboard").values()
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(text, str)

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in PSEUDO:
            return PSEUDO[name]
        if name in cfn["Parameters"]:
            return str(cfn["Parameters"][name]["Default"])
        assert name in cfn["Resources"], f"${{{name}}} names nothing in the template"
        return f"{name}-physical-id"

    body: dict[str, Any] = json.loads(re.sub(r"\$\{([\w:.]+)\}", value, text))
    return body


def test_dashboard_body_is_json_with_the_operations_views(cfn: dict[str, Any]) -> None:
    body = _dashboard(cfn)
    metrics = [
        (row[0], row[1], row[-1].get("stat") if isinstance(row[-1], dict) else None, w["properties"].get("stat"))
        for w in body["widgets"]
        for row in w.get("properties", {}).get("metrics", [])
        if isinstance(row[0], str)
    ]
    shown = {(ns, name) for ns, name, _, _ in metrics}
    for needed in [
        ("AWS/ApiGateway", "Count"),
        ("AWS/ApiGateway", "4xx"),
        ("AWS/ApiGateway", "5xx"),
        ("AWS/Lambda", "Duration"),
        ("HitKeyBff", "ColdStart"),
        ("HitKeyBff", "Logins"),
        ("HitKeyBff", "Refreshes"),
    ]:
        assert needed in shown, needed
    duration_stats = {row_stat or widget_stat for ns, name, row_stat, widget_stat in metrics if name == "Duration"}
    assert {"p50", "p99"} <= duration_stats
    searches = [
        row[0]["expression"]
        for w in body["widgets"]
        for row in w.get("properties", {}).get("metrics", [])
        if isinstance(row[0], dict)
    ]
    assert any("SessionsEnded" in s and "{HitKeyBff,reason,service}" in s for s in searches), searches
    for widget in body["widgets"]:
        assert widget.get("properties", {}).get("region", REGION) == REGION


def test_dashboard_charts_cold_starts_of_every_function(cfn: dict[str, Any]) -> None:
    rows = [
        row
        for w in _dashboard(cfn)["widgets"]
        for row in w.get("properties", {}).get("metrics", [])
        if row[:2] == ["HitKeyBff", "ColdStart"]
    ]
    # Powertools' ColdStart carries function_name (the Lambda's physical name) and service.
    assert {tuple(r[2:6]) for r in rows} == {
        ("function_name", f"{f}-physical-id", "service", "hitkey-bff") for f in FUNCTIONS.values()
    }


def test_tracing_is_off_by_default(sam: dict[str, Any], cfn: dict[str, Any]) -> None:
    assert sam["Parameters"]["Tracing"]["Default"] == "Disabled"
    env = _resolved(sam, sam["Globals"]["Function"]["Environment"]["Variables"])
    assert env["TRACING"] == "false"
    for function_id in FUNCTIONS.values():
        props = cfn["Resources"][function_id]["Properties"]
        assert "TracingConfig" not in props, function_id
        role = cfn["Resources"][_role_id(cfn, function_id)]["Properties"]
        assert XRAY_WRITE_ONLY not in role["ManagedPolicyArns"], function_id


@pytest.mark.parametrize("function_id", FUNCTIONS.values())
def test_tracing_active_traces_every_function_with_xray_write_access_only(
    sam: dict[str, Any], cfn_traced: dict[str, Any], function_id: str
) -> None:
    env = _resolved(sam, sam["Globals"]["Function"]["Environment"]["Variables"], Tracing="Active")
    assert env["TRACING"] == "true"  # what hitkey_bff.tracing reads
    props = cfn_traced["Resources"][function_id]["Properties"]
    assert props["TracingConfig"] == {"Mode": {"Ref": "Tracing"}}
    role = cfn_traced["Resources"][_role_id(cfn_traced, function_id)]["Properties"]
    aws_managed = [a for a in role["ManagedPolicyArns"] if isinstance(a, str)]
    assert sorted(aws_managed) == sorted([BASIC_EXECUTION, XRAY_WRITE_ONLY])
    required, optional = EXPECTED_ACTIONS[function_id]  # the data permissions do not change
    assert required <= granted_actions(cfn_traced, function_id) <= required | optional


def test_tracing_flag_matches_the_layer(sam: dict[str, Any]) -> None:
    from hitkey_bff import tracing

    env = sam["Globals"]["Function"]["Environment"]["Variables"]
    for value, on in (("Active", True), ("Disabled", False)):
        flag = _resolved(sam, env, Tracing=value)["TRACING"]
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TRACING", flag)
            assert tracing.enabled() is on


def _stage(cfn: dict[str, Any]) -> dict[str, Any]:
    (stage,) = _resources(cfn, "AWS::ApiGatewayV2::Stage").values()
    props: dict[str, Any] = stage["Properties"]
    return props


def test_http_api_throttles_every_route_and_tighter_on_login_and_refresh(
    cfn: dict[str, Any], sam: dict[str, Any]
) -> None:
    stage = _stage(cfn)
    assert stage["StageName"] == "$default"
    default = _resolved(sam, stage["DefaultRouteSettings"])
    rate, burst = default["ThrottlingRateLimit"], default["ThrottlingBurstLimit"]
    assert (rate, burst) == (100, 200)
    routes = set(ROUTES)
    per_route = _resolved(sam, stage["RouteSettings"])
    assert set(per_route) == {"GET /auth/login", "POST /auth/refresh"}
    assert set(per_route) <= routes, "a RouteSettings key that is no route is silently ignored"
    for route, settings in per_route.items():
        assert settings["ThrottlingRateLimit"] < rate, route
        assert settings["ThrottlingBurstLimit"] < burst, route
        assert settings["ThrottlingBurstLimit"] >= settings["ThrottlingRateLimit"], route
    for name in ("ThrottlingRateLimit", "LoginThrottlingRateLimit", "RefreshThrottlingBurstLimit"):
        assert f"`{name}`" in OPERATIONS_DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize(("value", "disabled"), [("false", False), ("true", True)])
def test_execute_api_endpoint_can_be_disabled(
    cfn: dict[str, Any], sam: dict[str, Any], value: str, disabled: bool
) -> None:
    assert sam["Parameters"]["DisableExecuteApiEndpoint"]["Default"] == "false"
    (api,) = _resources(cfn, "AWS::ApiGatewayV2::Api").values()
    config = _resolved(sam, api["Properties"], DisableExecuteApiEndpoint=value)
    assert config["DisableExecuteApiEndpoint"] is disabled


def _header_policies(site: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The security headers of each cache behaviour's response-headers policy, by path pattern."""
    resources = site["Resources"]
    (distribution,) = (r for r in resources.values() if r["Type"] == "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    behaviours = {"default": config["DefaultCacheBehavior"]} | {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    out = {}
    for pattern, behaviour in behaviours.items():
        ref = behaviour["ResponseHeadersPolicyId"]
        policy = resources[ref["Ref"]]
        assert policy["Type"] == "AWS::CloudFront::ResponseHeadersPolicy"
        out[pattern] = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    return out


def test_deploy_guide_cloudfront_example_sends_hsts_and_security_headers(
    site_snippet: tuple[str, dict[str, Any]],
) -> None:
    policies = _header_policies(site_snippet[1])
    assert set(policies) == {"default", "/auth/*", "/api/*"}
    for pattern, headers in policies.items():
        hsts = headers["StrictTransportSecurity"]
        assert hsts["AccessControlMaxAgeSec"] == 63072000, pattern  # two years
        assert hsts["IncludeSubdomains"] is False and hsts["Override"] is True, pattern  # why: docs/deploy.md
        assert headers["ContentTypeOptions"]["Override"] is True, pattern
        assert headers["FrameOptions"]["FrameOption"] == "DENY", pattern
        assert "ReferrerPolicy" in headers, pattern
    auth = policies["/auth/*"]
    assert auth["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"  # a callback URL carries code and state
    csp = auth["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    assert {d.strip() for d in csp.split(";")} == {"default-src 'none'", "frame-ancestors 'none'"}


def test_deploy_guide_states_the_cors_configuration(sam: dict[str, Any]) -> None:
    """docs/deploy.md's "Cross-origin SPAs (CORS)" quotes the template's lists and numbers."""
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = guide.split("## Cross-origin SPAs (CORS)", 1)[1].split("\n## ", 1)[0]
    cors = sam["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    assert f"`AllowMethods: [{', '.join(cors['AllowMethods'])}]`" in section
    assert f"`MaxAge: {cors['MaxAge']}`" in section
    assert "`AllowCredentials: true`" in section and cors["AllowCredentials"] is True
    exposed = re.search(r"cannot read\s+otherwise \(([^)]*)\)", section)
    assert exposed is not None
    assert re.findall(r"`([a-z-]+)`", exposed.group(1)) == sorted(cors["ExposeHeaders"])
