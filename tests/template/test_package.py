"""`make package` (python -m tools.package): the layer and function zips Lambda will run.

Runs the real packaging once per module into a temporary folder: pip downloads (or takes from its
cache) the manylinux aarch64 wheels from PyPI, so this needs the network CI has.
"""

from __future__ import annotations

import ast
import re
import struct
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from local.template import ROOT, load_template
from tools.package import (
    LAMBDA_UNZIPPED_LIMIT,
    PROVIDED_BY_RUNTIME,
    PackageError,
    find_python,
    read_target,
    zip_dir,
)

LAYER_SOURCE = ROOT / "layers" / "bff" / "hitkey_bff"
FUNCTIONS = ("authorizer", "session", "token")
EM_AARCH64 = 183
EM_X86_64 = 62


@dataclass(frozen=True)
class Packaged:
    out: Path
    stdout: str
    layer: zipfile.ZipFile
    names: frozenset[str]

    def read(self, name: str) -> bytes:
        return self.layer.read(name)


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    out = tmp_path_factory.mktemp("package")
    proc = subprocess.run(
        [sys.executable, "-m", "tools.package", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"packaging failed:\n{proc.stdout}\n{proc.stderr}"
    layer = zipfile.ZipFile(out / "layer.zip")
    return Packaged(out, proc.stdout, layer, frozenset(layer.namelist()))


def _top_level(packaged: Packaged) -> set[str]:
    return {PurePosixPath(n).parts[1] for n in packaged.names if len(PurePosixPath(n).parts) > 1}


def _elf_machine(header: bytes) -> int:
    assert header[:4] == b"\x7fELF", "not an ELF file"
    assert header[4] == 2, "not a 64-bit ELF"
    assert header[5] == 1, "not little-endian"
    machine: int = struct.unpack_from("<H", header, 18)[0]
    return machine


# Contents
# --------------------------------------------------------------------------------------------


def test_everything_lives_under_python(packaged: Packaged) -> None:
    """Lambda puts a layer's python/ on sys.path; anything else is dead weight or unreachable."""
    outside = sorted(n for n in packaged.names if not n.startswith("python/"))
    assert not outside, outside[:10]


@pytest.mark.parametrize(
    "path",
    [
        "python/hitkey_bff/__init__.py",
        "python/hitkey_bff/routes/__init__.py",
        "python/httpx/__init__.py",
        "python/aws_lambda_powertools/__init__.py",
        "python/cryptography/__init__.py",
    ],
)
def test_layer_contains(packaged: Packaged, path: str) -> None:
    assert path in packaged.names


def test_layer_has_this_checkouts_hitkey_bff(packaged: Packaged) -> None:
    # the modules and the botocore models the clients read (hitkey_bff/botocore_data)
    sources = {
        p.relative_to(LAYER_SOURCE).as_posix(): p for p in LAYER_SOURCE.rglob("*") if p.suffix in (".py", ".json")
    }
    zipped = {
        n.removeprefix("python/hitkey_bff/")
        for n in packaged.names
        if n.startswith("python/hitkey_bff/") and not _is_runtime_bytecode(n)
    }
    assert zipped == set(sources)
    for relative, path in sources.items():
        assert packaged.read(f"python/hitkey_bff/{relative}") == path.read_bytes(), relative


def test_no_runtime_provided_sdk_vendored(packaged: Packaged) -> None:
    top = {name.lower() for name in _top_level(packaged)}
    for dist in PROVIDED_BY_RUNTIME:
        module = dist.replace("-", "_")
        assert module not in top, f"{dist} is vendored in the layer"
        assert not any(name.startswith(f"{module}-") and name.endswith(".dist-info") for name in top), dist


def _is_runtime_bytecode(name: str) -> bool:
    return "/__pycache__/" in name and name.endswith(".cpython-312.pyc")


def test_no_caches_scripts_or_build_metadata(packaged: Packaged) -> None:
    """Only bytecode for the Lambda runtime's Python (3.12), and nothing else of the kind."""
    junk = sorted(
        n
        for n in packaged.names
        if ("__pycache__/" in n and not _is_runtime_bytecode(n))
        or n.endswith(".pyo")
        or (n.endswith(".pyc") and not _is_runtime_bytecode(n))
        or ".egg-info/" in n
        or n.startswith("python/bin/")
    )
    assert not junk, junk[:10]


@pytest.mark.skipif(find_python("3.12") is None, reason="no python3.12 to compile the layer with")
def test_layer_ships_unchecked_hash_bytecode_for_python312(packaged: Packaged) -> None:
    """Lambda mounts the layer read-only: without .pyc every cold start compiles it."""
    for module in ("route", "http", "store", "vault"):
        name = f"python/hitkey_bff/__pycache__/{module}.cpython-312.pyc"
        assert name in packaged.names, name
        header = packaged.read(name)[:16]
        assert int.from_bytes(header[4:8], "little") == 0b01, "hash-based, unchecked (PEP 552)"
    assert any(n.startswith("python/httpx/__pycache__/") for n in packaged.names)


def test_compiled_extensions_are_aarch64(packaged: Packaged) -> None:
    """The template's Architectures is arm64: an x86_64 .so would fail at import on Lambda."""
    shared = sorted(n for n in packaged.names if re.search(r"\.so(\.\d+)*$", n))
    assert any(n.startswith("python/cryptography/") for n in shared), shared
    for name in shared:
        machine = _elf_machine(packaged.read(name)[:64])
        assert machine == EM_AARCH64, f"{name}: ELF machine {machine}, expected aarch64 ({EM_AARCH64})"


def test_cryptography_wheel_is_manylinux_aarch64(packaged: Packaged) -> None:
    (wheel,) = (n for n in packaged.names if re.fullmatch(r"python/cryptography-[^/]+\.dist-info/WHEEL", n))
    tags = [
        line.split(":", 1)[1].strip() for line in packaged.read(wheel).decode().splitlines() if line.startswith("Tag:")
    ]
    assert tags
    for tag in tags:
        assert re.search(r"-manylinux[\w.]*_aarch64$", tag), tag


def _runtime_imports(source: str) -> set[str]:
    """Top-level modules a file imports at run time (``if TYPE_CHECKING:`` blocks excluded)."""
    tree = ast.parse(source)
    type_checking: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            type_checking.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_every_import_of_the_code_resolves_in_the_layer(packaged: Packaged) -> None:
    """A dependency added to pyproject.toml but not to layers/bff/requirements.txt works in every
    local test and fails on Lambda with ImportError; this catches it."""
    available = {name.removesuffix(".py") for name in _top_level(packaged)}
    available |= set(sys.stdlib_module_names) | {"boto3", "botocore", "__future__"}
    sources = [*LAYER_SOURCE.rglob("*.py"), *(ROOT / "functions").glob("*/app.py")]
    missing = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in sources
        for module in _runtime_imports(path.read_text(encoding="utf-8"))
        if module not in available
    }
    assert not missing, sorted(missing)


def test_import_check_sees_past_type_checking_only() -> None:
    source = "import httpx\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mypy_boto3_kms\n"
    assert _runtime_imports(source) == {"httpx", "typing"}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_zip_holds_its_app_py(packaged: Packaged, name: str) -> None:
    with zipfile.ZipFile(packaged.out / "functions" / f"{name}.zip") as zf:
        assert zf.namelist() == ["app.py"]
        assert zf.read("app.py") == (ROOT / "functions" / name / "app.py").read_bytes()


def test_only_the_template_functions_are_zipped(packaged: Packaged) -> None:
    assert sorted(p.stem for p in (packaged.out / "functions").iterdir()) == sorted(FUNCTIONS)


def test_deployable_template_points_at_the_zips(packaged: Packaged) -> None:
    """build/template.yaml is template.yaml with each folder swapped for its zip, nothing else."""
    original = load_template(ROOT / "template.yaml")
    generated = load_template(packaged.out / "template.yaml")
    uris = {}
    for logical_id, resource in generated["Resources"].items():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                uri = resource["Properties"][key]
                assert (packaged.out / uri).is_file(), f"{logical_id}.{key}: {uri} is not a built zip"
                uris[logical_id] = uri
                resource["Properties"][key] = original["Resources"][logical_id]["Properties"][key]
    functions = {f"{n.capitalize()}Function": f"functions/{n}.zip" for n in FUNCTIONS}
    assert uris == {"BffLayer": "layer.zip", "TracingLayer": "layers/TracingLayer.zip"} | functions
    assert generated == original


# Size report
# --------------------------------------------------------------------------------------------


def _report_row(stdout: str, artifact: Path) -> list[str]:
    for line in stdout.splitlines():
        if line.startswith(str(artifact)):
            return line[len(str(artifact)) :].split()
    raise AssertionError(f"no size row for {artifact} in:\n{stdout}")


def test_size_report_matches_the_zips(packaged: Packaged) -> None:
    zipped_mb, mb_unit, unzipped_mb, mb_unit2 = _report_row(packaged.stdout, packaged.out / "layer.zip")
    assert (mb_unit, mb_unit2) == ("MB", "MB")
    layer_zip = packaged.out / "layer.zip"
    assert float(zipped_mb) == round(layer_zip.stat().st_size / 2**20, 2)
    unzipped = sum(info.file_size for info in packaged.layer.infolist())
    assert float(unzipped_mb) == round(unzipped / 2**20, 2)
    for name in FUNCTIONS:
        path = packaged.out / "functions" / f"{name}.zip"
        kb, unit, *_ = _report_row(packaged.stdout, path)
        assert unit == "KB"
        assert float(kb) == round(path.stat().st_size / 1024, 1)


def test_size_report_compares_to_lambdas_limit(packaged: Packaged) -> None:
    match = re.search(r"unzipped: ([\d.]+) MB of Lambda's 250 MB limit \(([\d.]+)%\) - OK$", packaged.stdout, re.M)
    assert match, packaged.stdout
    unzipped = sum(info.file_size for info in packaged.layer.infolist())
    assert unzipped < LAMBDA_UNZIPPED_LIMIT
    assert float(match.group(1)) >= round(unzipped / 2**20, 2)


def test_progress_is_printed(packaged: Packaged) -> None:
    assert re.search(r"^==> layer: pip install .* for python3\.12 on manylinux2014_aarch64$", packaged.stdout, re.M)


def test_zips_are_deterministic(packaged: Packaged, tmp_path: Path) -> None:
    """Same tree, same bytes: an unchanged layer does not become a new layer version."""
    has_bytecode = any(_is_runtime_bytecode(n) for n in packaged.names)
    again = zip_dir(packaged.out / "layer", tmp_path / "again.zip", keep_bytecode=has_bytecode)
    assert again.path.read_bytes() == (packaged.out / "layer.zip").read_bytes()


# Reading the template
# --------------------------------------------------------------------------------------------


def test_target_comes_from_the_template() -> None:
    target = read_target(ROOT / "template.yaml")
    assert (target.runtime, target.architecture) == ("python3.12", "arm64")
    assert target.platforms == ("manylinux2014_aarch64",)
    assert target.layer_dir == ROOT / "layers" / "bff"
    assert target.extra_layers == {"TracingLayer": ROOT / "layers" / "tracing"}
    assert sorted(target.functions) == sorted(FUNCTIONS)


_MINI = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Architectures: [{global_arch}]
Resources:
  Layer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleArchitectures: [{layer_arch}]
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
"""


def test_x86_64_template_asks_for_x86_64_wheels(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(_MINI.format(global_arch="x86_64", layer_arch="x86_64"))
    assert read_target(template).platforms == ("manylinux2014_x86_64",)


def test_functions_and_layer_on_different_architectures_is_refused(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(_MINI.format(global_arch="arm64", layer_arch="x86_64"))
    with pytest.raises(PackageError, match="architecture"):
        read_target(template)
