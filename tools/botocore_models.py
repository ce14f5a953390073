"""Generate the layer's botocore data folder from the installed botocore's.

    python -m tools.botocore_models [--check]

The layer's AWS clients read their models from ``layers/bff/hitkey_bff/botocore_data`` instead
of botocore's own ``data`` folder (:func:`hitkey_bff.aws.data_loader`). That folder holds what
botocore loads to create the three clients the BFF uses, taken from the installed botocore:

* each service's ``service-2`` model with only the operations in
  :data:`hitkey_bff.aws.OPERATIONS` (plus the endpoint-discovery operation botocore wires its
  discovery handler from), the shapes they reach, every error shape (so ``client.exceptions`` is
  unchanged) and no documentation text; its ``paginators-1`` for those operations; its
  ``endpoint-rule-set-1`` as it is;
* ``endpoints.json`` with every partition as it is but its ``services`` cut to these three;
  ``partitions.json``, ``_retry.json`` and ``sdk-default-configuration.json`` as they are.

A client then parses a few kilobytes of JSON where it parsed about 1.4 MB, and botocore's loader
no longer lists the ~400 service folders of its own data. ``--check`` exits 1 if the folder
differs from what this botocore gives (``tests/unit/test_botocore_models.py`` runs the same).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hitkey_bff import aws
from hitkey_bff.aws import OPERATIONS

DATA_DIR = Path(aws.DATA_DIR)
COPIED = ("partitions", "_retry", "sdk-default-configuration")
"""Top-level data files copied as they are."""


def _botocore_data() -> Path:
    import botocore

    return Path(botocore.__file__).parent / "data"


def _load(path: Path) -> Any:
    """A botocore data file, ``.json`` or ``.json.gz`` (``path`` without the extension)."""
    for suffix, opener in ((".json", open), (".json.gz", gzip.open)):
        candidate = path.with_name(path.name + suffix)
        if candidate.is_file():
            with opener(candidate, "rb") as f:
                return json.loads(f.read().decode("utf-8"))
    raise FileNotFoundError(f"{path}.json: not in this botocore")


def _strip_docs(node: Any, *, members: bool = False) -> Any:
    """``node`` without ``documentation`` texts (a member *named* documentation is kept)."""
    if isinstance(node, dict):
        return {
            key: _strip_docs(value, members=key == "members")
            for key, value in node.items()
            if members or key not in ("documentation", "documentationUrl")
        }
    if isinstance(node, list):
        return [_strip_docs(item) for item in node]
    return node


def _references(node: Any) -> set[str]:
    """The shape names ``node`` refers to (``{"shape": name}`` anywhere inside it)."""
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("shape"), str):
            found.add(node["shape"])
        for value in node.values():
            found |= _references(value)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item)
    return found


def trim_service(model: Mapping[str, Any], operations: Sequence[str]) -> dict[str, Any]:
    """``model`` (a ``service-2``) with only ``operations``, the shapes they reach and every error shape."""
    missing = [name for name in operations if name not in model["operations"]]
    if missing:
        raise KeyError(f"{model['metadata']['serviceId']} has no operation {', '.join(missing)}")
    kept_ops = {
        name: op for name, op in model["operations"].items() if name in operations or op.get("endpointoperation")
    }
    shapes = model["shapes"]
    todo = _references(kept_ops) | {name for name, shape in shapes.items() if shape.get("exception")}
    reached: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo |= _references(shapes[name]) - reached
    trimmed = dict(model)
    trimmed["operations"] = kept_ops
    trimmed["shapes"] = {name: shape for name, shape in shapes.items() if name in reached}
    result: dict[str, Any] = _strip_docs(trimmed)
    return result


def generate(source: Path | None = None) -> dict[str, Any]:
    """Relative path (``dynamodb/2012-08-10/service-2.json``) -> content, from ``source`` (botocore's data)."""
    data = source or _botocore_data()
    files: dict[str, Any] = {}
    prefixes = set()
    for service, operations in OPERATIONS.items():
        versions = sorted(p.name for p in (data / service).iterdir() if p.is_dir())
        version = next(
            v
            for v in reversed(versions)
            if (data / service / v / "service-2.json.gz").exists() or (data / service / v / "service-2.json").exists()
        )
        folder = data / service / version
        model = _load(folder / "service-2")
        prefixes.add(model["metadata"]["endpointPrefix"])
        files[f"{service}/{version}/service-2.json"] = trim_service(model, operations)
        files[f"{service}/{version}/endpoint-rule-set-1.json"] = _load(folder / "endpoint-rule-set-1")
        try:
            pages = _load(folder / "paginators-1")
        except FileNotFoundError:
            pages = {"pagination": {}}
        kept = {op: cfg for op, cfg in pages["pagination"].items() if op in operations}
        if kept:
            files[f"{service}/{version}/paginators-1.json"] = {"pagination": kept}
    endpoints = _load(data / "endpoints")
    endpoints["partitions"] = [
        {**p, "services": {k: v for k, v in p.get("services", {}).items() if k in prefixes}}
        for p in endpoints["partitions"]
    ]
    files["endpoints.json"] = endpoints
    for name in COPIED:
        files[f"{name}.json"] = _load(data / name)
    return files


def render(content: Any) -> str:
    """One file's text: JSON, indented, in botocore's key order."""
    return json.dumps(content, indent=1, ensure_ascii=False) + "\n"


def differences(target: Path = DATA_DIR, source: Path | None = None) -> list[str]:
    """The files under ``target`` that differ from what ``source`` gives (missing or extra ones too)."""
    wanted = {name: render(content) for name, content in generate(source).items()}
    present = {str(p.relative_to(target)) for p in target.rglob("*.json")} if target.is_dir() else set()
    out = [f"{name}: extra" for name in sorted(present - wanted.keys())]
    for name, text in sorted(wanted.items()):
        path = target / name
        if not path.is_file():
            out.append(f"{name}: missing")
        elif path.read_text(encoding="utf-8") != text:
            out.append(f"{name}: differs")
    return out


def write(target: Path = DATA_DIR, source: Path | None = None) -> list[str]:
    """Write the folder afresh; returns the files written."""
    files = generate(source)
    for old in sorted(target.rglob("*.json")) if target.is_dir() else ():
        old.unlink()
    for name, content in files.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(content), encoding="utf-8")
    for folder in sorted((p for p in target.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return sorted(files)


def main(argv: Sequence[str] | None = None) -> int:
    import botocore

    parser = argparse.ArgumentParser(prog="python -m tools.botocore_models", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the folder differs, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        diff = differences()
        for line in diff:
            print(line)
        if diff:
            print(f"{DATA_DIR} differs from botocore {botocore.__version__}'s: run `python -m tools.botocore_models`")
            return 1
        print(f"{DATA_DIR}: as botocore {botocore.__version__} gives it")
        return 0
    written = write()
    size = sum((DATA_DIR / name).stat().st_size for name in written)
    print(f"==> {DATA_DIR}: {len(written)} files, {size / 1024:.0f} KiB, from botocore {botocore.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
