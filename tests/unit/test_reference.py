"""docs/reference.md against the code and template.yaml: the routes and their policy, the
environment variables, the template's parameters, and the ``ApiUpstreams`` quoting examples run
through the pinned SAM CLI's own parser."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from local.template import load_template
from testkit.functions import handler_for, routes
from tests.unit.docs_tables import ROOT, table_rows

REFERENCE = ROOT / "docs" / "reference.md"
LAYER = ROOT / "layers" / "bff" / "hitkey_bff"
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"


def test_the_route_table_is_the_templates_routes_with_their_policy() -> None:
    rows = table_rows(REFERENCE, ["method", "path", "csrf", "session", "what it does", "answers"])
    documented = {(r[0].strip("`"), r[1].strip("`")): (r[2], r[3]) for r in rows}
    assert len(documented) == len(rows), "a route is listed twice"
    declared = {}
    for key, spec in routes().items():
        handler = handler_for(key)
        declared[(spec.method, spec.path)] = ("checked" if handler.csrf else "no", handler.session)
    assert documented == declared


def _template_variables() -> dict[str, Any]:
    template = load_template()
    variables = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            variables.update((resource["Properties"].get("Environment") or {}).get("Variables") or {})
    return variables


def _variables_the_code_reads() -> set[str]:
    """Upper-case names the layer passes to an environment lookup (``env.get``, ``_int(env, ...)``,
    ``_required(env, ...)``, ``os.environ.get``) or names as ``ENV``."""
    names: set[str] = set()
    lookup = re.compile(
        r"""(?:env(?:iron)?\.get|_int|_required)\((?:env, )?"([A-Z][A-Z0-9_]+)"|^ENV = "([A-Z_]+)\"""", re.M
    )
    for path in LAYER.rglob("*.py"):
        names |= {a or b for a, b in lookup.findall(path.read_text(encoding="utf-8"))}
    return names


def test_the_environment_table_is_what_the_template_sets_and_the_code_reads() -> None:
    rows = table_rows(REFERENCE, ["variable", "set from", "default", "meaning"])
    documented = {r[0].strip("`"): r for r in rows}
    variables = _template_variables()
    read = _variables_the_code_reads()
    assert {"HITKEY_CLIENT_ID", "API_UPSTREAMS", "COOKIE_NAME", "TRACING"} <= read  # the scan works
    assert set(documented) == set(variables) | read
    parameters = load_template()["Parameters"]
    for name, value in variables.items():
        source = documented[name][1].strip("`")
        if isinstance(value, dict) and value.get("Ref") in parameters:
            assert source == value["Ref"], name
            default = parameters[value["Ref"]].get("Default")
            if default is not None:
                assert documented[name][2].strip("`") == str(default), name
        elif isinstance(value, dict):
            assert source in json.dumps(value), name  # a resource: its logical id
        else:
            assert source == "(literal)" and documented[name][2].strip("`") == (str(value) or '""'), name
    for name in read - set(variables):
        assert documented[name][1] == "(not set)", name


def test_the_parameter_table_is_the_templates_parameters() -> None:
    rows = table_rows(REFERENCE, ["parameter", "default", "meaning"])
    documented = {r[0].strip("`"): r[1] for r in rows}
    assert len(documented) == len(rows), "a parameter is listed twice"
    expected = {}
    for name, spec in load_template()["Parameters"].items():
        default = spec.get("Default")
        expected[name] = "(required)" if "Default" not in spec else f"`{default}`" if default != "" else '`""`'
    assert documented == expected
    assert all(r[2] for r in rows), "every parameter says what it means"


def _code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", REFERENCE.read_text(encoding="utf-8"), re.S)


SAM_PARSE = """
import json, sys
from pathlib import Path
from samcli.cli.types import CfnParameterOverridesType
from samcli.lib.config.file_manager import FILE_MANAGER_MAPPER
kind, value = sys.argv[1], sys.argv[2]
t = CfnParameterOverridesType()
if kind == "toml":
    path = Path(value)
    for env in FILE_MANAGER_MAPPER[".toml"].read(path).values():
        if isinstance(env, dict) and "deploy" in env:
            value = env["deploy"]["parameters"]["parameter_overrides"]
    print(json.dumps(t.convert(value, None, None)))
elif kind == "file":
    print(json.dumps(t.convert("file://" + value, None, None)))
else:
    print(json.dumps(t.convert(tuple(json.loads(value)), None, None)))
"""


def _sam_parse(kind: str, value: str) -> dict[str, str]:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    done = subprocess.run(
        [str(SAM_PYTHON), "-c", SAM_PARSE, kind, value], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    parsed: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return parsed


@pytest.fixture
def sam() -> None:
    if not SAM_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(".venv-sam is missing: run make sam-venv")
        pytest.skip(".venv-sam is missing (make sam-venv): the SAM CLI's own parser checks the examples")


def _upstreams(parsed: dict[str, str]) -> Any:
    assert parsed["AppOrigin"].startswith("https://")
    return json.loads(parsed["ApiUpstreams"])  # the JSON arrives whole


def test_the_sam_deploy_command_line_passes_the_json_whole(sam: None) -> None:
    (block,) = _code_blocks("bash")
    line = block.replace("\\\n", " ")
    argv = shlex.split(line, comments=True)
    assert argv[:3] == ["sam", "deploy", "--parameter-overrides"]
    assert _upstreams(_sam_parse("argv", json.dumps(argv[3:]))) == {"notes": "https://notes.example.com"}


def test_the_samconfig_example_passes_the_json_whole(sam: None, tmp_path: Path) -> None:
    (block,) = _code_blocks("toml")
    (tmp_path / "samconfig.toml").write_text("version = 0.1\n" + block)
    upstreams = _upstreams(_sam_parse("toml", str(tmp_path / "samconfig.toml")))
    assert upstreams["notes"]["methods"] == ["GET", "POST"]


def test_the_parameter_file_example_passes_the_json_whole(sam: None, tmp_path: Path) -> None:
    (block,) = _code_blocks("yaml")
    (tmp_path / "params.yaml").write_text(block)
    assert _upstreams(_sam_parse("file", str(tmp_path / "params.yaml")))["notes"]["url"] == "https://notes.example.com"


def test_unquoted_json_is_what_the_reference_warns_about(sam: None) -> None:
    """The pitfall the reference names: without the single quotes SAM keeps only ``{``."""
    parsed = _sam_parse("argv", json.dumps(['AppOrigin=https://a.example ApiUpstreams={"notes": "https://x"}']))
    assert parsed["ApiUpstreams"] == "{"
