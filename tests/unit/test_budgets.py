"""The time budgets (``hitkey_bff.budgets``): the template's timeouts, their arithmetic, the modules
that enforce them, and every number the docs quote for them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hitkey_bff import aws, budgets, config, hitkey, refresh
from hitkey_bff.budgets import (
    API_GATEWAY_TIMEOUT_SECONDS,
    AWS_CONNECT_SECONDS,
    AWS_READ_SECONDS,
    CALL_SECONDS,
    COMMIT_RETRY_SECONDS,
    COMMIT_SECONDS,
    LAMBDA_MARGIN_SECONDS,
    LAMBDA_TIMEOUT_SECONDS,
    LEASE_SECONDS,
    PROXY_CALL_MAX_SECONDS,
    PROXY_DEADLINE_SECONDS,
    REFRESH_BUDGET_SECONDS,
    WAIT_SECONDS,
)
from hitkey_bff.proxy import limits as proxy
from hitkey_bff.proxy import upstreams
from local.template import functions
from tests.unit.docs_tables import ROOT, table_rows

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NAMES = {name: value for name, value in vars(budgets).items() if name.isupper() and name.endswith("_SECONDS")}


def test_every_function_times_out_at_the_budgeted_lambda_timeout() -> None:
    found = {spec.logical_id: spec.timeout for spec in functions()}
    assert found, "template.yaml declares no function"
    assert found == dict.fromkeys(found, LAMBDA_TIMEOUT_SECONDS)


def test_api_gateway_gets_an_answer_in_time() -> None:
    assert 2 * CALL_SECONDS < API_GATEWAY_TIMEOUT_SECONDS  # the callback's exchange, then userinfo
    assert WAIT_SECONDS < API_GATEWAY_TIMEOUT_SECONDS  # a waiter answers 504 refresh_in_progress itself
    assert PROXY_DEADLINE_SECONDS < API_GATEWAY_TIMEOUT_SECONDS
    # the proxy's two calls (the upstream's 401, then the retry) leave time for the refreshes
    assert 2 * PROXY_CALL_MAX_SECONDS < PROXY_DEADLINE_SECONDS


def test_a_refresh_fits_in_its_lease_and_in_its_lambda() -> None:
    assert REFRESH_BUDGET_SECONDS + COMMIT_SECONDS <= LEASE_SECONDS  # the lease outlives HitKey + commit
    assert LEASE_SECONDS > LAMBDA_TIMEOUT_SECONDS  # no live holder outlives its lease
    assert REFRESH_BUDGET_SECONDS + COMMIT_SECONDS + LAMBDA_MARGIN_SECONDS <= LAMBDA_TIMEOUT_SECONDS
    # a synchronous Lambda keeps running after API Gateway gives up: a late rotation is stored
    assert LAMBDA_TIMEOUT_SECONDS > API_GATEWAY_TIMEOUT_SECONDS
    # the commit covers its retry window plus one DynamoDB call in flight
    assert COMMIT_RETRY_SECONDS + AWS_CONNECT_SECONDS + AWS_READ_SECONDS <= COMMIT_SECONDS


def test_the_modules_enforce_these_numbers() -> None:
    """The modules import them: changing a budget here changes the behaviour."""
    assert hitkey.CALL_SECONDS is CALL_SECONDS
    assert config.Settings.__dataclass_fields__["refresh_budget_seconds"].default == REFRESH_BUDGET_SECONDS
    assert proxy.DEADLINE_SECONDS == PROXY_DEADLINE_SECONDS
    assert upstreams.MAX_TIMEOUT == upstreams.DEFAULT_TIMEOUT == PROXY_CALL_MAX_SECONDS
    assert (aws.CONNECT_TIMEOUT, aws.READ_TIMEOUT) == (AWS_CONNECT_SECONDS, AWS_READ_SECONDS)
    default = refresh.commit.__kwdefaults__ or {}
    assert default["budget"] == COMMIT_RETRY_SECONDS


# --- the docs ---------------------------------------------------------------------------------------

# A number of seconds right next to the name of a budget, as the docs phrase them. Each group is
# checked against its budget wherever it appears in README.md or docs/.
PHRASES: dict[str, list[str]] = {
    "LAMBDA_TIMEOUT_SECONDS": [
        r"Lambda(?:'s)? (?:function )?timeout(?: is| of)? \**(\d+) s\b",
        r"\b(\d+) s (?:Lambda |function )?timeout\b",
        r"\btimeout is (\d+) s\b",
        r"Lambda's (\d+) s\b",
    ],
    "API_GATEWAY_TIMEOUT_SECONDS": [r"API Gateway's (?:integration timeout )?(\d+) s\b"],
    "LEASE_SECONDS": [r"\blease(?: is| of)? \(?(\d+) s\b", r"\b(\d+) s lease\b", r"\blease[^.|\d]{0,40}\((\d+) s\b"],
    "REFRESH_BUDGET_SECONDS": [r"HitKey's (\d+) s budget\b", r"refresh budget(?: is| of)? (\d+) s\b"],
    "PROXY_DEADLINE_SECONDS": [r"\b(\d+) s after it started\b", r"proxy's (\d+) s deadline\b"],
}


def _quotes(text: str) -> list[tuple[str, int, int]]:
    """``(budget, seconds, line)`` of every phrase above, and of every budget named in backticks
    with the first ``N s`` of its table cell (or of the next cell)."""
    found = []
    for budget, patterns in PHRASES.items():
        for pattern in patterns:
            for m in re.finditer(pattern, text):
                found.append((budget, int(m[1]), text.count("\n", 0, m.start()) + 1))
    for number, line in enumerate(text.splitlines(), 1):
        cells = line.split("|")  # a table's cells; a line of prose is one cell
        for i, cell in enumerate(cells):
            for name in re.findall(r"`([A-Z_]+_SECONDS)`", cell):
                # the first "N s" in the name's cell, else in the next cell (| name | **N s** |)
                seconds = re.findall(r"\b(\d+) s\b", cell) or re.findall(r"\b(\d+) s\b", "".join(cells[i + 1 : i + 2]))
                if name in NAMES and seconds:
                    found.append((name, int(seconds[0]), number))
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_docs_quote_the_budgets(doc: Path) -> None:
    wrong = [
        f"{doc.relative_to(ROOT)}:{line}: {seconds} s for {budget}, which is {NAMES[budget]:g} s"
        for budget, seconds, line in _quotes(doc.read_text(encoding="utf-8"))
        if seconds != NAMES[budget]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_reference_lists_every_budget() -> None:
    """docs/reference.md's budget table: one row per budget, its constant and its seconds."""
    rows = table_rows(ROOT / "docs" / "reference.md", ["budget", "constant", "seconds", "why"])
    listed = {row[1].strip("`"): float(row[2]) for row in rows}
    assert listed == {name: float(value) for name, value in NAMES.items()}


def test_the_phrase_checker_catches_a_stale_number() -> None:
    stale = "the lease (20 s, outlives HitKey's 10 s budget) and the Lambda's 25 s; | `WAIT_SECONDS` | **20 s** |"
    assert {(b, s) for b, s, _ in _quotes(stale)} == {
        ("LEASE_SECONDS", 20),
        ("REFRESH_BUDGET_SECONDS", 10),
        ("LAMBDA_TIMEOUT_SECONDS", 25),
        ("WAIT_SECONDS", 20),
    }
