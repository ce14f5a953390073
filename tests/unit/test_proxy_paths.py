"""The proxy's path, query, method and allow-list checks: no request can leave the upstream.

API Gateway HTTP APIs decode ``rawPath`` once before the Lambda sees it (a client's ``%2F`` is a
``/``, its ``%252F`` a ``%2F``); the local gateway passes it still encoded. Every attack is tried
both ways: as written, and as API Gateway would present it after its decoding.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitkey_bff.errors import (
    BffError,
    InvalidBody,
    InvalidPath,
    MethodNotAllowed,
    PathNotAllowed,
    PayloadTooLarge,
    UnknownApi,
)
from hitkey_bff.http import error_response
from hitkey_bff.proxy.forward import deadline_from
from hitkey_bff.proxy.limits import MAX_PATH, MAX_REQUEST_BODY
from hitkey_bff.proxy.paths import (
    ParsedPath,
    ProxyRequest,
    check,
    lookup,
    parse_path,
    prepare,
    upstream_url,
)
from hitkey_bff.proxy.upstreams import Upstream, parse_upstreams

CORPUS = Path(__file__).parent.parent / "data" / "openredirects.txt"
UPSTREAMS = parse_upstreams(
    json.dumps(
        {
            "root": {"url": "https://api.example.com", "methods": ["GET", "POST"]},
            "based": "https://api.example.com/v1/projects",
            "notes": {
                "url": "https://notes.example.com:8443/base",
                "methods": ["GET", "PUT"],
                "paths": ["/notes", "/notes/*"],
            },
        }
    )
)
ROOT, BASED, NOTES = UPSTREAMS["root"], UPSTREAMS["based"], UPSTREAMS["notes"]


def url_for(upstream: Upstream, rest: str, query: str = "") -> httpx.URL:
    return upstream_url(upstream, parse_path(rest), query)


def assert_on_upstream(url: httpx.URL, upstream: Upstream) -> None:
    """The URL is on the upstream's origin, under its base path, also once decoded (the upstream
    decodes once) - with no dot segment or backslash a server could act on."""
    base = httpx.URL(upstream.url)
    assert (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)
    assert not url.fragment and not url.userinfo
    path = url.raw_path.split(b"?", 1)[0].decode("ascii")
    assert path == upstream.base_path or path.startswith(upstream.base_path + "/") or upstream.base_path == ""
    decoded = unquote(path)
    assert "\\" not in decoded
    assert decoded.startswith(upstream.base_path)
    assert not {".", ".."} & {s.split(";")[0] for s in decoded.split("/")}
    assert "//" not in decoded.rstrip("/")


# --- accepted paths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rest", "encoded", "segments"),
    [
        ("", "", ()),
        ("/", "/", ("",)),
        ("/notes", "/notes", ("notes",)),
        ("/notes/42/", "/notes/42/", ("notes", "42", "")),
        ("/a%20b", "/a%20b", ("a b",)),
        ("/a b", "/a%20b", ("a b",)),  # API Gateway decoded the client's %20
        ("/é", "/%C3%A9", ("é",)),
        ("/%C3%A9", "/%C3%A9", ("é",)),
        ("/a?b", "/a%3Fb", ("a?b",)),  # a decoded %3F stays part of the path
        ("/a#b", "/a%23b", ("a#b",)),
        ("/100%", "/100%25", ("100%",)),
        ("/100%2", "/100%252", ("100%2",)),
        ("/%41", "/%41", ("A",)),
        ("/a;b=c", "/a;b=c", ("a;b=c",)),
        ("/~u/x:y@z", "/~u/x:y@z", ("~u", "x:y@z")),
        ("/...", "/...", ("...",)),
        ("/..a", "/..a", ("..a",)),
        ("/%2e%2e%2e", "/%2e%2e%2e", ("...",)),
        ("/100%25", "/100%25", ("100%",)),
    ],
)
def test_accepted(rest: str, encoded: str, segments: tuple[str, ...]) -> None:
    parsed = parse_path(rest)
    assert (parsed.encoded, parsed.segments) == (encoded, segments)
    assert_on_upstream(url_for(NOTES, rest), NOTES)


def test_join_keeps_the_base_path() -> None:
    assert str(url_for(BASED, "")) == "https://api.example.com/v1/projects"
    assert str(url_for(BASED, "/")) == "https://api.example.com/v1/projects/"
    assert str(url_for(BASED, "/42")) == "https://api.example.com/v1/projects/42"
    assert str(url_for(ROOT, "")) == "https://api.example.com/"
    assert str(url_for(NOTES, "/notes/1")) == "https://notes.example.com:8443/base/notes/1"


@pytest.mark.parametrize(
    ("upstream", "encoded"),
    [
        (BASED, "/../../admin"),
        (BASED, "/./../x"),
        (BASED, "x.evil.com"),
        (BASED, "/../projects-other"),
        (ROOT, "@evil.com/x"),
        (ROOT, "//evil.com/x"),
        (ROOT, ":8080/x"),
        (NOTES, "/x#frag"),
        (NOTES, "/\u00e9"),
    ],
)
def test_join_is_verified_even_for_a_path_that_skipped_parse_path(upstream: Upstream, encoded: str) -> None:
    """Defence in depth: the URL check after joining refuses what parse_path would never make."""
    with pytest.raises(InvalidPath):
        upstream_url(upstream, ParsedPath(encoded, ()), "")


# --- refused paths -------------------------------------------------------------------------------

ATTACKS = [
    # dot segments, plain and encoded at every depth, and Tomcat's ..;
    "/..",
    "/.",
    "/a/..",
    "/a/../b",
    "/a/./b",
    "/%2e%2e",
    "/%2E%2e/x",
    "/.%2e",
    "/%2e.",
    "/%2e",
    "/%252e%252e",
    "/%25%32%65%25%32%65",
    "/%25252e%25252e/x",
    "/..;",
    "/..;x=1/admin",
    "/%2e%2e;/admin",
    "/.;",
    # encoded separators, any case, double and mixed encodings
    "/a%2fb",
    "/a%2Fb",
    "/a%5cb",
    "/a%5Cb",
    "/%2f%2fevil.com",
    "/a%252fb",
    "/a%252Fb",
    "/a%255cb",
    "/a%25%32%66b",
    "/a%25%32%46b",
    "/a%25%35%63b",
    "/a%25252fb",
    "/a%2525252fb",
    # too deep to tell
    "/%25252525252e",
    # backslashes and empty segments
    "/a\\b",
    "/\\evil.com",
    "//",
    "//evil.com",
    "/a//b",
    "/a///",
    "///evil.com",
    # control characters, NUL, C1 controls, raw and encoded
    "/\x00",
    "/a%00",
    "/a%2500",
    "/a\tb",
    "/a\nb",
    "/a\rb",
    "/%0a",
    "/%0d%0aSet-Cookie:x",
    "/\x7f",
    "/%7f",
    "/\x85",
    "/%c2%85",
    # not UTF-8: bad bytes, overlong forms, encoded surrogates, lone surrogates
    "/%ff",
    "/%c0%af",
    "/%c0%ae%c0%ae",
    "/%e0%80%af",
    "/%ed%a0%80",
    "/\ud800",
    "/%25ff",
    # full-width and other forms that NFKC turns into separators or dots
    "/\uff0e\uff0e",
    "/%ef%bc%8e%ef%bc%8e",
    "/a\uff0fb",
    "/a%ef%bc%8fb",
    "/a\uff3cb",
    "/\u2024\u2024",
    "/\u2025",
    "/a/\u2025/b",
    # not a path under /api/{name}
    "no-slash",
    "evil.com",
    "/" + "a" * MAX_PATH,
]


@pytest.mark.parametrize("rest", ATTACKS)
def test_refused(rest: str) -> None:
    with pytest.raises(InvalidPath) as caught:
        url_for(NOTES, rest)
    assert caught.value.status == 400 and caught.value.code == "invalid_path"


@pytest.mark.parametrize("rest", [a for a in ATTACKS if "%" in a])
def test_refused_after_api_gateways_decoding(rest: str) -> None:
    """What API Gateway hands over for the same client path: one decoding fewer; still refused
    (or, where the decoding made a real ``/``, a URL that stays on the upstream)."""
    try:
        decoded = unquote(rest, errors="surrogateescape")
    except UnicodeDecodeError:
        return
    try:
        url = url_for(NOTES, decoded)
    except InvalidPath:
        return
    assert_on_upstream(url, NOTES)


def test_api_gateway_decoding_of_encoded_slash_is_a_real_separator() -> None:
    """A client's ``%2F`` reaches us as ``/``: indistinguishable from a real one, and harmless -
    it is then just a segment boundary under the base, checked by ``paths`` like any other."""
    assert str(url_for(BASED, "/a/b")) == "https://api.example.com/v1/projects/a/b"
    with pytest.raises(PathNotAllowed):
        check(NOTES, request("GET", "/notes/a/b"))


def corpus() -> list[str]:
    lines = CORPUS.read_text(encoding="utf-8").split("\n")
    return [line for line in lines if not line.startswith("#")]


def test_corpus_is_complete() -> None:
    assert len(corpus()) >= 550


@pytest.mark.parametrize("upstream", [ROOT, BASED, NOTES], ids=["root", "based", "notes"])
def test_open_redirect_corpus_never_leaves_the_upstream(upstream: Upstream) -> None:
    """Every oauth2-proxy payload, as the path after /api/{name} (as sent, with a leading slash
    added, and as API Gateway would decode it): refused, or a URL on the upstream under its base."""
    refused = reached = 0
    for payload in corpus():
        candidates = {payload, "/" + payload, unquote(payload), "/" + unquote(payload)}
        for rest in candidates:
            try:
                url = upstream_url(upstream, parse_path(rest), "")
            except BffError as err:
                assert err.status == 400, (rest, err)
                refused += 1
                continue
            assert_on_upstream(url, upstream)
            reached += 1
    assert refused > 500 and reached > 0  # the corpus really exercised both outcomes


@given(st.text(alphabet=st.sampled_from(list("/.%\\;25cCfFeE0aA:@?# é\x00\uff0e")) | st.characters(), max_size=40))
@settings(max_examples=1500, deadline=None)
def test_property_no_path_escapes(rest: str) -> None:
    for upstream in (BASED, NOTES):
        try:
            url = url_for(upstream, rest)
        except BffError as err:
            assert err.status == 400
            continue
        assert_on_upstream(url, upstream)


@given(st.lists(st.sampled_from(["..", ".", "%2e", "%2f", "%5c", "%25", "2e", "2f", "/", "a", ";"]), max_size=12))
@settings(max_examples=600, deadline=None)
def test_property_assembled_tricks(parts: list[str]) -> None:
    rest = "/" + "".join(parts)
    try:
        url = url_for(BASED, rest)
    except BffError:
        return
    assert_on_upstream(url, BASED)


# --- query ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        ("", ""),
        ("a=1&b=%2F&c", "a=1&b=%2F&c"),
        ("q=a+b&x=%20", "q=a+b&x=%20"),
        ("redirect=https://evil.com/?x=1", "redirect=https://evil.com/?x=1"),
        ("a=b c", "a=b%20c"),
        ("x=#y", "x=%23y"),
        ("p=100%", "p=100%25"),
        ("n=é", "n=%C3%A9"),
        ("a=\x00", "a=%00"),
    ],
)
def test_query_passed_as_sent(raw: str, sent: str) -> None:
    url = url_for(NOTES, "/notes", raw)
    assert url.query.decode("ascii") == sent
    assert url.host == "notes.example.com" and not url.fragment


def test_a_query_that_is_not_text_is_refused() -> None:
    """Its length is every route's limit, refused as the event is parsed (test_hostile_input.py)."""
    with pytest.raises(BffError) as caught:
        url_for(NOTES, "/notes", "a=\udcff")
    assert (caught.value.status, caught.value.code) == (400, "invalid_query")


# --- name, method, allow-list --------------------------------------------------------------------


def request(method: str, rest: str, query: str = "") -> ProxyRequest:
    return ProxyRequest(name="notes", method=method, rest=rest, raw_query=query)


def test_unknown_name_is_404() -> None:
    with pytest.raises(UnknownApi) as caught:
        lookup(UPSTREAMS, "nope")
    assert (caught.value.status, caught.value.code) == (404, "unknown_api")
    assert lookup(UPSTREAMS, "notes") is NOTES


def test_method_not_in_list_is_405_with_allow() -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        check(NOTES, request("DELETE", "/notes/1"))
    response = error_response(caught.value)
    assert response["statusCode"] == 405
    assert response["headers"]["allow"] == "GET, PUT"
    assert json.loads(response["body"])["error"] == "method_not_allowed"


def test_path_not_in_paths_is_403() -> None:
    for rest in ("", "/", "/admin", "/notes/1/share", "/notes/%2e%2e%2e/x"):
        with pytest.raises(PathNotAllowed) as caught:
            check(NOTES, request("GET", rest))
        assert (caught.value.status, caught.value.code) == (403, "path_not_allowed")


def test_allow_list_matches_what_the_upstream_decodes() -> None:
    """``/%6eotes/1`` is ``/notes/1`` to the upstream, so it is allowed like it."""
    assert str(check(NOTES, request("GET", "/%6eotes/1"))).endswith("/base/%6eotes/1")
    assert str(check(NOTES, request("PUT", "/notes/1/"))).endswith("/base/notes/1/")


def test_invalid_path_is_refused_before_method_and_allow_list() -> None:
    with pytest.raises(InvalidPath):
        check(NOTES, request("DELETE", "/notes/../admin"))


# --- the event -----------------------------------------------------------------------------------


def event(raw_path: str, body: str | None = None, is_base64: bool = False, **extra: object) -> dict[str, object]:
    return {
        "rawPath": raw_path,
        "rawQueryString": "a=1",
        "headers": {"Accept": "application/json", "x-n": 1},
        "body": body,
        "isBase64Encoded": is_base64,
        "requestContext": {"http": {"method": "post", "sourceIp": "203.0.113.7"}},
        **extra,
    }


def test_from_event() -> None:
    req = ProxyRequest.from_event(event("/api/notes/notes/1", base64.b64encode(b"\x00\xff").decode(), True))
    assert (req.name, req.method, req.rest, req.raw_query) == ("notes", "POST", "/notes/1", "a=1")
    assert req.body == b"\x00\xff" and req.source_ip == "203.0.113.7"
    assert dict(req.headers) == {"accept": "application/json"}
    base = ProxyRequest.from_event(event("/api/notes", "héllo"))
    assert (base.name, base.rest, base.body) == ("notes", "", "héllo".encode())


@pytest.mark.parametrize("raw_path", ["/apinotes", "/API/notes", "/auth/session", "", None, 7])
def test_from_event_refuses_other_paths(raw_path: object) -> None:
    with pytest.raises(InvalidPath):
        ProxyRequest.from_event(event("/x") | {"rawPath": raw_path})


def test_from_event_tolerates_garbage() -> None:
    req = ProxyRequest.from_event({"rawPath": "/api/x/y", "requestContext": "nope", "headers": [1], "body": 5})
    assert (req.method, req.body, req.source_ip, dict(req.headers)) == ("", b"", "", {})


def test_body_limits_and_encoding() -> None:
    over = MAX_REQUEST_BODY + 1
    with pytest.raises(PayloadTooLarge) as caught:
        ProxyRequest.from_event(event("/api/n/x", "A" * ((over + 2) // 3 * 4), True))
    assert (caught.value.status, caught.value.code) == (413, "payload_too_large")
    with pytest.raises(PayloadTooLarge):
        ProxyRequest.from_event(event("/api/n/x", "a" * over))
    with pytest.raises(PayloadTooLarge):  # fewer characters than the limit, more bytes
        ProxyRequest.from_event(event("/api/n/x", "é" * (over // 2 + 1)))
    exact = ProxyRequest.from_event(event("/api/n/x", base64.b64encode(b"x" * MAX_REQUEST_BODY).decode(), True))
    assert len(exact.body) == MAX_REQUEST_BODY
    for bad in ("not base64!", "=QUJD", "QQ", "QU JD"):
        with pytest.raises(InvalidBody):
            ProxyRequest.from_event(event("/api/n/x", bad, True))
    with pytest.raises(InvalidBody):
        ProxyRequest.from_event(event("/api/n/x", "\udcff"))


# --- fuzzed events and the deadline ---------------------------------------------------------------

_ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_PATHS = st.one_of(
    st.text(max_size=40).map(lambda s: "/api/" + s),
    st.sampled_from(["/api/notes/notes/1", "/api/notes", "/api/based/x", "/api/root/%2e%2e"]),
    _ANY,
)


@given(
    st.fixed_dictionaries(
        {
            "rawPath": _PATHS,
            "rawQueryString": st.text(max_size=30) | _ANY,
            "headers": st.dictionaries(st.text(max_size=12), st.text(max_size=20) | _ANY, max_size=4) | _ANY,
            "body": st.text(max_size=40) | _ANY,
            "isBase64Encoded": st.booleans() | _ANY,
            "requestContext": st.fixed_dictionaries(
                {"http": st.fixed_dictionaries({"method": st.sampled_from(["GET", "put", "TRACE", ""]) | _ANY})}
            )
            | _ANY,
        }
    )
)
@settings(max_examples=500, deadline=None)
def test_fuzzed_events_are_refused_with_4xx_or_prepared_on_the_upstream(ev: dict[str, object]) -> None:
    try:
        upstream, _, url = prepare(UPSTREAMS, ev)
    except BffError as err:
        assert 400 <= err.status < 500
        response = error_response(err)
        assert json.loads(response["body"])["error"] == err.code
        return
    assert_on_upstream(url, upstream)


def test_deadline_is_24_seconds_or_a_second_before_the_lambdas_end() -> None:
    assert deadline_from(100.0) == 124.0
    assert deadline_from(100.0, remaining_ms=10_000) == 109.0
    assert deadline_from(100.0, remaining_ms=60_000) == 124.0
