"""docs/security.md names the test that proves each defence: every cited test file, test function
and parametrized case must exist, so a renamed or moved test cannot leave the page pointing at
nothing.

What counts as a citation (inside backticks): a path under ``tests/`` or ``clients/js/test/``
(``tests/unit/test_x.py``, ``tests/data/x.txt``) or a bare test file name (``test_x.py``, which
must name exactly one file under ``tests/``), optionally followed by ``::test_name`` and
``[case-id]``; ``::test_name`` alone (in the last file cited on the same line); a bare
``test_name`` (defined in some test file).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
CITATION = re.compile(
    r"(?P<path>(?:tests|clients/js/test)/[\w/.-]+\.\w+|\btest_\w+\.py)?"
    r"(?:::(?P<name>test_\w+))?"
    r"(?:\[(?P<case>[^\]\s]+)\])?"
)
BARE_NAME = re.compile(r"\btest_\w+\b(?!\.py)")


@cache
def _test_files() -> tuple[Path, ...]:
    return tuple(sorted((ROOT / "tests").rglob("test_*.py")))


@cache
def defined_in(path: Path) -> frozenset[str]:
    return frozenset(re.findall(r"^\s*(?:async\s+)?def (test_\w+)\(", path.read_text(encoding="utf-8"), re.M))


def resolve(cited: str) -> Path | str:
    """The file a cited path names, or why it names none."""
    if cited.startswith(("tests/", "clients/")):
        path = ROOT / cited
        return path if path.is_file() else f"{cited} does not exist"
    found = [p for p in _test_files() if p.name == cited]
    if len(found) != 1:
        return f"{cited} names {len(found)} files under tests/, not one"
    return found[0]


def problems(text: str) -> list[str]:
    """Every citation in ``text`` that points at nothing, as ``line N: why``."""
    wrong: list[str] = []
    every_name = frozenset().union(*(defined_in(p) for p in _test_files()))
    for number, line in enumerate(text.splitlines(), 1):
        last: Path | None = None
        for span in re.findall(r"`([^`]+)`", line):
            for match in CITATION.finditer(span):
                cited, name, case = match.group("path"), match.group("name"), match.group("case")
                if not (cited or name):
                    continue
                where: Path | None
                if cited:
                    found = resolve(cited)
                    if isinstance(found, str):
                        wrong.append(f"line {number}: {found}")
                        continue
                    where = last = found
                else:
                    where = last
                    if where is None:
                        wrong.append(f"line {number}: ::{name} follows no test file on its line")
                        continue
                rel = where.relative_to(ROOT)
                if name and where.suffix == ".py" and name not in defined_in(where):
                    wrong.append(f"line {number}: {rel} has no {name}")
                if case and case not in where.read_text(encoding="utf-8"):
                    wrong.append(f"line {number}: {rel} has no case [{case}]")
            for name in BARE_NAME.findall(CITATION.sub("", span)):
                if name not in every_name:
                    wrong.append(f"line {number}: no test is named {name}")
    return wrong


def test_every_test_cited_in_the_security_page_exists() -> None:
    wrong = problems(DOC.read_text(encoding="utf-8"))
    assert not wrong, "docs/security.md cites tests that do not exist:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("`tests/unit/test_release.py`", []),
        ("`tests/unit/test_nothing_here.py`", ["line 1: tests/unit/test_nothing_here.py does not exist"]),
        (
            "`tests/unit/test_release.py::test_no_such_thing`",
            ["line 1: tests/unit/test_release.py has no test_no_such_thing"],
        ),
        (
            "`tests/unit/test_release.py`, `::test_no_such_thing`",
            ["line 1: tests/unit/test_release.py has no test_no_such_thing"],
        ),
        ("`::test_no_such_thing`", ["line 1: ::test_no_such_thing follows no test file on its line"]),
        ("`test_no_such_thing`", ["line 1: no test is named test_no_such_thing"]),
        ("`test_every_test_cited_in_the_security_page_exists`", []),
        ("`test_security_doc.py::test_every_test_cited_in_the_security_page_exists`", []),
        ("`test_no_such_file.py`", ["line 1: test_no_such_file.py names 0 files under tests/, not one"]),
        ("`tests/data/openredirects.txt`", []),
        ("`clients/js/test/client.test.js`", []),
        ("`clients/js/test/nothing.test.js`", ["line 1: clients/js/test/nothing.test.js does not exist"]),
        ("`tests/functional/test_no_secret_leaks.py::test_no_secret_anywhere[every-logging-toggle-on]`", []),
        (
            "`tests/functional/test_no_secret_leaks.py::test_no_secret_anywhere[a-toggle-that-is-not]`",
            ["line 1: tests/functional/test_no_secret_leaks.py has no case [a-toggle-that-is-not]"],
        ),
        ("ok\n`tests/unit/test_release.py`, `test_no_such_thing`", ["line 2: no test is named test_no_such_thing"]),
    ],
)
def test_the_checker_finds_what_is_wrong(text: str, expected: list[str]) -> None:
    assert problems(text) == expected
