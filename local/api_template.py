"""The HTTP API in the templates: its routes (a team's template's too) and how a request picks one,
its Lambda authorizers and CORS."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from local.template import FUNCTION, TEMPLATE, FunctionSpec, function_spec, load_template, resolve, resources_of

_SUB_REF = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.Arn)?\}")
_PATH_VARIABLE = re.compile(r"\{([^{}/+]+)(\+?)\}")


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
    for logical_id, props in resources_of(template, "AWS::ApiGatewayV2::Authorizer"):
        if props.get("AuthorizerType") != "REQUEST":
            continue
        target = next((ref for ref in refs(props.get("AuthorizerUri")) if ref in resources), "")
        sources = props.get("IdentitySource") or []
        found[logical_id] = AuthorizerSpec(
            logical_id=logical_id,
            name=str(resolve(props.get("Name"), declared, logical_id, overrides)),
            function=function_spec(target, template, template_file.parent),
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

    apis = {lid for lid, _ in resources_of(api, "AWS::ApiGatewayV2::Api")}
    known = authorizers(api_file, parameters)
    resources, declared = template.get("Resources") or {}, template.get("Parameters") or {}
    routes: list[ApiRoute] = []
    for logical_id, props in resources_of(template, "AWS::ApiGatewayV2::Route"):
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
        routes.append(ApiRoute(key, function_spec(function, template, template_file.parent), authorizer))
    return routes


def route_functions(template_path: str | os.PathLike[str] = TEMPLATE) -> list[FunctionSpec]:
    """The functions a route of the template invokes (see :func:`local.template.functions`)."""
    return list({route.function.logical_id: route.function for route in api_routes(template_path)}.values())


@dataclass(frozen=True, slots=True)
class Route:
    """``METHOD PATH`` -> function. ``method`` is upper case or ``ANY``; ``path`` may be ``$default``."""

    method: str
    path: str
    function: FunctionSpec
    authorizer: AuthorizerSpec | None = None  # a Lambda authorizer API Gateway applies first

    def __post_init__(self) -> None:
        if self.path != "$default":
            _compile_path(self.path)  # a malformed path fails as the template is read

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    def match(self, method: str, raw_path: str) -> dict[str, str] | None:
        """Path parameters (decoded) when this route takes the request, else ``None``."""
        if self.method not in ("ANY", method):
            return None
        if self.path == "$default":
            return {}
        pattern, names = _compile_path(self.path)
        m = pattern.fullmatch(raw_path)
        return None if m is None else dict(zip(names, map(unquote, m.groups()), strict=True))

    @property
    def specificity(self) -> tuple[bool, bool, int, bool]:
        """Sort key: literal paths beat ``{param}``s beat ``{proxy+}`` beat ``$default``; verbs beat ANY."""
        return (self.path == "$default", self.path.endswith("+}"), self.path.count("{"), self.method == "ANY")


@cache
def _compile_path(path: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    if not path.startswith("/"):
        raise ValueError(f"route path must start with '/': {path!r}")
    segments = path[1:].split("/")
    parts: list[str] = []
    names: list[str] = []
    for i, segment in enumerate(segments):
        m = _PATH_VARIABLE.fullmatch(segment)
        if m is None:
            if "{" in segment or "}" in segment:
                raise ValueError(f"path variables must be whole segments: {path!r}")
            parts.append(re.escape(segment))
            continue
        if m[2] and i != len(segments) - 1:
            raise ValueError(f"a greedy {{{m[1]}+}} must be the last segment: {path!r}")
        parts.append("(.+)" if m[2] else "([^/]+)")
        names.append(m[1])
    return re.compile("/" + "/".join(parts)), tuple(names)


def load_routes(
    template_path: str | os.PathLike[str],
    extra_templates: Iterable[str | os.PathLike[str]] = (),
    parameters: Mapping[str, Any] | None = None,
) -> dict[tuple[str, str], Route]:
    """The ``AWS::ApiGatewayV2::Route`` resources of ``template_path`` and of each extra template
    (a team's routes on its API, see :func:`api_routes`) -> ``{(METHOD, PATH): Route}``.

    A path may hold ``{name}`` or a trailing ``{proxy+}``; the ``$default`` route is ``("ANY", "$default")``.
    """
    routes: dict[tuple[str, str], Route] = {}
    for source in (template_path, *extra_templates):
        for found in api_routes(source, template_path, parameters):
            method, _, path = found.route_key.partition(" ")
            route = Route(method.upper() if path else "ANY", path or "$default", found.function, found.authorizer)
            if (route.method, route.path) in routes:
                raise ValueError(f"route {route.route_key} of {Path(source).name} is defined twice")
            routes[(route.method, route.path)] = route
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
    apis = resources_of(template, "AWS::ApiGatewayV2::Api")
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
