"""Markdown tables of the docs, read by the tests that check them against the code."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def table_rows(doc: Path, header: list[str]) -> list[list[str]]:
    """The rows of ``doc``'s one table whose header cells (backticks aside) are ``header``."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("|") and _header(line) == header]
    assert len(starts) == 1, f"{doc.name}: expected one table headed {header}, found {len(starts)}"
    rows = []
    for line in lines[starts[0] + 2 :]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        assert len(cells) == len(header), f"{doc.name}: a row with {len(cells)} cells: {line}"
        rows.append(cells)
    return rows


def _header(line: str) -> list[str]:
    return [cell.strip("`").lower() for cell in _cells(line)]
