"""``return_to`` accepts same-origin paths only - proven against oauth2-proxy's corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hitkey_bff.redirects import safe_return_to

ORIGIN = "https://app.example.com"
CORPUS = Path(__file__).resolve().parents[1] / "data" / "openredirects.txt"  # oauth2-proxy testdata, MIT


def corpus() -> list[str]:
    """The 559 payloads (the first one is the empty string, on purpose)."""
    lines = CORPUS.read_text(encoding="utf-8").split("\n")
    payloads = [line for line in lines if not line.startswith("#")]
    if payloads and payloads[-1] == "":
        payloads.pop()
    return payloads


def test_corpus_is_complete() -> None:
    assert len(corpus()) == 559


@pytest.mark.parametrize("payload", corpus())
def test_every_open_redirect_payload_becomes_root(payload: str) -> None:
    assert safe_return_to(payload, ORIGIN) == "/"


@pytest.mark.parametrize(
    "path",
    ["/", "/dashboard", "/x?y=1#z", "/a/b/c?q=hello%20world&n=2", "/settings#profile", "/%E2%82%AC-prices"],
)
def test_same_origin_paths_pass(path: str) -> None:
    assert safe_return_to(path, ORIGIN) == path


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/%2f%2fevil.example",
        "/%252f%252fevil.example",
        "/\tevil",
        "/\x00",
        "javascript:alert(1)",
        "/\uff0fevil.example",  # fullwidth solidus
        "/%EF%BC%8F%EF%BC%8Fevil.example",  # the same, percent-encoded
        "/\u2215\u2215evil.example",  # division slash
        "/%E2%88%95%E2%88%95evil.example",  # the same, percent-encoded (NFKC does not fold it)
        "/%E2%88%96%E2%88%96evil.example",  # set minus, a backslash look-alike
        "/x" + "a" * 3000,
        "/%ff%fe",  # not UTF-8
        "dashboard",
    ],
)
def test_hostile_values_become_root(payload: str | None) -> None:
    assert safe_return_to(payload, ORIGIN) == "/"


@given(st.text(max_size=200))
def test_anything_returned_stays_on_the_origin(value: str) -> None:
    result = safe_return_to(value, ORIGIN)
    assert result == "/" or result == value
    assert result.startswith("/") and not result.startswith("//") and "\\" not in result
