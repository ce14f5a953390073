"""The rules for an upstream's response headers, one by one: ``Location`` read as a browser reads
it (every decoding of every dot segment), the ``WWW-Authenticate`` challenge parser and the
``Cache-Control`` rule for per-user answers. The same rules over a real socket are in
tests/functional/test_proxy_forward.py."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitkey_bff.proxy.header_rules import _directives, bearer_challenges, private_cache_control
from hitkey_bff.proxy.headers import inbound_headers, rewrite_location
from hitkey_bff.proxy.paths import browser_path, parse_path, upstream_url
from hitkey_bff.proxy.upstreams import Upstream, parse_upstreams

CORPUS = Path(__file__).parent.parent / "data" / "openredirects.txt"
UPSTREAMS = parse_upstreams(
    json.dumps({"root": "https://api.example.com", "based": "https://api.example.com:8443/v1/projects"})
)
ROOT, BASED = UPSTREAMS["root"], UPSTREAMS["based"]

# Every spelling of "." and ".." a browser (WHATWG: %2e in any case, mixed with a literal dot), a
# server decoding once more (%252e, %25%32%65), a Tomcat-style path parameter or an NFKC-folding
# server (full-width dots, raw or encoded) takes as a dot segment; and non-UTF-8 (overlong) dots.
DOT_FORMS = [
    ".",
    "..",
    "%2e",
    "%2E",
    ".%2e",
    "%2e.",
    ".%2E",
    "%2E.",
    "%2e%2e",
    "%2E%2E",
    "%2e%2E",
    "%252e",
    "%252e%252e",
    "%25%32%65%25%32%65",
    "%25252e%25252e",
    "..;x",
    "%2e%2e;x",
    "\uff0e\uff0e",
    "%EF%BC%8E%EF%BC%8E",
    "\u2025",
    "%c0%ae%c0%ae",
]


def request_url(upstream: Upstream, rest: str = "/notes/1") -> httpx.URL:
    return upstream_url(upstream, parse_path(rest), "")


def shapes(upstream: Upstream, dot: str) -> list[str]:
    """The dot form in an absolute path, a relative reference and an absolute URL, leading,
    in the middle and last."""
    base = upstream.base_path
    origin = f"{upstream.url[: len(upstream.url) - len(base)]}"
    return [
        f"/{dot}/{dot}/auth/sessions",
        f"{base}/{dot}/{dot}/auth/sessions",
        f"{base}/notes/{dot}/{dot}/{dot}/api/other/x",
        f"{dot}/{dot}/auth/sessions",
        f"notes/{dot}/x",
        f"{base}/notes/{dot}",
        f"{base}/notes/{dot}?q=1",
        f"{origin}{base}/{dot}/{dot}/auth/sessions",
        f"{origin}{base}/notes/{dot}/x#frag",
    ]


@pytest.mark.parametrize("upstream", [ROOT, BASED], ids=["root", "based"])
@pytest.mark.parametrize("dot", DOT_FORMS)
def test_location_with_a_dot_segment_in_any_decoding_is_dropped(upstream: Upstream, dot: str) -> None:
    for value in shapes(upstream, dot):
        assert rewrite_location(value, request_url(upstream), upstream) is None, value


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize(
    ("upstream", "value"),
    [
        (ROOT, "/%2e%2e/%2e%2e/auth/sessions"),
        (ROOT, "/%2E%2E/%2e%2e/api/another/upload"),
        (BASED, "/v1/projects/%2e%2e/%2e%2e/%2e%2e/auth/sessions"),
        (BASED, "%2e%2e/%2e%2e/%2e%2e/%2e%2e/auth/sessions"),
    ],
)
def test_a_307_or_308_to_auth_sessions_loses_its_location(upstream: Upstream, status: int, value: str) -> None:
    url = request_url(upstream)
    response = httpx.Response(status, headers={"content-type": "text/plain"}, request=httpx.Request("DELETE", url))
    response.extensions["hitkey_bff.location"] = [value]  # where the client's hook puts it
    headers = inbound_headers(response, url, upstream)
    assert "location" not in headers


@pytest.mark.parametrize(
    ("upstream", "value", "rewritten"),
    [
        (ROOT, "/notes/2", "/api/root/notes/2"),
        (ROOT, "/", "/api/root"),
        (ROOT, "2?x=%2e%2e", "/api/root/notes/2?x=%2e%2e"),
        (ROOT, "https://api.example.com/a/b/", "/api/root/a/b/"),
        (ROOT, "/a.b/..c/...", "/api/root/a.b/..c/..."),
        (ROOT, "/%2e%2ex/x%2e", "/api/root/%2e%2ex/x%2e"),
        (BASED, "/v1/projects", "/api/based"),
        (BASED, "/v1/projects/7?tab=1", "/api/based/7?tab=1"),
        (BASED, "https://api.example.com:8443/v1/projects/7", "/api/based/7"),
    ],
)
def test_location_on_the_upstream_is_rewritten(upstream: Upstream, value: str, rewritten: str) -> None:
    assert rewrite_location(value, request_url(upstream), upstream) == rewritten


@pytest.mark.parametrize(
    "value",
    [
        "/v1/projects/a\tb",  # browsers delete tabs: a\t. would be a dot segment
        "/v1/projects/a%2fb",
        "/v1/projects/a\\b",
        "/v1/projects//x",
        "/v1/projectsx",
        "https://api.example.com/v1/projects/x",  # another port
        "javascript:alert(1)",
        "http://[::1",
        "//[",
        "https://[/v1/projects/x",
    ],
)
def test_other_odd_locations_are_dropped(value: str) -> None:
    assert rewrite_location(value, request_url(BASED), BASED) is None


@pytest.mark.parametrize(
    ("path", "resolved"),
    [
        ("/api/x/%2e%2e/%2e%2e/auth/sessions", "/auth/sessions"),
        ("/api/x/.%2E/y", "/api/y"),
        ("/api/x/%2E./y/%2e", "/api/y/"),
        ("/api/x/..", "/api/"),
        ("/api/x\\..\\..\\auth", "/auth"),
        ("/api/x/%252e%252e/y", "/api/x/%252e%252e/y"),  # a browser decodes no further
        ("/api/x/a.b/y", "/api/x/a.b/y"),
    ],
)
def test_browser_path_resolves_dot_segments_as_a_browser(path: str, resolved: str) -> None:
    assert browser_path(path) == resolved


def _assert_in_prefix(result: str | None, upstream: Upstream) -> None:
    if result is None:
        return
    prefix = f"/api/{upstream.name}"
    path = result.split("?", 1)[0]
    assert browser_path(path) == path and (path == prefix or path.startswith(prefix + "/")), result


@pytest.mark.parametrize("upstream", [ROOT, BASED], ids=["root", "based"])
def test_open_redirect_corpus_as_locations_stays_under_the_prefix(upstream: Upstream) -> None:
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        for value in (line, "/" + line, f"{upstream.base_path}/{line}"):
            _assert_in_prefix(rewrite_location(value, request_url(upstream), upstream), upstream)


_PIECES = st.sampled_from(
    ["..", ".", "%2e", "%2E", "a", "v1", "projects", "", "%2f", "\\", "?", "#", ";", "%25", "[", "]", ":", "@"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=8), st.sampled_from(["", "/", "https://api.example.com:8443/"]))
def test_property_no_location_leaves_the_prefix_in_a_browser(pieces: list[str], lead: str) -> None:
    value = lead + "/".join(pieces)
    _assert_in_prefix(rewrite_location(value, request_url(BASED), BASED), BASED)


# --- WWW-Authenticate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("Bearer", "Bearer"),
        ("bearer", "bearer"),
        ("BEARER realm=x", "BEARER realm=x"),
        ('Bearer realm="a", Basic realm="b"', 'Bearer realm="a"'),
        ('Basic realm="b", Bearer realm="a"', 'Bearer realm="a"'),
        ("BearerX, Basic realm=b", None),
        ('BearerX realm="a"', None),
        ("Bearer2 a=b", None),
        ('Basic realm="a, Bearer b"', None),  # the comma is inside a quoted string
        ('Basic realm="x\\", Bearer y"', None),  # an escaped quote does not end the string
        (
            'Bearer error="invalid_token", error_description="expired, sign in", Basic realm="a"',
            'Bearer error="invalid_token", error_description="expired, sign in"',
        ),
        ("Bearer abc==, Basic def", "Bearer abc=="),
        ("Bearer a+b/c=", "Bearer a+b/c="),
        ("Bearer realm=", "Bearer realm="),  # a token68, not an auth-param without a value
        ("Negotiate abc==, Bearer", "Bearer"),
        (", , Bearer ,,", "Bearer"),
        ('Bearer realm = "spaced" , scope="a b"', 'Bearer realm = "spaced" , scope="a b"'),
        ('Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"', None),
        ('Bearer realm="a", Bearer error="insufficient_scope"', 'Bearer realm="a", Bearer error="insufficient_scope"'),
        ("Basic", None),
        ("", None),
    ],
)
def test_challenge_parser_keeps_only_bearer(value: str, kept: str | None) -> None:
    assert bearer_challenges(value) == kept


@pytest.mark.parametrize(
    "garbage",
    [
        '"',
        "=",
        'Bearer realm="unterminated',
        "Bearer a b",
        "Bearer realm=x y",
        "Bearer realm=a Basic",
        "Bearer, =",
        "Bearer (x)",
        "\\",
        'Bearer realm="a" junk',
    ],
)
def test_challenge_parser_drops_garbage(garbage: str) -> None:
    assert bearer_challenges(garbage) is None


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('Bearer Basic=,"\\ \tx/+')), max_size=40))
def test_property_challenge_parser_never_crashes(value: str) -> None:
    kept = bearer_challenges(value)
    assert kept is None or kept.lower().startswith("bearer")


# --- Cache-Control ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "made"),
    [
        ("public, max-age=60", "max-age=60, private"),
        ("PUBLIC,MAX-AGE=60", "MAX-AGE=60, private"),
        ("s-maxage=600", "private"),
        ('S-MaxAge="600", max-age=5', "max-age=5, private"),
        ("max-age=60, s-maxage=600, public, immutable", "max-age=60, immutable, private"),
        ("private", "private"),
        ("Private, max-age=1", "max-age=1, private"),
        ('private="set-cookie", max-age=60', "max-age=60, private"),
        ('no-cache="set-cookie, x-y", public', 'no-cache="set-cookie, x-y", private'),
        ("no-store", "no-store, private"),
        ("max-age=0, must-revalidate", "max-age=0, must-revalidate, private"),
        ("public-ish=1", "public-ish=1, private"),
        ("", None),
        (" , ", None),
        ('max-age="60', None),
        ("max-age=60 public", None),
        ("=1", None),
    ],
)
def test_cache_control_is_made_private(value: str, made: str | None) -> None:
    assert private_cache_control(value) == made


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('publicsmaxg-=0,"\\ Pr')), max_size=40))
def test_property_cache_control_never_public(value: str) -> None:
    made = private_cache_control(value)
    if made is not None:
        names = [name for name, _ in _directives(made)]
        assert "public" not in names and "s-maxage" not in names and names[-1] == "private"
        assert private_cache_control(made) == made
