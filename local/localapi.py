"""Local APIs for ``make run``: a team's own routes from other templates (``EXTRA_TEMPLATES``) on
the BFF's HTTP API, and the Lambda authorizers API Gateway applies to them.

An extra template adds routes as it would in AWS - ``AWS::ApiGatewayV2::Route`` (``RouteKey``,
``Target: integrations/<integration>``, ``AuthorizationType: CUSTOM`` with an ``AuthorizerId``),
an ``AWS::ApiGatewayV2::Integration`` (``AWS_PROXY``) to one of its ``AWS::Serverless::Function``
resources. Its parameters named like an output of ``template.yaml`` (``HttpApiId``,
``SessionAuthorizerId``, ``BffLayerArn``...) are bound to that output's value.

The authorizer is applied as API Gateway applies a REQUEST authorizer with simple responses: an
identity source missing or empty is a 401 without invoking it; an answer is cached for its TTL
under the identity sources' values (denials too); ``isAuthorized: false`` is a 403; an error or
a malformed answer is a 500; an allowed request's event carries ``requestContext.authorizer.lambda``.
"""

from __future__ import annotations

import copy
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from local.apigw import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    HttpResponse,
    LambdaContext,
    LambdaRuntime,
    Route,
    json_response,
)
from local.template import AuthorizerSpec, _function_spec, _resources, functions, load_template, resolve

UNAUTHORIZED = 401
FORBIDDEN = 403
_SUB_REF = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.Arn)?\}")


def _sub_refs(value: Any) -> list[str]:
    """The logical ids an ``!Sub`` string (or ``!GetAtt X.Arn``, ``!Ref X``) refers to."""
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
    template = load_template(template_path)
    declared, overrides = template.get("Parameters") or {}, parameters or {}
    by_id = {spec.logical_id: spec for spec in functions(template_path)}
    found: dict[str, AuthorizerSpec] = {}
    for logical_id, props in _resources(template, "AWS::ApiGatewayV2::Authorizer"):
        if props.get("AuthorizerType") != "REQUEST":
            continue
        target = next((by_id[ref] for ref in _sub_refs(props.get("AuthorizerUri")) if ref in by_id), None)
        if target is None:
            raise ValueError(f"{logical_id}: AuthorizerUri must name a function of {template_path}")
        sources = props.get("IdentitySource") or []
        found[logical_id] = AuthorizerSpec(
            logical_id=logical_id,
            name=str(resolve(props.get("Name"), declared, logical_id, overrides)),
            function=target,
            identity_sources=tuple(str(s) for s in (sources if isinstance(sources, list) else [sources])),
            ttl_seconds=int(resolve(props.get("AuthorizerResultTtlInSeconds"), declared, 0, overrides)),
            simple_responses=bool(resolve(props.get("EnableSimpleResponses"), declared, False, overrides)),
            payload_version=str(resolve(props.get("AuthorizerPayloadFormatVersion"), declared, "2.0", overrides)),
        )
    return found


def extra_routes(
    extra_path: str | os.PathLike[str],
    main_path: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
) -> list[Route]:
    """The ``AWS::ApiGatewayV2::Route`` resources of ``extra_path`` on the BFF's HTTP API."""
    extra_file = Path(extra_path).resolve()
    extra, main = load_template(extra_file), load_template(main_path)
    outputs = {name: (o or {}).get("Value") for name, o in (main.get("Outputs") or {}).items()}
    bound = {name: outputs[name] for name in extra.get("Parameters") or {} if name in outputs}

    def main_ref(value: Any) -> str | None:
        """The logical id in template.yaml that ``value`` (a bound parameter) stands for."""
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in bound:
            refs = _sub_refs(bound[value["Ref"]])
            return refs[0] if refs else None
        return None

    resources = extra.get("Resources") or {}
    apis = {lid for lid, _ in _resources(main, "AWS::Serverless::HttpApi")}
    known = authorizers(main_path, parameters)
    routes: list[Route] = []
    for logical_id, props in _resources(extra, "AWS::ApiGatewayV2::Route"):
        where = f"{extra_file.name}: {logical_id}"
        if main_ref(props.get("ApiId")) not in apis:
            raise ValueError(f"{where}: ApiId must be the BFF's HTTP API (a parameter named HttpApiId)")
        method, _, path = str(props.get("RouteKey", "")).partition(" ")
        integration_id = next(iter(_sub_refs(props.get("Target"))), "")
        integration = (resources.get(integration_id) or {}).get("Properties") or {}
        function_id = next(iter(_sub_refs(integration.get("IntegrationUri"))), "")
        function = resources.get(function_id) or {}
        if function.get("Type") != "AWS::Serverless::Function":
            raise ValueError(f"{where}: its Target's integration must invoke a function of {extra_file.name}")
        spec = _function_spec(function_id, function.get("Properties") or {}, extra, extra_file.parent, True)
        authorizer = None
        if props.get("AuthorizationType") == "CUSTOM":
            authorizer = known.get(main_ref(props.get("AuthorizerId")) or "")
            if authorizer is None:
                raise ValueError(f"{where}: AuthorizerId must be an authorizer of template.yaml (SessionAuthorizerId)")
        routes.append(Route(method.upper(), path or "$default", spec, authorizer))
    return routes


# -- applying an authorizer ----------------------------------------------------------------------


def identity_values(spec: AuthorizerSpec, headers: Mapping[str, str], event: Mapping[str, Any]) -> list[str] | None:
    """The identity sources' values, or ``None`` when one is missing or empty (a 401)."""
    query = parse_qs(str(event.get("rawQueryString") or ""), keep_blank_values=True)
    context = event.get("requestContext") or {}
    values: list[str] = []
    for source in spec.identity_sources:
        kind, _, name = source.removeprefix("$").partition(".")
        value: object = None
        if kind == "request":
            where, _, key = name.partition(".")
            if where == "header":
                value = headers.get(key.lower())
            elif where == "querystring":
                value = ",".join(query.get(key, [])) or None
        elif kind == "context":
            value = context.get(name) if isinstance(context, Mapping) else None
        if not isinstance(value, str | int) or value == "":
            return None
        values.append(str(value))
    return values


def authorizer_event(event: Mapping[str, Any], identity: Sequence[str]) -> dict[str, Any]:
    """The payload-2.0 REQUEST authorizer event for a request's integration event."""
    out = {k: copy.deepcopy(v) for k, v in event.items() if k not in ("body", "isBase64Encoded")}
    http = (event.get("requestContext") or {}).get("http") or {}
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    api = (event.get("requestContext") or {}).get("apiId", "local")
    where = f"{api}/$default/{http.get('method')}{http.get('path')}"
    route_arn = f"arn:aws:execute-api:{region}:{DEFAULT_ACCOUNT_ID}:{where}"
    return {"version": "2.0", "type": "REQUEST", "routeArn": route_arn, "identitySource": list(identity), **out}


class Authorizers:
    """Applies authorizers for a gateway: invocation on ``runtime``, a cache per authorizer."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str, bool], None] = lambda line, with_traceback: None,
    ) -> None:
        self._runtime, self._clock, self._log = runtime, clock, log
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any] | None]] = {}
        self.invocations: dict[str, int] = {}

    def apply(self, spec: AuthorizerSpec, event: dict[str, Any], headers: Mapping[str, str]) -> HttpResponse | None:
        """``None`` when the request may go on (``event`` then carries the context), else the
        answer API Gateway gives instead of invoking the route's function."""
        identity = identity_values(spec, headers, event)
        if identity is None:
            return json_response(UNAUTHORIZED, {"message": "Unauthorized"})
        key = (spec.logical_id, tuple(identity))
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > self._clock():
            context = hit[1]
        else:
            try:
                context = self._decide(spec, authorizer_event(event, identity))
            except (Exception, SystemExit):
                self._log(f"[gateway] authorizer {spec.name} failed; API Gateway answers 500", True)
                return json_response(500, {"message": "Internal Server Error"})
            if spec.ttl_seconds > 0:
                with self._lock:
                    self._cache[key] = (self._clock() + spec.ttl_seconds, context)
        if context is None:
            return json_response(FORBIDDEN, {"message": "Forbidden"})
        event.setdefault("requestContext", {})["authorizer"] = {"lambda": context}
        return None

    def _decide(self, spec: AuthorizerSpec, event: dict[str, Any]) -> dict[str, Any] | None:
        """The context of an allowed request, ``None`` for a denied one; raises for a bad answer."""
        with self._lock:
            self.invocations[spec.logical_id] = self.invocations.get(spec.logical_id, 0) + 1
        function = spec.function
        context = LambdaContext(function.logical_id, function.timeout, memory_mb=function.memory_size)
        answer = self._runtime.handler(function)(event, context)
        if not spec.simple_responses or not isinstance(answer, dict):
            raise ValueError(f"{spec.name}: only simple responses are emulated")
        allowed = answer.get("isAuthorized")
        if not isinstance(allowed, bool):
            raise ValueError(f"{spec.name}: isAuthorized must be a boolean")
        extra = answer.get("context") or {}
        if not isinstance(extra, dict):
            raise ValueError(f"{spec.name}: context must be an object")
        return dict(extra) if allowed else None
