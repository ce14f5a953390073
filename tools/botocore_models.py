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
import json
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import botocore
from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader

from hitkey_bff import aws
from hitkey_bff.aws import OPERATIONS

DATA_DIR = Path(aws.DATA_DIR)
COPIED = ("partitions", "_retry", "sdk-default-configuration")
"""Top-level data files copied as they are."""
_SHAPE_REF = re.compile(r'"shape": "([^"]+)"')
"""A reference to a shape, ``{"shape": name}``, in a model's JSON text (a quote inside a string is
escaped, so no text matches)."""


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


def trim_service(model: Mapping[str, Any], operations: Sequence[str]) -> dict[str, Any]:
    """``model`` (a ``service-2``) with only ``operations``, the shapes they reach and every error shape."""
    missing = [name for name in operations if name not in model["operations"]]
    if missing:
        raise KeyError(f"{model['metadata']['serviceId']} has no operation {', '.join(missing)}")
    kept_ops = {
        name: op for name, op in model["operations"].items() if name in operations or op.get("endpointoperation")
    }
    shapes = model["shapes"]
    todo = set(_SHAPE_REF.findall(json.dumps(kept_ops))) | {n for n, shape in shapes.items() if shape.get("exception")}
    reached: set[str] = set()
    while todo:
        name = todo.pop()
        reached.add(name)
        todo |= set(_SHAPE_REF.findall(json.dumps(shapes[name]))) - reached
    trimmed = {**model, "operations": kept_ops, "shapes": {k: v for k, v in shapes.items() if k in reached}}
    result: dict[str, Any] = _strip_docs(trimmed)
    return result


def generate(source: Path | None = None) -> dict[str, Any]:
    """Relative path (``dynamodb/2012-08-10/service-2.json``) -> content, from ``source`` (botocore's data)."""
    data = source or Path(botocore.__file__).parent / "data"
    loader = Loader(extra_search_paths=[str(data)], include_default_search_paths=False)
    files: dict[str, Any] = {}
    prefixes = set()
    for service, operations in OPERATIONS.items():
        folder = f"{service}/{loader.determine_latest_version(service, 'service-2')}"
        model = loader.load_data(f"{folder}/service-2")
        prefixes.add(model["metadata"]["endpointPrefix"])
        files[f"{folder}/service-2.json"] = trim_service(model, operations)
        files[f"{folder}/endpoint-rule-set-1.json"] = loader.load_data(f"{folder}/endpoint-rule-set-1")
        try:
            pages = loader.load_data(f"{folder}/paginators-1")["pagination"]
        except DataNotFoundError:
            pages = {}
        if kept := {op: cfg for op, cfg in pages.items() if op in operations}:
            files[f"{folder}/paginators-1.json"] = {"pagination": kept}
    endpoints = loader.load_data("endpoints")
    endpoints["partitions"] = [
        {**p, "services": {k: v for k, v in p.get("services", {}).items() if k in prefixes}}
        for p in endpoints["partitions"]
    ]
    files["endpoints.json"] = endpoints
    files |= {f"{name}.json": loader.load_data(name) for name in COPIED}
    return files


def render(content: Any) -> str:
    """One file's text: JSON, indented, in botocore's key order."""
    return json.dumps(content, indent=1, ensure_ascii=False) + "\n"


def differences(target: Path = DATA_DIR, source: Path | None = None) -> list[str]:
    """The files under ``target`` that differ from what ``source`` gives (missing or extra ones too)."""
    wanted = {name: render(content) for name, content in generate(source).items()}
    present = {str(p.relative_to(target)): p.read_text(encoding="utf-8") for p in target.rglob("*.json")}
    extra = [f"{name}: extra" for name in sorted(present.keys() - wanted.keys())]
    return extra + [
        f"{name}: {'differs' if name in present else 'missing'}"
        for name, text in sorted(wanted.items())
        if present.get(name) != text
    ]


def write(target: Path = DATA_DIR, source: Path | None = None) -> list[str]:
    """Write the folder afresh (it holds nothing else); returns the files written."""
    files = generate(source)
    shutil.rmtree(target, ignore_errors=True)
    for name, content in files.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(content), encoding="utf-8")
    return sorted(files)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.botocore_models", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the folder differs, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        if diff := differences():
            advice = f"{DATA_DIR} differs from botocore {botocore.__version__}'s: run `python -m tools.botocore_models`"
            print(*diff, advice, sep="\n")
            return 1
        print(f"{DATA_DIR}: as botocore {botocore.__version__} gives it")
        return 0
    written = write()
    size = sum((DATA_DIR / name).stat().st_size for name in written)
    print(f"==> {DATA_DIR}: {len(written)} files, {size / 1024:.0f} KiB, from botocore {botocore.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
