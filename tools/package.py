"""Build the Lambda artifacts without Docker and without a local Python 3.12.

    python -m tools.package [--template template.yaml] [--out build]

For the template's runtime and architecture (``python3.12`` on ``arm64``):

* ``<out>/layer.zip``: the layer's ``requirements.txt`` as pip's binary wheels for the Lambda
  platform, without boto3, botocore and s3transfer (the runtime has them), and the ``hitkey_bff``
  package; no console scripts (``bin/``), and ``.pyc`` only as compiled for the runtime's Python;
* ``<out>/layers/<LogicalId>.zip``: every other layer of the template (the tracing layer: its
  ``requirements.txt`` only, the same way);
* ``<out>/functions/<name>.zip``: each function's ``CodeUri`` folder (``app.py``);
* ``<out>/template.yaml``: the template pointing at those zips, for
  ``sam deploy --template-file build/template.yaml --guided`` without ``sam build``.

Zips are deterministic (sorted entries, fixed timestamps): the same inputs give byte-identical zips, so
CloudFormation publishes no new layer version when nothing changed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from local.template import ROOT, functions, load_template, resolve

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
"""Lambda's limit on a function's unzipped code plus all of its layers."""

PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")
"""Distributions the python3.x Lambda runtimes ship; vendoring them only adds weight and drift."""

WHEEL_PLATFORMS = {"arm64": ("manylinux2014_aarch64",), "x86_64": ("manylinux2014_x86_64",)}
"""pip ``--platform`` tags per Lambda architecture (manylinux2014 also accepts manylinux_2_17 and older)."""

_RUNTIME_PROVIDED_PIN = re.compile(rf"^({'|'.join(PROVIDED_BY_RUNTIME)})==([^\s;\\]+).*(?:\n[ \t].*)*\n?", re.M | re.I)
"""A pin of one of those in ``requirements.txt``, with its indented ``--hash`` and ``# via`` lines."""

ZIP_LEVEL = 6  # level 9 is ~4x slower for 0.5% smaller
SKIPPED_NAMES = frozenset({"__pycache__", ".DS_Store"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")


class PackageError(Exception):
    """The template or the build is not what packaging expects."""


@dataclass(frozen=True, slots=True)
class Target:
    """What the template says the artifacts must run on."""

    runtime: str  # python3.12
    architecture: str  # arm64 | x86_64
    python_version: str  # 3.12
    platforms: tuple[str, ...]  # pip --platform tags for the architecture
    layer_dir: Path  # the layer's ContentUri (the one holding the hitkey_bff package)
    functions: dict[str, Path]  # function name (CodeUri folder name) -> CodeUri
    extra_layers: dict[str, Path] = dataclasses.field(default_factory=dict)  # logical id -> ContentUri


@dataclass(frozen=True, slots=True)
class Artifact:
    path: Path
    zipped_bytes: int
    unzipped_bytes: int


@dataclass(frozen=True, slots=True)
class PackageResult:
    target: Target
    layer: Artifact
    functions: dict[str, Artifact]
    removed: tuple[str, ...]  # runtime-provided distributions the requirements pin, left out
    extra_layers: dict[str, Artifact] = dataclasses.field(default_factory=dict)

    @property
    def largest_deployment_bytes(self) -> int:
        """Unzipped layers (all of them: tracing adds its own) plus the largest function: what
        Lambda compares to its 250 MB limit."""
        layers = self.layer.unzipped_bytes + sum(a.unzipped_bytes for a in self.extra_layers.values())
        return layers + max((f.unzipped_bytes for f in self.functions.values()), default=0)


# Template
# --------------------------------------------------------------------------------------------


def _single(values: Iterable[str], what: str) -> str:
    found = set(values)
    if len(found) != 1:
        raise PackageError(f"template.yaml: expected one {what}, found {sorted(found) or 'none'}")
    return found.pop()


def read_target(template_path: Path) -> Target:
    """Runtime, architecture, layer and functions from a SAM template."""
    template = load_template(template_path)
    base = template_path.resolve().parent
    layers = {
        lid: r.get("Properties") or {}
        for lid, r in (template.get("Resources") or {}).items()
        if isinstance(r, dict) and r.get("Type") == "AWS::Serverless::LayerVersion"
    }
    folders_of = {lid: (base / str(props.get("ContentUri"))).resolve() for lid, props in layers.items()}
    # the BFF's layer holds the hitkey_bff package; any other is requirements only (tracing)
    with_package = [lid for lid, folder in folders_of.items() if any(folder.glob("*/__init__.py"))]
    if len(layers) == 1:
        with_package = list(layers)
    if len(with_package) != 1:
        found = with_package or sorted(layers)
        raise PackageError(f"template.yaml must declare exactly one layer holding a Python package, found {found}")
    try:
        specs = functions(template_path)
    except ValueError as exc:
        raise PackageError(str(exc)) from None
    if not specs:
        raise PackageError("template.yaml: no AWS::Serverless::Function")
    folders: dict[str, Path] = {}
    for spec in specs:
        if spec.code_uri.name in folders:
            raise PackageError(f"{spec.logical_id}: a second function in a folder named {spec.code_uri.name!r}")
        folders[spec.code_uri.name] = spec.code_uri

    params = template.get("Parameters") or {}
    layer_archs = [
        str(resolve(a, params, a)) for props in layers.values() for a in props.get("CompatibleArchitectures") or []
    ]
    archs = [a for spec in specs for a in spec.architectures] + layer_archs
    architecture = _single(archs, "Lambda architecture (functions and layer)")
    runtime = _single((spec.runtime for spec in specs), "Runtime")
    if not runtime.startswith("python3."):
        raise PackageError(f"template.yaml: Runtime {runtime!r} is not a python3.x runtime")
    if architecture not in WHEEL_PLATFORMS:
        raise PackageError(f"unknown Lambda architecture {architecture!r}")
    return Target(
        runtime=runtime,
        architecture=architecture,
        python_version=runtime.removeprefix("python"),
        platforms=WHEEL_PLATFORMS[architecture],
        layer_dir=folders_of[with_package[0]],
        functions=dict(sorted(folders.items())),
        extra_layers={lid: folder for lid, folder in sorted(folders_of.items()) if lid != with_package[0]},
    )


# Building
# --------------------------------------------------------------------------------------------


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, flush=True)


def _strip_caches(root: Path) -> None:
    for cache in sorted(root.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    for compiled in root.rglob("*.py[co]"):
        compiled.unlink()


def _pip_install(requirements: Path, site: Path, target: Target, quiet: bool) -> tuple[str, ...]:
    """Install the layer's requirements but the runtime-provided ones; returns those left out."""
    listed = requirements.read_text(encoding="utf-8")
    left_out = tuple(sorted(f"{m[1]}-{m[2]}" for m in _RUNTIME_PROVIDED_PIN.finditer(listed)))
    pins = _RUNTIME_PROVIDED_PIN.sub("", listed)
    pip = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    # Every dependency is in the file, pinned and hashed (``make requirements``): nothing to resolve.
    exact = ["--no-deps", "--require-hashes", "--no-compile", "--target", str(site), "-r", "/dev/stdin"]
    wheels = ["--only-binary=:all:", "--python-version", target.python_version, "--implementation", "cp"]
    platforms = [arg for platform in target.platforms for arg in ("--platform", platform)]
    command = [*pip, *platforms, *wheels, *exact, *(["--quiet"] if quiet else [])]
    result = subprocess.run(command, input=pins, check=False, capture_output=quiet, text=True)
    if result.returncode != 0:
        detail = f"\n{result.stdout}{result.stderr}" if quiet else ""
        raise PackageError(f"pip install for {target.runtime}/{target.architecture} failed{detail}")
    return left_out


def _skipped(relative: Path, keep_bytecode: bool = False) -> bool:
    if keep_bytecode and relative.name.endswith(".pyc") and relative.parent.name == "__pycache__":
        return False
    return any(part in SKIPPED_NAMES for part in relative.parts) or relative.name.endswith(SKIPPED_SUFFIXES)


def find_python(version: str) -> str | None:
    """A working interpreter of ``version`` ("3.12"): on PATH, or one pyenv installed (a pyenv
    shim on PATH may exist without being active)."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(str(p) for p in Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "--version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout.startswith(f"Python {version}."):
            return candidate
    return None


def compile_bytecode(site: Path, target: Target, quiet: bool = False) -> bool:
    """Compile the layer for the runtime's Python, if that interpreter is on PATH.

    Lambda mounts layers read-only, so without ``.pyc`` every cold start compiles every module it
    imports (~0.2 s of CPU here). ``unchecked-hash`` pycs do not depend on file times (the zip
    stamps every file 1980-01-01) and are byte-identical from build to build.
    """
    python = find_python(target.python_version)
    if python is None:
        why = "each cold start then compiles the layer: about 0.2 s more CPU"
        _say(quiet, f"==> layer: no python{target.python_version} on PATH - shipping without .pyc ({why})")
        return False
    _say(quiet, f"==> layer: compiling .pyc with {python}")
    compileall = ["-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", "-d", "/opt/python", str(site)]
    # PYTHONHASHSEED: frozenset constants in a stable order
    subprocess.run([python, *compileall], check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    return True


def zip_dir(src: Path, zip_path: Path, *, keep_bytecode: bool = False) -> Artifact:
    """Zip the contents of ``src`` (paths relative to it, caches left out unless ``keep_bytecode``
    keeps ``__pycache__/*.pyc``), deterministically."""
    files = sorted(p for p in src.rglob("*") if p.is_file() and not _skipped(p.relative_to(src), keep_bytecode))
    unzipped = 0
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w") as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(src).as_posix())  # dated 1980-01-01, ZipInfo's default
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            data = path.read_bytes()
            unzipped += len(data)
            zf.writestr(info, data, zipfile.ZIP_DEFLATED, ZIP_LEVEL)
    return Artifact(zip_path, zip_path.stat().st_size, unzipped)


def build_layer(
    target: Target, out: Path, quiet: bool = False, *, source: Path | None = None, name: str = "layer"
) -> tuple[Artifact, tuple[str, ...]]:
    """``<out>/<name>.zip`` from ``source`` (default: the BFF's layer, which must hold a package;
    another layer may be its ``requirements.txt`` alone)."""
    layer_dir = source or target.layer_dir
    staging = out / name
    site = staging / "python"
    shutil.rmtree(staging, ignore_errors=True)
    site.mkdir(parents=True)

    requirements = layer_dir / "requirements.txt"
    platforms = ", ".join(target.platforms)
    _say(quiet, f"==> layer: pip install -r {_rel(requirements)} for {target.runtime} on {platforms}")
    removed = _pip_install(requirements, site, target, quiet)
    if removed:
        _say(quiet, f"==> layer: dropped {', '.join(removed)} (the Lambda runtime provides them)")
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts, with this machine's shebang

    packages = sorted(p for p in layer_dir.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    if not packages and source is None:
        raise PackageError(f"{_rel(layer_dir)}: no Python package to put in the layer")
    for package in packages:
        _say(quiet, f"==> layer: adding {_rel(package)}")
        shutil.copytree(package, site / package.name)
    _strip_caches(staging)  # the sources' caches, and any a wheel shipped for another Python
    compiled = compile_bytecode(site, target, quiet)

    _say(quiet, f"==> layer: zipping {_rel(out / f'{name}.zip')}")
    return zip_dir(staging, out / f"{name}.zip", keep_bytecode=compiled), removed


def build_functions(target: Target, out: Path, quiet: bool = False) -> dict[str, Artifact]:
    functions_out = out / "functions"
    shutil.rmtree(functions_out, ignore_errors=True)
    artifacts: dict[str, Artifact] = {}
    for name, code_dir in target.functions.items():
        if not (code_dir / "app.py").is_file():
            raise PackageError(f"{_rel(code_dir)}: no app.py")
        artifacts[name] = zip_dir(code_dir, functions_out / f"{name}.zip")
    _say(quiet, f"==> functions: {', '.join(artifacts)} -> {_rel(functions_out)}/")
    return artifacts


_URI_LINE = re.compile(r"^(?P<lead>\s*(?:CodeUri|ContentUri):\s*)(?P<value>[^\s#]+)(?P<tail>\s*(?:#.*)?)$")


def write_template(template_path: Path, target: Target, out: Path) -> Path:
    """``<out>/template.yaml``: the template with each ``CodeUri``/``ContentUri`` folder replaced by
    the zip built from it (paths relative to ``<out>``). ``sam deploy`` uploads local zips as they
    are, so ``sam deploy --template-file build/template.yaml`` deploys these artifacts, no ``sam build``.
    """
    base = template_path.resolve().parent
    zips = {target.layer_dir: "layer.zip"} | {
        folder: f"functions/{name}.zip" for name, folder in target.functions.items()
    }
    zips |= {folder: f"layers/{lid}.zip" for lid, folder in target.extra_layers.items()}
    replaced: set[Path] = set()
    lines = []
    for line in template_path.read_text(encoding="utf-8").splitlines():
        match = _URI_LINE.match(line)
        if match and (folder := (base / match["value"]).resolve()) in zips:
            line = f"{match['lead']}{zips[folder]}{match['tail']}"
            replaced.add(folder)
        lines.append(line)
    if missing := sorted(_rel(p) for p in set(zips) - replaced):
        raise PackageError(f"{_rel(template_path)}: could not point these at their zips: {', '.join(missing)}")
    header = f"# Generated by `python -m tools.package` from {template_path.name}; do not edit.\n"
    written = out / "template.yaml"
    written.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    return written


def package(template_path: Path, out: Path, quiet: bool = False) -> PackageResult:
    """Build ``<out>/layer.zip``, ``<out>/functions/<name>.zip`` and ``<out>/template.yaml`` (pointing
    at them) for the template's Lambda target."""
    target = read_target(template_path)
    out.mkdir(parents=True, exist_ok=True)
    layer, removed = build_layer(target, out, quiet)
    extra = {
        lid: build_layer(target, out, quiet, source=folder, name=f"layers/{lid}")[0]
        for lid, folder in target.extra_layers.items()
    }
    functions = build_functions(target, out, quiet)
    template = write_template(template_path, target, out)
    _say(quiet, f"==> template: {_rel(template)} (sam deploy --template-file {_rel(template)} --guided)")
    return PackageResult(target, layer, functions, removed, extra)


# Report
# --------------------------------------------------------------------------------------------


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def size_report(result: PackageResult) -> str:
    mb = 1024 * 1024

    def row(artifact: Artifact, unit: str, scale: int, digits: int) -> tuple[str, str, str]:
        zipped, unzipped = (f"{n / scale:.{digits}f} {unit}" for n in (artifact.zipped_bytes, artifact.unzipped_bytes))
        return _rel(artifact.path), zipped, unzipped

    rows = [("artifact", "zipped", "unzipped"), row(result.layer, "MB", mb, 2)]
    rows += [row(artifact, "MB", mb, 2) for artifact in result.extra_layers.values()]
    rows += [row(artifact, "KB", 1024, 1) for artifact in result.functions.values()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}" for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = result.largest_deployment_bytes
    share = total / LAMBDA_UNZIPPED_LIMIT
    verdict = "OK" if total <= LAMBDA_UNZIPPED_LIMIT else "OVER THE LIMIT"
    lines.append(
        f"layers + largest function unzipped: {total / mb:.2f} MB of Lambda's "
        f"{LAMBDA_UNZIPPED_LIMIT // mb} MB limit ({share:.1%}) - {verdict}"
    )
    lines.append(f"target: {result.target.runtime} on {result.target.architecture}")
    if result.removed:
        lines.append(f"not vendored (the Lambda runtime provides them): {', '.join(result.removed)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the layer and function zips for Lambda (no Docker).")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml", help="SAM template")
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output folder (default: build/)")
    parser.add_argument("--quiet", action="store_true", help="only the size table")
    args = parser.parse_args(argv)
    try:
        result = package(args.template, args.out, quiet=args.quiet)
    except PackageError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    print(size_report(result))
    return 0 if result.largest_deployment_bytes <= LAMBDA_UNZIPPED_LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
