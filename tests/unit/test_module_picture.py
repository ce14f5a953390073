"""CONTRIBUTING.md's picture of the layer's modules is how they import each other: a module
imports only what stands below it or beside it, a module the picture does not name stands with
the small ones (the ``...`` line), every module it names exists, and the layer imports nothing
from outside it (``local``, ``tools``, ``bench``, ``testkit``, the tests)."""

from __future__ import annotations

import re

from tests.unit.docs_tables import ROOT
from tests.unit.test_import_cycles import graph

LAYER = ROOT / "layers" / "bff" / "hitkey_bff"
_NAME = re.compile(r"(?<![\w/<>])((?:[\w<>]+/)*[\w<>]+\.py|\w+/)(?=[\s,)]|$)")


def picture() -> tuple[dict[str, int], int]:
    """Each module or package the picture names (``vault``, ``routes.``) -> its depth, and the
    depth of the ``...`` line; names outside the layer (``functions/<name>/app.py``) are left out."""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    block = text.split("## The modules", 1)[1].split("```", 2)[1]
    depths: dict[str, int] = {}
    rest = -1
    for line in block.splitlines():
        depth = (len(line) - len(line.lstrip())) // 2
        for name in _NAME.findall(line):
            if name.startswith("functions/"):
                continue
            module = name.removesuffix(".py").replace("/", ".").replace("<route>", "")
            depths[module] = depth
        if line.rstrip().endswith("..."):
            rest = depth
    assert depths and rest >= 0, "CONTRIBUTING.md: no picture of the modules with a '...' line"
    return depths, rest


def depth_of(module: str, depths: dict[str, int], rest: int) -> int:
    """``hitkey_bff.routes.login`` -> the depth of ``routes.``; an unnamed module -> ``rest``."""
    name = module.removeprefix("hitkey_bff.")
    for named, depth in depths.items():
        if name == named or (named.endswith(".") and (name + ".").startswith(named)):
            return depth
    return rest


def test_the_picture_names_modules_that_exist() -> None:
    depths, _ = picture()
    missing = []
    for name in depths:
        path = LAYER / name.rstrip(".").replace(".", "/")
        if not (path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()):
            missing.append(name)
    assert {"dispatch", "route", "routes.", "refresh", "vault", "errors"} <= set(depths)
    assert missing == [], f"CONTRIBUTING.md's picture names modules the layer does not have: {missing}"


def test_no_module_imports_one_above_it() -> None:
    depths, rest = picture()
    edges = graph()
    up = sorted(
        f"{module} -> {target}"
        for module, targets in edges.items()
        if module.startswith("hitkey_bff.")
        for target in targets
        if target.startswith("hitkey_bff.") and depth_of(target, depths, rest) < depth_of(module, depths, rest)
    )
    assert up == [], f"imports that go up CONTRIBUTING.md's picture of the modules: {up}"


def test_the_layer_imports_nothing_from_outside_it() -> None:
    edges = graph()
    out = sorted(
        f"{module} -> {target}"
        for module, targets in edges.items()
        if module == "hitkey_bff" or module.startswith("hitkey_bff.")
        for target in targets
        if target != "hitkey_bff" and not target.startswith("hitkey_bff.")
    )
    assert out == [], f"the layer imports from outside it: {out}"
