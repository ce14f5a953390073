"""Release hygiene: one source of truth for the layer's dependencies and the version."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import hitkey_bff

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REQUIREMENTS = (ROOT / "layers/bff/requirements.txt").read_text()
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", re.MULTILINE)


def _pins() -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in PIN.findall(REQUIREMENTS)}


def test_every_layer_dependency_is_pinned_within_pyprojects_range() -> None:
    pins = _pins()
    for spec in PYPROJECT["project"]["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in pyproject.toml but not pinned: run `make requirements`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{req.name}=={pins[name]} is outside pyproject.toml's {req.specifier}: run `make requirements`"
        )


def test_every_pin_is_exact_and_hashed() -> None:
    blocks = [b for b in re.split(r"\n(?=\S)", REQUIREMENTS) if b and not b.startswith("#")]
    assert len(blocks) == len(_pins()) > 0
    for block in blocks:
        assert PIN.match(block), block.splitlines()[0]
        assert "--hash=sha256:" in block, f"{block.splitlines()[0]} has no hash: run `make requirements`"


def test_boto3_is_left_to_the_lambda_runtime() -> None:
    # botocore comes in only as aws-xray-sdk's dependency (tracing); boto3 itself never ships.
    assert "boto3" not in _pins()
    assert "botocore" not in _pins() or "aws-xray-sdk" in _pins()


def test_the_version_is_written_once() -> None:
    project = PYPROJECT["project"]
    if "version" in project:  # a static version must then be the package's
        assert project["version"] == hitkey_bff.__version__
    else:
        assert "version" in project.get("dynamic", [])
        assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "hitkey_bff.__version__"}
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{hitkey_bff.__version__}]" in changelog or "## [Unreleased]" in changelog


def test_the_license_is_the_one_pyproject_names() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
