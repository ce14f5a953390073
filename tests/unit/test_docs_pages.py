"""The README is a front door and docs/README.md an index: the README stays short, and every page
under docs/ is listed in the index (so a new page cannot hide)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README_MAX_LINES = 250


def test_readme_is_at_most_250_lines() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move detail to a page under docs/"


def test_the_docs_index_lists_every_page() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([a-z0-9_-]+\.md)(?:#[^)]*)?\)", index))
    pages = {page.name for page in DOCS.glob("*.md")} - {"README.md"}
    assert pages <= linked, f"docs/README.md does not list {sorted(pages - linked)}"


def test_the_readme_links_the_index_and_the_pages_it_sends_readers_to() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in ("docs/README.md", "docs/local.md", "docs/spa.md", "docs/deploy.md"):
        assert f"]({target})" in readme, target
