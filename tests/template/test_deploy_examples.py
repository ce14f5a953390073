"""The deployment files docs/deploy.md tells teams to copy: ``deploy/samconfig.example.toml`` (one
section per environment) and ``deploy/github-actions/deploy.yml``.

Each ``parameter_overrides`` entry must name a parameter of ``template.yaml``, each environment
must give every parameter that has no default, and the ``ApiUpstreams`` JSON must come out of the
SAM CLI's own parser (run from ``.venv-sam``) as a table the API proxy accepts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from hitkey_bff.proxy.upstreams import parse_upstreams
from local.resources import ROOT, load_template

SAMCONFIG = ROOT / "deploy" / "samconfig.example.toml"
WORKFLOW = ROOT / "deploy" / "github-actions" / "deploy.yml"
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
ENVIRONMENTS = ("staging", "production", "preview")

# Reads one section as `sam deploy --config-env ENV` does, and parses its overrides with the
# SAM CLI's own --parameter-overrides type.
SAM_READER = """
import json, sys
from pathlib import Path
import click
from samcli.cli.cli_config_file import ConfigProvider
from samcli.cli.types import CfnParameterOverridesType
from samcli.commands.deploy.command import cli
out = {}
for env in sys.argv[2:]:
    with click.Context(cli):
        config = ConfigProvider(section="parameters")(Path(sys.argv[1]), env, ["deploy"])
    overrides = tuple(config.get("parameter_overrides") or ())
    out[env] = {"config": {k: v for k, v in config.items() if k != "parameter_overrides"},
                "parameters": CfnParameterOverridesType().convert(overrides, None, None)}
print(json.dumps(out))
"""


def _parameters() -> dict[str, Any]:
    parameters: dict[str, Any] = load_template(ROOT / "template.yaml")["Parameters"]
    return parameters


def _sections() -> dict[str, Any]:
    with SAMCONFIG.open("rb") as file:
        return tomllib.load(file)


def test_every_environment_names_only_template_parameters_and_all_required_ones() -> None:
    parameters = _parameters()
    required = {name for name, spec in parameters.items() if "Default" not in spec}
    sections = _sections()
    stacks = set()
    for env in ENVIRONMENTS:
        deploy = sections[env]["deploy"]["parameters"]
        names = [entry.split("=", 1)[0] for entry in deploy["parameter_overrides"]]
        assert set(names) <= set(parameters), f"[{env}] unknown parameters: {set(names) - set(parameters)}"
        assert required <= set(names), f"[{env}] missing required parameters: {required - set(names)}"
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        stacks.add(sections[env]["global"]["parameters"]["stack_name"])
    assert len(stacks) == len(ENVIRONMENTS), "one stack per environment"


@pytest.fixture(scope="module")
def sam_parsed() -> dict[str, Any]:
    """The example's sections as the SAM CLI reads them."""
    if not SAM_PYTHON.is_file():
        message = "the SAM CLI's virtualenv is missing: run `make sam-venv`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true, so this is a failure)", pytrace=False)
        pytest.skip(message)
    done = subprocess.run(
        [str(SAM_PYTHON), "-c", SAM_READER, str(SAMCONFIG), *ENVIRONMENTS],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_sam_reads_each_environment_with_its_api_upstreams_json_intact(sam_parsed: dict[str, Any], env: str) -> None:
    section = sam_parsed[env]
    values = section["parameters"]
    written = [entry.split("=", 1)[0] for entry in _sections()[env]["deploy"]["parameters"]["parameter_overrides"]]
    assert list(values) == written, f"[{env}] SAM read other parameters than the file lists: {values}"
    parameters = _parameters()
    for name, value in values.items():
        pattern = parameters[name].get("AllowedPattern")
        assert pattern is None or re.fullmatch(pattern, value), f"[{env}] {name}={value!r} breaks {pattern}"
        assert " " not in value or name == "ApiUpstreams", f"[{env}] {name}={value!r}"
    assert values["RedirectUri"] == values["AppOrigin"] + "/auth/callback"
    upstreams = parse_upstreams(values["ApiUpstreams"])
    assert upstreams and all(upstream.url.startswith("https://") for upstream in upstreams.values()), upstreams
    assert section["config"]["stack_name"].endswith(env) and section["config"]["region"]


def test_each_environment_has_its_own_origin_and_client() -> None:
    sections = _sections()
    seen: dict[str, set[str]] = {"AppOrigin": set(), "HitKeyClientId": set()}
    for env in ENVIRONMENTS:
        entries = dict(e.split("=", 1) for e in sections[env]["deploy"]["parameters"]["parameter_overrides"])
        for name, values in seen.items():
            values.add(entries[name])
    assert all(len(values) == len(ENVIRONMENTS) for values in seen.values()), seen


def test_the_github_actions_workflow_deploys_a_samconfig_environment_with_an_oidc_role() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert workflow["permissions"]["id-token"] == "write"
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    (credentials,) = [s for s in steps if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")]
    assert "role-to-assume" in credentials["with"] and "aws-access-key-id" not in credentials["with"]
    runs = " ".join(str(s.get("run", "")) for s in steps)
    assert "sam build" in runs and "sam deploy --config-env" in runs
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as true
    choices = on["workflow_dispatch"]["inputs"]["environment"]["options"]
    assert set(choices) <= set(_sections()), f"the workflow deploys environments the example lacks: {choices}"


def test_deploy_guide_points_at_the_files() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for path in (SAMCONFIG, WORKFLOW, ROOT / "deploy" / "site.yaml"):
        assert str(path.relative_to(ROOT)) in guide, f"docs/deploy.md does not mention {path.relative_to(ROOT)}"
    assert Path(ROOT / "deploy" / "site.yaml").is_file()
