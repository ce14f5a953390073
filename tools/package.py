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
import logging
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
SKIPPED = shutil.ignore_patterns("__pycache__", ".DS_Store", "*.pyc", "*.pyo")
MB = 1024 * 1024
log = logging.getLogger(__name__)


class PackageError(Exception):
    """The template or the build is not what packaging expects."""


@dataclass(frozen=True, slots=True)
class Target:
    """What the template says the artifacts must run on."""

    runtime: str  # python3.12
    architecture: str  # arm64 | x86_64
    layer_dir: Path  # the layer's ContentUri (the one holding the hitkey_bff package)
    functions: dict[str, Path]  # function name (CodeUri folder name) -> CodeUri
    extra_layers: dict[str, Path]  # logical id -> ContentUri of every other layer

    @property
    def python_version(self) -> str:  # 3.12
        return self.runtime.removeprefix("python")

    @property
    def platforms(self) -> tuple[str, ...]:  # pip --platform tags for the architecture
        return WHEEL_PLATFORMS[self.architecture]


@dataclass(frozen=True, slots=True)
class Artifact:
    path: Path
    zipped_bytes: int
    unzipped_bytes: int


def _single(values: Iterable[str], what: str) -> str:
    found = set(values)
    if len(found) != 1:
        raise PackageError(f"template.yaml: expected one {what}, found {sorted(found) or 'none'}")
    return found.pop()


def read_target(template_path: Path) -> Target:
    """Runtime, architecture, layers and functions from a SAM template."""
    template = load_template(template_path)
    base = template_path.resolve().parent
    params = template.get("Parameters") or {}
    folders: dict[str, Path] = {}
    archs: list[str] = []
    for lid, resource in (template.get("Resources") or {}).items():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::LayerVersion":
            props = resource.get("Properties") or {}
            folders[lid] = (base / str(props.get("ContentUri"))).resolve()
            archs += [str(resolve(a, params, a)) for a in props.get("CompatibleArchitectures") or []]
    # the BFF's layer holds the hitkey_bff package; any other is requirements only (tracing)
    bff = [lid for lid, folder in folders.items() if len(folders) == 1 or any(folder.glob("*/__init__.py"))]
    if len(bff) != 1:
        found = bff or sorted(folders)
        raise PackageError(f"template.yaml must declare exactly one layer holding a Python package, found {found}")
    try:
        specs = functions(template_path)
    except ValueError as exc:
        raise PackageError(str(exc)) from None
    if not specs:
        raise PackageError("template.yaml: no AWS::Serverless::Function")
    code: dict[str, Path] = {}
    for spec in specs:
        if spec.code_uri.name in code:
            raise PackageError(f"{spec.logical_id}: a second function in a folder named {spec.code_uri.name!r}")
        code[spec.code_uri.name] = spec.code_uri
    architecture = _single([*(a for spec in specs for a in spec.architectures), *archs], "Lambda architecture")
    runtime = _single((spec.runtime for spec in specs), "Runtime")
    if not runtime.startswith("python3.") or architecture not in WHEEL_PLATFORMS:
        raise PackageError(
            f"template.yaml: {runtime} on {architecture} is not a python3.x runtime on a Lambda architecture"
        )
    layer_dir = folders.pop(bff[0])
    return Target(runtime, architecture, layer_dir, dict(sorted(code.items())), dict(sorted(folders.items())))


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


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


def zip_dir(src: Path, zip_path: Path, *, keep_bytecode: bool = False) -> Artifact:
    """Zip the contents of ``src`` (paths relative to it, caches left out unless ``keep_bytecode``
    keeps ``__pycache__/*.pyc``), deterministically."""

    def skipped(relative: Path) -> bool:
        if keep_bytecode and relative.suffix == ".pyc" and relative.parent.name == "__pycache__":
            return False
        return bool(SKIPPED("", list(relative.parts)))

    files = sorted(p for p in src.rglob("*") if p.is_file() and not skipped(p.relative_to(src)))
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w") as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(src).as_posix())  # dated 1980-01-01, ZipInfo's default
            info.external_attr = (0o100000 | (0o755 if os.access(path, os.X_OK) else 0o644)) << 16
            zf.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED, ZIP_LEVEL)
        unzipped = sum(info.file_size for info in zf.infolist())
    return Artifact(zip_path, zip_path.stat().st_size, unzipped)


def pip_install(requirements: Path, site: Path, target: Target) -> tuple[str, ...]:
    """Install the layer's requirements but the runtime-provided ones; returns those left out."""
    listed = requirements.read_text(encoding="utf-8")
    left_out = tuple(sorted(f"{m[1]}-{m[2]}" for m in _RUNTIME_PROVIDED_PIN.finditer(listed)))
    quiet = not log.isEnabledFor(logging.INFO)
    pip = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    # Every dependency is in the file, pinned and hashed (``make requirements``): nothing to resolve.
    exact = ["--no-deps", "--require-hashes", "--no-compile", "--target", str(site), "-r", "/dev/stdin"]
    wheels = ["--only-binary=:all:", "--python-version", target.python_version, "--implementation", "cp"]
    platforms = [arg for platform in target.platforms for arg in ("--platform", platform)]
    command = [*pip, *platforms, *wheels, *exact, *(["--quiet"] if quiet else [])]
    pins = _RUNTIME_PROVIDED_PIN.sub("", listed)
    result = subprocess.run(command, input=pins, check=False, capture_output=quiet, text=True)
    if result.returncode != 0:
        detail = f"\n{result.stdout}{result.stderr}" if quiet else ""
        raise PackageError(f"pip install for {target.runtime}/{target.architecture} failed{detail}")
    return left_out


def compile_bytecode(site: Path, version: str) -> bool:
    """Compile the layer for the runtime's Python ``version``, if that interpreter is on PATH.

    Lambda mounts layers read-only, so without ``.pyc`` every cold start compiles every module it
    imports (~0.2 s of CPU here). ``unchecked-hash`` pycs do not depend on file times (the zip
    stamps every file 1980-01-01) and are byte-identical from build to build.
    """
    python = find_python(version)
    if python is None:
        why = "each cold start then compiles the layer: about 0.2 s more CPU"
        log.info(f"==> layer: no python{version} on PATH - shipping without .pyc ({why})")
        return False
    log.info(f"==> layer: compiling .pyc with {python}")
    compileall = ["-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", "-d", "/opt/python"]
    # PYTHONHASHSEED: frozenset constants in a stable order
    subprocess.run([python, *compileall, str(site)], check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    return True


def build_layer(target: Target, source: Path, zip_path: Path) -> tuple[Artifact, tuple[str, ...]]:
    """``zip_path`` from ``source``: its ``requirements.txt``, and its packages (the BFF's layer must
    hold one; another layer may be its requirements alone); staged in the folder beside it."""
    staging = zip_path.with_suffix("")
    site = staging / "python"
    shutil.rmtree(staging, ignore_errors=True)
    site.mkdir(parents=True)
    requirements = source / "requirements.txt"
    log.info(f"==> layer: pip install -r {_rel(requirements)} for {target.runtime} on {', '.join(target.platforms)}")
    if removed := pip_install(requirements, site, target):
        log.info(f"==> layer: dropped {', '.join(removed)} (the Lambda runtime provides them)")
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts, with this machine's shebang
    packages = sorted(p for p in source.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    if not packages and source == target.layer_dir:
        raise PackageError(f"{_rel(source)}: no Python package to put in the layer")
    for package in packages:
        log.info(f"==> layer: adding {_rel(package)}")
        shutil.copytree(package, site / package.name)
    # the sources' caches, and any a wheel shipped for another Python
    for cache in sorted(staging.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    compiled = compile_bytecode(site, target.python_version)
    log.info(f"==> layer: zipping {_rel(zip_path)}")
    return zip_dir(staging, zip_path, keep_bytecode=compiled), removed


def build_functions(target: Target, out: Path) -> list[Artifact]:
    """``<out>/<name>.zip`` of each function's ``CodeUri`` folder."""
    shutil.rmtree(out, ignore_errors=True)
    for code_dir in target.functions.values():
        if not (code_dir / "app.py").is_file():
            raise PackageError(f"{_rel(code_dir)}: no app.py")
    log.info(f"==> functions: {', '.join(target.functions)} -> {_rel(out)}/")
    return [zip_dir(code_dir, out / f"{name}.zip") for name, code_dir in target.functions.items()]


_URI = re.compile(r"^(?P<lead>\s*(?:CodeUri|ContentUri):\s*)(?P<value>[^\s#]+)(?=\s*(?:#.*)?$)", re.M)


def write_template(template_path: Path, target: Target, out: Path) -> Path:
    """``<out>/template.yaml``: the template with each ``CodeUri``/``ContentUri`` folder replaced by
    the zip built from it (paths relative to ``<out>``). ``sam deploy`` uploads local zips as they
    are, so ``sam deploy --template-file build/template.yaml`` deploys these artifacts, no ``sam build``.
    """
    base = template_path.resolve().parent
    zips = {target.layer_dir: "layer.zip"} | {d: f"layers/{lid}.zip" for lid, d in target.extra_layers.items()}
    zips |= {folder: f"functions/{name}.zip" for name, folder in target.functions.items()}
    replaced: set[Path] = set()

    def point(match: re.Match[str]) -> str:
        if (folder := (base / match["value"]).resolve()) not in zips:
            return match[0]
        replaced.add(folder)
        return f"{match['lead']}{zips[folder]}"

    text = _URI.sub(point, template_path.read_text(encoding="utf-8"))
    if missing := sorted(_rel(p) for p in set(zips) - replaced):
        raise PackageError(f"{_rel(template_path)}: could not point these at their zips: {', '.join(missing)}")
    written = out / "template.yaml"
    written.write_text(
        f"# Generated by `python -m tools.package` from {template_path.name}; do not edit.\n{text}", encoding="utf-8"
    )
    return written


def size_report(
    target: Target, layers: list[Artifact], functions: list[Artifact], removed: Sequence[str]
) -> tuple[str, bool]:
    """The artifacts' sizes, and the layers (all of them: tracing adds its own) plus the largest
    function unzipped, what Lambda compares to its 250 MB limit; and whether that fits."""
    rows = [("artifact", "zipped", "unzipped")]
    for artifacts, unit, scale, digits in ((layers, "MB", MB, 2), (functions, "KB", 1024, 1)):
        for a in artifacts:
            zipped, unzipped = (f"{n / scale:.{digits}f} {unit}" for n in (a.zipped_bytes, a.unzipped_bytes))
            rows.append((_rel(a.path), zipped, unzipped))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}" for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = sum(a.unzipped_bytes for a in layers) + max((f.unzipped_bytes for f in functions), default=0)
    verdict = "OK" if total <= LAMBDA_UNZIPPED_LIMIT else "OVER THE LIMIT"
    lines.append(
        f"layers + largest function unzipped: {total / MB:.2f} MB of Lambda's "
        f"{LAMBDA_UNZIPPED_LIMIT // MB} MB limit ({total / LAMBDA_UNZIPPED_LIMIT:.1%}) - {verdict}"
    )
    lines.append(f"target: {target.runtime} on {target.architecture}")
    if removed:
        lines.append(f"not vendored (the Lambda runtime provides them): {', '.join(removed)}")
    return "\n".join(lines), total <= LAMBDA_UNZIPPED_LIMIT


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the layer and function zips for Lambda (no Docker).")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml", help="SAM template")
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output folder (default: build/)")
    parser.add_argument("--quiet", action="store_true", help="only the size table")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(message)s", level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stdout)
    try:
        target = read_target(args.template)
        layer, removed = build_layer(target, target.layer_dir, args.out / "layer.zip")
        extra = [build_layer(target, d, args.out / f"layers/{lid}.zip")[0] for lid, d in target.extra_layers.items()]
        functions = build_functions(target, args.out / "functions")
        template = write_template(args.template, target, args.out)
    except PackageError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    log.info(f"==> template: {_rel(template)} (sam deploy --template-file {_rel(template)} --guided)")
    report, fits = size_report(target, [layer, *extra], functions, removed)
    print(report)
    return 0 if fits else 1


if __name__ == "__main__":
    sys.exit(main())
