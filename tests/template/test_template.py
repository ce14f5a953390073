"""template.yaml as CloudFormation will see it: translated by aws-sam-translator, then audited.

Least privilege per function is the point of one-function-per-route, so every role's effective
permissions (inline policies, customer-managed policies by Ref, policies attached from the other
side with ``Roles``) are resolved from the translated template and compared to what each route
needs - no more, no less. The CloudFront example in docs/deploy.md is linted and checked here too.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]
from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

from local.resources import ROOT, load_template

TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
RUNTIME = "python3.12"

FUNCTIONS = {
    "login": "LoginFunction",
    "callback": "CallbackFunction",
    "session": "SessionFunction",
    "userinfo": "UserinfoFunction",
    "refresh": "RefreshFunction",
    "logout": "LogoutFunction",
}

ROUTES = {
    ("/auth/login", "get"): "LoginFunction",
    ("/auth/callback", "get"): "CallbackFunction",
    ("/auth/session", "get"): "SessionFunction",
    ("/auth/userinfo", "get"): "UserinfoFunction",
    ("/auth/refresh", "post"): "RefreshFunction",
    ("/auth/logout", "post"): "LogoutFunction",
}

TOKEN_USER = {
    "dynamodb:GetItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "secretsmanager:GetSecretValue",
}

# Exactly these actions, per function; the second set is what it MAY have on top (Query lets
# userinfo/refresh end all of a user's sessions when END_ALL_SESSIONS_ON_REUSE is on).
EXPECTED_ACTIONS: dict[str, tuple[set[str], set[str]]] = {
    "LoginFunction": ({"dynamodb:PutItem"}, set()),
    "CallbackFunction": (
        {"dynamodb:DeleteItem", "dynamodb:PutItem", "kms:GenerateDataKey", "secretsmanager:GetSecretValue"},
        set(),
    ),
    "SessionFunction": ({"dynamodb:GetItem"}, set()),
    "UserinfoFunction": (TOKEN_USER, {"dynamodb:Query"}),
    "RefreshFunction": (TOKEN_USER, {"dynamodb:Query"}),
    "LogoutFunction": ({"dynamodb:DeleteItem"}, set()),
}

# The partition-key prefix each function may touch, per DynamoDB action.
LEADING_KEYS: dict[str, dict[str, str]] = {
    "LoginFunction": {"dynamodb:PutItem": "LOGIN#*"},
    "CallbackFunction": {"dynamodb:DeleteItem": "LOGIN#*", "dynamodb:PutItem": "USER#*"},
    "SessionFunction": {"dynamodb:GetItem": "USER#*"},
    "UserinfoFunction": {a: "USER#*" for a in ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")},
    "RefreshFunction": {a: "USER#*" for a in ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")},
    "LogoutFunction": {"dynamodb:DeleteItem": "USER#*"},
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
        if arn == BASIC_EXECUTION:
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


def test_translates_to_six_lambda_functions_with_one_role_each(cfn: dict[str, Any]) -> None:
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
            assert prefixes == [expected], f"{st.source}: {action} on partition keys {prefixes}, expected [{expected}]"


@pytest.mark.parametrize("function_id", ["LoginFunction", "CallbackFunction"])
def test_sign_in_functions_cannot_read_any_item(cfn: dict[str, Any], function_id: str) -> None:
    """login and callback are reachable by anyone: they must not be able to read sessions."""
    reads = granted_actions(cfn, function_id) & DYNAMODB_READS
    assert not reads, f"{function_id} can read the table: {sorted(reads)}"


def test_session_function_has_no_kms_and_no_secret(cfn: dict[str, Any]) -> None:
    """/auth/session is the hot path and answers from DynamoDB alone; it never holds a token key."""
    granted = granted_actions(cfn, "SessionFunction")
    assert not {a for a in granted if a.startswith(("kms:", "secretsmanager:"))}, granted


@pytest.mark.parametrize("function_id", FUNCTIONS.values())
def test_kms_use_requires_the_token_encryption_context(cfn: dict[str, Any], function_id: str) -> None:
    """A function's role can use the key only for session tokens, with the context crypto.py sends."""
    from hitkey_bff.crypto import ENCRYPTION_CONTEXT

    for statement in effective_statements(cfn, function_id):
        if any(a.startswith("kms:") for a in statement.actions):
            expected = {f"kms:EncryptionContext:{k}": v for k, v in ENCRYPTION_CONTEXT.items()}
            assert statement.condition == {"StringEquals": expected}, statement.source


def test_token_user_policy_is_resolved_from_the_managed_policy(cfn: dict[str, Any]) -> None:
    """userinfo and refresh get their grants from TokenUserPolicy by Ref, and from nothing else."""
    for function_id in ("UserinfoFunction", "RefreshFunction"):
        role = cfn["Resources"][_role_id(cfn, function_id)]["Properties"]
        assert {"Ref": "TokenUserPolicy"} in role["ManagedPolicyArns"]
        sources = {s.source for s in effective_statements(cfn, function_id)}
        assert sources == {"TokenUserPolicy (managed)"}, sources
    users = [
        f
        for f in FUNCTIONS.values()
        if {"Ref": "TokenUserPolicy"} in cfn["Resources"][_role_id(cfn, f)]["Properties"]["ManagedPolicyArns"]
    ]
    assert sorted(users) == ["RefreshFunction", "UserinfoFunction"]


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
    (layer,) = _resources(cfn, "AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["CompatibleRuntimes"] == [RUNTIME]
    (sam_layer,) = (r for r in sam["Resources"].values() if r["Type"] == "AWS::Serverless::LayerVersion")
    assert sam_layer["Metadata"]["BuildMethod"] == RUNTIME  # what `sam build` builds the layer with


def test_functions_and_layer_share_one_architecture(cfn: dict[str, Any], sam: dict[str, Any]) -> None:
    """The layer carries compiled wheels (cryptography, cffi): built for another CPU, every import fails."""
    archs = {
        repr(r["Properties"].get("Architectures", ["x86_64"]))
        for r in _resources(cfn, "AWS::Lambda::Function").values()
    }
    assert archs == {repr([{"Ref": "Architecture"}])}, archs  # all follow the parameter
    (layer,) = _resources(cfn, "AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    (sam_layer,) = (r for r in sam["Resources"].values() if r["Type"] == "AWS::Serverless::LayerVersion")
    assert sam_layer["Metadata"]["BuildArchitecture"] == {"Ref": "Architecture"}
    spec = sam["Parameters"]["Architecture"]
    assert spec["Default"] == "arm64" and sorted(spec["AllowedValues"]) == ["arm64", "x86_64"]


def test_aws_endpoint_url_is_declared_empty(sam: dict[str, Any]) -> None:
    """`sam local` passes a function only the variables the template declares: declared (empty in
    AWS, where boto3 ignores an empty value), env.json can point boto3 at moto."""
    assert sam["Globals"]["Function"]["Environment"]["Variables"]["AWS_ENDPOINT_URL"] == ""


def test_one_layer_shared_by_all_six_functions(cfn: dict[str, Any]) -> None:
    layers = _resources(cfn, "AWS::Lambda::LayerVersion")
    assert len(layers) == 1, sorted(layers)
    (layer_id,) = layers
    functions = _resources(cfn, "AWS::Lambda::Function")
    assert len(functions) == 6
    for function_id, function in functions.items():
        assert function["Properties"].get("Layers") == [{"Ref": layer_id}], function_id
        assert function["Properties"]["Handler"] == "app.handler", function_id


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


_INTEGRATION_TARGET = re.compile(r"/functions/\$\{(\w+)\.Arn\}/invocations$")


def test_six_http_api_routes_each_to_its_function(cfn: dict[str, Any]) -> None:
    (api,) = _resources(cfn, "AWS::ApiGatewayV2::Api").values()
    routes: dict[tuple[str, str], str] = {}
    for path, methods in api["Properties"]["Body"]["paths"].items():
        for method, operation in methods.items():
            integration = operation["x-amazon-apigateway-integration"]
            assert integration["payloadFormatVersion"] == "2.0", (path, method)
            match = _INTEGRATION_TARGET.search(integration["uri"]["Fn::Sub"])
            assert match, integration["uri"]
            routes[(path, method)] = match.group(1)
    assert routes == ROUTES


def test_cors_allows_credentials_only_for_the_app_origin(cfn: dict[str, Any]) -> None:
    (api,) = _resources(cfn, "AWS::ApiGatewayV2::Api").values()
    cors = api["Properties"]["Body"]["x-amazon-apigateway-cors"]
    assert cors["allowOrigins"] == [{"Ref": "AppOrigin"}]
    assert cors["allowCredentials"] is True


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


# docs/deploy.md's CloudFront example
# --------------------------------------------------------------------------------------------

CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


@pytest.fixture(scope="module")
def site_snippet(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """The CloudFront stack that docs/deploy.md tells readers to deploy, as text and as data."""
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    blocks = [
        b for b in re.findall(r"^```yaml\n(.*?)^```$", guide, re.S | re.M) if "AWS::CloudFront::Distribution" in b
    ]
    assert len(blocks) == 1, "docs/deploy.md should have one CloudFront example"
    path = tmp_path_factory.mktemp("site") / "site.yaml"
    path.write_text(blocks[0], encoding="utf-8")
    return blocks[0], load_template(path)


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


def test_every_function_logs_to_one_group_with_a_retention(cfn: dict[str, Any]) -> None:
    """Lambda's default log groups keep logs forever; ours expire after LogRetentionInDays."""
    (group_id,) = _resources(cfn, "AWS::Logs::LogGroup")
    group = cfn["Resources"][group_id]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert cfn["Parameters"]["LogRetentionInDays"]["Default"] == 30
    for function_id in FUNCTIONS.values():
        config = cfn["Resources"][function_id]["Properties"]["LoggingConfig"]
        assert config["LogGroup"] == {"Ref": group_id}, function_id
