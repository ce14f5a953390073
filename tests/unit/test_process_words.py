"""No process words (issue numbers, commit hashes, talk of branches, placeholders) in what users
read: README.md, docs/, the examples' READMEs, the code and the tests' comments. The patterns
are in ``tests/process_words.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.process_words import EXAMPLES, PATTERNS
from tests.unit.docs_tables import ROOT

SKIP_DIRS = {"node_modules", "__pycache__", ".venv", ".venv-sam", ".git", "dist", "build", ".aws-sam"}
SKIP_FILES = {ROOT / "tests" / "process_words.py"}  # it holds the examples
VENDORED = {ROOT / "tests" / "data"}  # third-party corpora, kept as published
CODE = ("*.py", "*.js", "*.mjs", "*.ts", "*.tsx", "*.html", "*.css", "*.yaml", "*.json")


def _files() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "template.yaml", ROOT / "Makefile"]
    found += [ROOT / ".ci" / "run", ROOT / "pyproject.toml"]
    found += sorted((ROOT / "docs").rglob("*.md")) + sorted((ROOT / "examples").glob("*/README.md"))
    for folder in ("layers", "functions", "local", "bench", "tools", "tests", "clients", "examples", "events"):
        for pattern in CODE:
            found += sorted((ROOT / folder).rglob(pattern))
    return [
        f
        for f in dict.fromkeys(found)
        if f.is_file()
        and f not in SKIP_FILES
        and not SKIP_DIRS & set(f.relative_to(ROOT).parts)
        and not any(f.is_relative_to(v) for v in VENDORED)
        and f.name != "package-lock.json"
    ]


def process_words(text: str) -> list[tuple[int, str, str]]:
    """``(line, kind, text)`` of every match."""
    return [
        (text.count("\n", 0, m.start()) + 1, kind, m[0])
        for kind, pattern in PATTERNS.items()
        for m in pattern.finditer(text)
    ]


def test_each_pattern_catches_its_example_only() -> None:
    for kind, example in EXAMPLES.items():
        assert [k for _, k, _ in process_words(example)] == [kind]
    assert process_words("see the issues below; the trunk, a branch of its own; 1234567 commits") == []


def test_the_scan_reads_docs_code_and_tests() -> None:
    names = {f.relative_to(ROOT).as_posix() for f in _files()}
    expected = {"README.md", "layers/bff/hitkey_bff/route.py", "tests/unit/test_process_words.py"}
    assert expected <= names and "clients/js/hitkey-bff.js" in names


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_process_words(path: Path) -> None:
    hits = process_words(path.read_text(encoding="utf-8", errors="replace"))
    assert not hits, "\n".join(f"{path.relative_to(ROOT)}:{line}: {kind}: {word!r}" for line, kind, word in hits)
