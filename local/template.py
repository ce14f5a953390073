"""The one reader of ``template.yaml``: CloudFormation short tags, functions (Globals applied), the
HTTP API's routes (``AWS::ApiGatewayV2::Route`` resources, a team's template's too) and Lambda
authorizers, its CORS configuration and single resources by type.

The gateway, ``resources``, ``package`` and the tests read the template through this module only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
LAMBDA_DEFAULT_TIMEOUT = 3
LAMBDA_DEFAULT_MEMORY = 128
FUNCTION = "AWS::Serverless::Function"


class CfnLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """A SafeLoader that also reads CloudFormation's short tags (``!Ref``, ``!GetAtt``, ``!Sub``...).

    Each becomes the long form as plain data - ``!Ref X`` is ``{"Ref": "X"}``, ``!GetAtt A.B`` is
    ``{"Fn::GetAtt": ["A", "B"]}``, ``!Condition C`` is ``{"Condition": "C"}`` and any other
    ``!Name v`` is ``{"Fn::Name": v}`` - so unknown tags load too. Nothing is ever instantiated.
    """


def _construct_cfn_tag(loader: Any, tag_suffix: str, node: Any) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    key = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    return {key: value}


CfnLoader.add_multi_constructor("!", _construct_cfn_tag)


def load_template(template_path: str | os.PathLike[str] = TEMPLATE) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (short tags included) into plain data."""
    with open(template_path, encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    if not isinstance(data, dict):
        raise ValueError(f"{template_path}: not a CloudFormation template (top level is not a mapping)")
    return data


def _resources(template: Mapping[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    """``(logical id, properties)`` of each of the template's resources of type ``kind``."""
    resources = (template.get("Resources") or {}).items()
    return [(lid, r.get("Properties") or {}) for lid, r in resources if isinstance(r, dict) and r.get("Type") == kind]


def resource_properties(template: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The properties of the template's one resource of type ``kind``."""
    found = _resources(template, kind)
    if len(found) != 1:
        raise ValueError(f"template.yaml must declare exactly one {kind}, found {len(found)}")
    return found[0][1]


def resolve(value: Any, parameters: Mapping[str, Any], default: Any = None, overrides: Mapping[str, Any] = {}) -> Any:
    """A literal, or a ``!Ref`` to a parameter (an override, else its Default); otherwise ``default``."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and isinstance(value["Ref"], str):
            if value["Ref"] in overrides:
                return overrides[value["Ref"]]
            param = parameters.get(value["Ref"])
            if isinstance(param, dict) and "Default" in param:
                return param["Default"]
        return default
    return default if value is None else value


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One ``AWS::Serverless::Function``, Globals applied."""

    logical_id: str
    code_uri: Path
    handler: str
    timeout: int
    memory_size: int
    runtime: str = ""
    layer_paths: tuple[Path, ...] = ()
    architectures: tuple[str, ...] = ("x86_64",)

    @property
    def handler_file(self) -> Path:
        """The file Lambda would import: ``app.handler`` -> ``<CodeUri>/app.py``."""
        module, _, _ = self.handler.rpartition(".")
        return self.code_uri / (module.replace(".", "/") + ".py")

    @property
    def module_name(self) -> str:
        """A unique ``sys.modules`` name - every function's file is called ``app.py``."""
        module, _, _ = self.handler.rpartition(".")
        safe = re.sub(r"\W", "_", f"{self.logical_id}__{module}")
        where = hashlib.sha256(str(self.code_uri).encode()).hexdigest()[:8]
        return f"_gateway_fn__{safe}__{where}"


@dataclass(frozen=True, slots=True)
class AuthorizerSpec:
    """One ``AWS::ApiGatewayV2::Authorizer`` of type ``REQUEST`` (a Lambda authorizer), parameters
    resolved; ``identity_sources`` as written (``$request.header.cookie``)."""

    logical_id: str
    name: str
    function: FunctionSpec
    identity_sources: tuple[str, ...] = ()
    ttl_seconds: int = 0
    simple_responses: bool = False
    payload_version: str = "2.0"


def _layer_paths(layers: Any, resources: Mapping[str, Any], base: Path) -> tuple[Path, ...]:
    paths: list[Path] = []
    for layer in layers if isinstance(layers, list) else []:
        ref = layer.get("Ref") if isinstance(layer, dict) else None  # else the ARN of a published layer
        resource = resources.get(ref) if isinstance(ref, str) else None
        props = (resource.get("Properties") or {}) if isinstance(resource, dict) else {}
        content = props.get("ContentUri") or props.get("Content")
        if not isinstance(content, str):
            continue  # nothing local to add
        root = (base / content).resolve()
        # A prebuilt layer keeps its packages in python/; a SAM-built one (BuildMethod) is the folder.
        paths.append(root / "python" if (root / "python").is_dir() else root)
    return tuple(paths)


def _function_spec(logical_id: str, template: Mapping[str, Any], base: Path, runnable: bool = True) -> FunctionSpec:
    """The ``AWS::Serverless::Function`` ``logical_id`` of ``template``, Globals applied: no such
    function, code in S3 or (``runnable``: the gateway imports it) no ``module.function`` handler
    is an error."""
    resource = (template.get("Resources") or {}).get(logical_id)
    if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
        raise ValueError(f"{logical_id!r} is not an AWS::Serverless::Function of the template")
    props = resource.get("Properties") or {}
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    parameters = template.get("Parameters") or {}

    def prop(name: str) -> Any:
        return props[name] if name in props else globals_fn.get(name)

    def number(name: str, default: int) -> int:
        """The function's value if it resolves to a number, else Globals', else ``default``."""
        for value in (props.get(name), globals_fn.get(name)):
            with contextlib.suppress(TypeError, ValueError):
                return int(resolve(value, parameters))
        return default

    code_uri = prop("CodeUri")
    if not isinstance(code_uri, str) or code_uri.startswith("s3://"):
        raise ValueError(f"{logical_id}: CodeUri must be a local folder to run locally, got {code_uri!r}")
    handler = resolve(prop("Handler"), parameters)
    if runnable and (not isinstance(handler, str) or "." not in handler):
        raise ValueError(f"{logical_id}: Handler must look like 'module.function', got {handler!r}")
    layers = list(globals_fn.get("Layers") or []) + list(props.get("Layers") or [])
    return FunctionSpec(
        logical_id=logical_id,
        code_uri=(base / code_uri).resolve(),
        handler=handler if isinstance(handler, str) else "",
        timeout=number("Timeout", LAMBDA_DEFAULT_TIMEOUT),
        memory_size=number("MemorySize", LAMBDA_DEFAULT_MEMORY),
        runtime=str(resolve(prop("Runtime"), parameters, "")),
        layer_paths=_layer_paths(layers, template.get("Resources") or {}, base),
        architectures=tuple(str(resolve(a, parameters, a)) for a in prop("Architectures") or ["x86_64"]),
    )


def functions(template_path: str | os.PathLike[str] = TEMPLATE, *, http_only: bool = False) -> list[FunctionSpec]:
    """Every ``AWS::Serverless::Function`` (with ``http_only``, those a route of the template
    invokes), paths relative to the template.

    Globals.Function supplies Handler, CodeUri, Timeout, MemorySize, Runtime, Architectures and
    Layers (SAM adds global Layers before the function's own).
    """
    if http_only:
        return list({route.function.logical_id: route.function for route in api_routes(template_path)}.values())
    template_file = Path(template_path).resolve()
    template = load_template(template_file)
    return [_function_spec(lid, template, template_file.parent, False) for lid, _ in _resources(template, FUNCTION)]


_SUB_REF = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.Arn)?\}")


def refs(value: Any) -> list[str]:
    """The logical ids ``value`` names: ``!Ref X``, ``!GetAtt X.Arn``, or each ``${X}``/``${X.Arn}``
    of an ``!Sub`` (``integrations/${Integration}``, ``.../functions/${Fn.Arn}/invocations``)."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        return _SUB_REF.findall(str(text))
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return [str(value["Fn::GetAtt"][0])]
    if isinstance(value, dict) and "Ref" in value:
        return [str(value["Ref"])]
    return []


def authorizers(
    template_path: str | os.PathLike[str], parameters: Mapping[str, Any] | None = None
) -> dict[str, AuthorizerSpec]:
    """The template's Lambda (``REQUEST``) authorizers by logical id; ``parameters`` override."""
    template_file = Path(template_path).resolve()
    template = load_template(template_file)
    declared, overrides = template.get("Parameters") or {}, parameters or {}
    resources = template.get("Resources") or {}
    found: dict[str, AuthorizerSpec] = {}
    for logical_id, props in _resources(template, "AWS::ApiGatewayV2::Authorizer"):
        if props.get("AuthorizerType") != "REQUEST":
            continue
        target = next((ref for ref in refs(props.get("AuthorizerUri")) if ref in resources), "")
        sources = props.get("IdentitySource") or []
        found[logical_id] = AuthorizerSpec(
            logical_id=logical_id,
            name=str(resolve(props.get("Name"), declared, logical_id, overrides)),
            function=_function_spec(target, template, template_file.parent),
            identity_sources=tuple(str(s) for s in (sources if isinstance(sources, list) else [sources])),
            ttl_seconds=int(resolve(props.get("AuthorizerResultTtlInSeconds"), declared, 0, overrides)),
            simple_responses=bool(resolve(props.get("EnableSimpleResponses"), declared, False, overrides)),
            payload_version=str(resolve(props.get("AuthorizerPayloadFormatVersion"), declared, "2.0", overrides)),
        )
    return found


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """One ``AWS::ApiGatewayV2::Route``: its ``RouteKey`` (``GET /auth/login``, ``$default``), the
    function its integration invokes and the Lambda authorizer API Gateway applies first."""

    route_key: str
    function: FunctionSpec
    authorizer: AuthorizerSpec | None = None


def api_routes(
    template_path: str | os.PathLike[str] = TEMPLATE,
    api_template: str | os.PathLike[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> list[ApiRoute]:
    """The ``AWS::ApiGatewayV2::Route`` resources of ``template_path`` on the HTTP API of
    ``api_template`` (by default the same template); ``parameters`` override the API template's.

    A route's ``Target`` is ``integrations/<integration>``, an ``AWS::ApiGatewayV2::Integration``
    (payload 2.0) whose ``IntegrationUri`` (``!GetAtt Fn.Arn`` or ``!Sub ...${Fn.Arn}/invocations``)
    names an ``AWS::Serverless::Function`` of the same template. ``ApiId`` and a ``CUSTOM`` route's
    ``AuthorizerId`` name the API template's ``AWS::ApiGatewayV2::Api`` and authorizer: with
    ``!Ref`` in that template, or from another through a parameter named like one of its outputs
    (``HttpApiId``, ``SessionAuthorizerId``), bound to that output's value.
    """
    template_file = Path(template_path).resolve()
    api_file = Path(api_template).resolve() if api_template is not None else template_file
    template, api = load_template(template_file), load_template(api_file)
    outputs = {name: (o or {}).get("Value") for name, o in (api.get("Outputs") or {}).items()}
    bound = {name: outputs[name] for name in template.get("Parameters") or {} if name in outputs}

    def api_ref(value: Any) -> str:
        """The logical id of the API template that ``value`` names ("" for none)."""
        name = value.get("Ref") if isinstance(value, dict) else None
        if name in bound:
            value = bound[name]
        elif template_file != api_file:
            return ""
        return next(iter(refs(value)), "")

    apis = {lid for lid, _ in _resources(api, "AWS::ApiGatewayV2::Api")}
    known = authorizers(api_file, parameters)
    resources, declared = template.get("Resources") or {}, template.get("Parameters") or {}
    routes: list[ApiRoute] = []
    for logical_id, props in _resources(template, "AWS::ApiGatewayV2::Route"):
        where = f"{template_file.name}: {logical_id}"
        if api_ref(props.get("ApiId")) not in apis:
            raise ValueError(
                f"{where}: ApiId must be the BFF's HTTP API (!Ref HttpApi, or a parameter named HttpApiId)"
            )
        integration = (resources.get(next(iter(refs(props.get("Target"))), "")) or {}).get("Properties") or {}
        if str(resolve(integration.get("PayloadFormatVersion"), declared, "")) != "2.0":
            raise ValueError(f"{where}: its Target must be an integration with PayloadFormatVersion 2.0")
        function = next(iter(refs(integration.get("IntegrationUri"))), "")
        if (resources.get(function) or {}).get("Type") != FUNCTION:
            raise ValueError(f"{where}: its Target's integration must invoke a function of {template_file.name}")
        authorizer = None
        if props.get("AuthorizationType") == "CUSTOM":
            authorizer = known.get(api_ref(props.get("AuthorizerId")))
            if authorizer is None:
                raise ValueError(
                    f"{where}: AuthorizerId must be an authorizer of {api_file.name} (SessionAuthorizerId)"
                )
        key = str(resolve(props.get("RouteKey"), declared, ""))
        routes.append(ApiRoute(key, _function_spec(function, template, template_file.parent), authorizer))
    return routes


@dataclass(frozen=True, slots=True)
class CorsConfig:
    """An HTTP API's ``CorsConfiguration``, parameters resolved."""

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    allow_credentials: bool = False
    max_age: int | None = None


def cors_config(
    template_path: str | os.PathLike[str] = TEMPLATE, parameters: Mapping[str, str] | None = None
) -> CorsConfig | None:
    """The ``AWS::ApiGatewayV2::Api``'s CorsConfiguration (``None`` without one).

    ``parameters`` override template parameters (``{"AppOrigin": "http://localhost:5173"}``).
    """
    template = load_template(template_path)
    declared, overrides = template.get("Parameters") or {}, parameters or {}
    apis = _resources(template, "AWS::ApiGatewayV2::Api")
    raw = apis[0][1].get("CorsConfiguration") if apis else None
    if not raw or not isinstance(raw, dict):
        return None

    def strings(key: str) -> tuple[str, ...]:
        values = raw.get(key) or []
        resolved = (resolve(v, declared, None, overrides) for v in (values if isinstance(values, list) else [values]))
        return tuple(str(v) for v in resolved if v is not None)

    max_age = resolve(raw.get("MaxAge"), declared, None, overrides)
    return CorsConfig(
        allow_origins=strings("AllowOrigins"),
        allow_methods=tuple(m.upper() for m in strings("AllowMethods")),
        allow_headers=tuple(h.lower() for h in strings("AllowHeaders")),
        expose_headers=strings("ExposeHeaders"),
        allow_credentials=bool(resolve(raw.get("AllowCredentials"), declared, False, overrides)),
        max_age=int(max_age) if max_age is not None else None,
    )
