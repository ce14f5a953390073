"""docs/proxy.md's numbers for the refresh cooldown, the request deadline, the Lambda timeout, the
path and query limits and the ``Location`` test matrix are the code's; every test it names exists."""

from __future__ import annotations

import re
from pathlib import Path

from hitkey_bff import http
from hitkey_bff.budgets import PROXY_DEADLINE_SECONDS, REFRESH_COOLDOWN_SECONDS
from hitkey_bff.proxy.limits import MAX_PATH
from local.template import load_template
from tests.unit.test_proxy_response_headers import BASED, DOT_FORMS, shapes

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "proxy.md").read_text(encoding="utf-8")


def test_the_cooldown_and_the_timeouts_are_the_codes() -> None:
    assert f"**The refresh cooldown: {REFRESH_COOLDOWN_SECONDS} s** (`budgets.REFRESH_COOLDOWN_SECONDS`)" in DOC
    assert f"one refresh per session per {REFRESH_COOLDOWN_SECONDS} s" in DOC
    assert f"| whole request | {PROXY_DEADLINE_SECONDS:g} s after it started (`PROXY_DEADLINE_SECONDS`" in DOC
    timeout = load_template()["Globals"]["Function"]["Timeout"]
    assert f"the functions' Lambda timeout is {timeout} s (`template.yaml`, Globals `Timeout`)" in DOC
    assert not re.search(r"Lambda timeout 25 s", DOC)


def test_the_path_and_query_limits_are_the_codes() -> None:
    assert f"| path / query | {MAX_PATH} / {http.MAX_QUERY} characters |" in DOC
    assert f"at most {http.MAX_QUERY_FIELDS} fields" in DOC
    assert f"query over {http.MAX_QUERY} characters or {http.MAX_QUERY_FIELDS} fields" in DOC


def test_the_location_matrix_is_the_tests() -> None:
    assert f"{len(DOT_FORMS)} dot forms x {len(shapes(BASED, '..'))} shapes" in DOC


def test_every_test_the_doc_names_exists() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    named = set(re.findall(r"`(?:[\w/]+\.py::)?(test_\w+)`", DOC)) | set(re.findall(r"::(test_\w+)", DOC))
    assert named and not {n for n in named if f"def {n}(" not in source}
