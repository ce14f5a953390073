"""The one reader of ``template.yaml``: CloudFormation short tags, resources by type, parameters and
the functions (Globals applied). :mod:`local.api_template` reads the HTTP API with it."""

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


def resources_of(template: Mapping[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    """``(logical id, properties)`` of each of the template's resources of type ``kind``."""
    resources = (template.get("Resources") or {}).items()
    return [(lid, r.get("Properties") or {}) for lid, r in resources if isinstance(r, dict) and r.get("Type") == kind]


def resource_properties(template: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The properties of the template's one resource of type ``kind``."""
    found = resources_of(template, kind)
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


def function_spec(logical_id: str, template: Mapping[str, Any], base: Path, runnable: bool = True) -> FunctionSpec:
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


def functions(template_path: str | os.PathLike[str] = TEMPLATE) -> list[FunctionSpec]:
    """Every ``AWS::Serverless::Function``, paths relative to the template.

    Globals.Function supplies Handler, CodeUri, Timeout, MemorySize, Runtime, Architectures and
    Layers (SAM adds global Layers before the function's own).
    """
    template_file = Path(template_path).resolve()
    template = load_template(template_file)
    return [function_spec(lid, template, template_file.parent, False) for lid, _ in resources_of(template, FUNCTION)]
