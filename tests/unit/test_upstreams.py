"""API_UPSTREAMS: every rule of the table, and the path pattern language."""

from __future__ import annotations

import json

import pytest

from hitkey_bff.errors import ConfigError
from hitkey_bff.proxy.upstreams import DEFAULT_TIMEOUT, MAX_TIMEOUT, parse_pattern, parse_upstreams


def table(**entries: object) -> str:
    return json.dumps(entries)


def refused(raw: str, *fragments: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_upstreams(raw)
    err = caught.value
    assert err.status == 503 and err.code == "misconfigured"
    for fragment in fragments:
        assert fragment in err.message
    assert "API_UPSTREAMS" not in err.message  # the variable's name is for the log, not the browser
    return err


def test_empty_or_missing_table_means_no_upstreams() -> None:
    assert parse_upstreams(None) == {}
    assert parse_upstreams("") == {}
    assert parse_upstreams("  ") == {}
    assert parse_upstreams("{}") == {}


def test_short_form_is_get_only_with_defaults() -> None:
    up = parse_upstreams(table(projects="https://api.hitkey.io/v1/projects/"))["projects"]
    assert up.url == "https://api.hitkey.io/v1/projects"
    assert (up.scheme, up.host, up.port, up.base_path) == ("https", "api.hitkey.io", None, "/v1/projects")
    assert up.methods == ("GET",)
    assert up.paths is None
    assert up.timeout == DEFAULT_TIMEOUT


def test_full_form() -> None:
    spec = {
        "url": "https://Notes.Example.com:8443",
        "methods": ["get", "POST", "PUT", "DELETE", "GET"],
        "paths": ["/notes", "/notes/*"],
        "timeout": 2.5,
    }
    up = parse_upstreams(table(notes=spec))["notes"]
    assert up.url == "https://notes.example.com:8443"
    assert up.port == 8443 and up.base_path == ""
    assert up.methods == ("GET", "POST", "PUT", "DELETE")
    assert up.paths is not None and [p.text for p in up.paths] == ["/notes", "/notes/*"]
    assert up.timeout == 2.5


def test_upstream_is_frozen() -> None:
    up = parse_upstreams(table(a="https://a.example"))["a"]
    with pytest.raises(AttributeError):
        up.url = "https://evil.example"  # type: ignore[misc]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.9.9.9",
        "http://[::1]:9000/base",
        "http://localhost:5000",
        "http://LOCALHOST",
    ],
)
def test_plain_http_only_for_loopback(url: str) -> None:
    assert parse_upstreams(table(local=url))["local"].scheme == "http"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://api.example.com", "https"),
        ("http://10.0.0.1", "https"),
        ("http://127.0.0.1.nip.io", "https"),
        ("http://localhost.example.com", "https"),
        ("ftp://api.example.com", "https://"),
        ("//api.example.com", "https://"),
        ("api.example.com", "https://"),
        ("https://", "no host"),
        ("https://user:pw@api.example.com", "credentials"),
        ("https://user@api.example.com", "credentials"),
        ("https://api.example.com?x=1", "query"),
        ("https://api.example.com/?", "query"),
        ("https://api.example.com#top", "fragment"),
        ("https://api.example.com/#", "fragment"),
        ("https://api.example.com:99999", "port"),
        ("https://api.example.com:abc", "port"),
        ("https://api.example.com/a b", "spaces"),
        (" https://api.example.com", "spaces"),
        ("https://api.example.com\\@evil.com", "backslashes"),
        ("https://api.example.com/\x00", "control"),
        ("https://api.example.com/a/../b", "'..'"),
        ("https://api.example.com/./b", "'.'"),
        ("https://api.example.com/a//b", "empty"),
        ("https://api.example.com/a%2fb", "percent"),
        ("https://api.example.com/%2e%2e", "'..'"),
        ("", "non-empty"),
        (42, "non-empty"),
        (None, "non-empty"),
    ],
)
def test_bad_url(url: object, fragment: str) -> None:
    err = refused(table(notes={"url": url}), "'notes'", fragment)
    assert err.message.startswith("API upstream 'notes':")


@pytest.mark.parametrize("name", ["Notes", "no_tes", "a" * 33, "", "é", "a.b", "a/b", "../x"])
def test_bad_name(name: str) -> None:
    refused(json.dumps({name: "https://a.example"}), "[a-z0-9-]{1,32}")


@pytest.mark.parametrize("name", ["a", "notes-v2", "0", "a" * 32])
def test_good_name(name: str) -> None:
    assert name in parse_upstreams(json.dumps({name: "https://a.example"}))


@pytest.mark.parametrize(
    ("methods", "fragment"),
    [
        ([], "non-empty list"),
        ("GET", "non-empty list"),
        (["TRACE"], "'TRACE'"),
        (["CONNECT"], "'CONNECT'"),
        (["GET", 1], "1"),
        (["G ET"], "'G ET'"),
    ],
)
def test_bad_methods(methods: object, fragment: str) -> None:
    refused(table(notes={"url": "https://a.example", "methods": methods}), "'notes'", fragment)


@pytest.mark.parametrize(
    "timeout",
    [0, -1, MAX_TIMEOUT + 0.001, 30, "10", True, [], {}],
)
def test_bad_timeout(timeout: object) -> None:
    refused(table(notes={"url": "https://a.example", "timeout": timeout}), "'notes'", "timeout")


@pytest.mark.parametrize("timeout", [0.1, 1, MAX_TIMEOUT])
def test_good_timeout(timeout: float) -> None:
    assert parse_upstreams(table(n={"url": "https://a.example", "timeout": timeout}))["n"].timeout == timeout


@pytest.mark.parametrize(
    ("raw", "fragments"),
    [
        ("not json", ("not valid JSON",)),
        ("[]", ("JSON object",)),
        ('"https://a.example"', ("JSON object",)),
        ('{"a": "https://a.example", "a": "https://b.example"}', ("'a' twice",)),
        ('{"a": 1}', ("'a'", "URL string or an object")),
        ('{"a": ["https://a.example"]}', ("'a'", "URL string or an object")),
        ('{"a": {"url": "https://a.example", "headers": {}}}', ("'a'", "unknown key(s) headers")),
        ('{"a": {"methods": ["GET"]}}', ("'a'", "url")),
        (json.dumps({f"u{i}": "https://a.example" for i in range(51)}), ("more than 50",)),
    ],
)
def test_bad_table(raw: str, fragments: tuple[str, ...]) -> None:
    refused(raw, *fragments)


def test_first_bad_upstream_is_named_even_after_good_ones() -> None:
    refused(table(good="https://a.example", bad="http://b.example"), "'bad'")


# --- paths: the pattern language ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("paths", "fragment"),
    [
        ([], "non-empty list"),
        ("/notes", "non-empty list"),
        (["notes"], "starting with /"),
        ([""], "starting with /"),
        ([1], "starting with /"),
        (["/notes/"], "empty segment"),
        (["/notes//x"], "empty segment"),
        (["/**/x"], "last segment"),
        (["/a/**/b"], "last segment"),
        (["/notes/v*"], "partial wildcards"),
        (["/notes/*x"], "partial wildcards"),
        (["/a/../b"], "'..'"),
        (["/a/./b"], "'.'"),
        (["/a%2fb"], "no %"),
        (["/a b"], "'a b'"),
        (["/a\\b"], "'a\\\\b'"),
        (["/a?b"], "'a?b'"),
        (["/a#b"], "'a#b'"),
        ([f"/p{i}" for i in range(51)], "more than 50"),
    ],
)
def test_bad_paths(paths: object, fragment: str) -> None:
    refused(table(notes={"url": "https://a.example", "paths": paths}), "'notes'", fragment)


def segs(path: str) -> tuple[str, ...]:
    return tuple(path[1:].split("/")) if path else ()


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("/", ["", "/"], ["/a", "/a/"]),
        ("/notes", ["/notes", "/notes/"], ["", "/", "/Notes", "/notes/1", "/notesx", "/x/notes"]),
        ("/notes/*", ["/notes/1", "/notes/abc/", "/notes/*"], ["/notes", "/notes/", "/notes/1/2", "/other/1"]),
        ("/*/items", ["/a/items", "/b/items/"], ["/a/b/items", "/items", "/a/items/1"]),
        ("/notes/**", ["/notes/1", "/notes/1/2/3", "/notes/1/"], ["/notes", "/notes/", "/other/1"]),
        ("/**", ["/a", "/a/b/c"], ["", "/"]),
        (
            "/v1/users/*/notes/**",
            ["/v1/users/7/notes/1", "/v1/users/7/notes/1/2"],
            ["/v1/users/7/notes", "/v1/users/notes/1"],
        ),
        ("/a:b@c", ["/a:b@c"], ["/a:b"]),
    ],
)
def test_pattern_matching(pattern: str, yes: list[str], no: list[str]) -> None:
    up = parse_upstreams(table(n={"url": "https://a.example", "paths": [pattern]}))["n"]
    for path in yes:
        assert up.allows_path(segs(path)), path
    for path in no:
        assert not up.allows_path(segs(path)), path


def test_several_patterns_any_matches() -> None:
    up = parse_upstreams(table(n={"url": "https://a.example", "paths": ["/notes", "/notes/*"]}))["n"]
    assert up.allows_path(segs("/notes")) and up.allows_path(segs("/notes/42"))
    assert not up.allows_path(segs("/notes/42/share")) and not up.allows_path(segs("/admin"))


def test_no_paths_allows_everything() -> None:
    up = parse_upstreams(table(n="https://a.example"))["n"]
    assert up.allows_path(()) and up.allows_path(segs("/any/depth/at/all"))


def test_pattern_segments_are_literal_not_regex() -> None:
    pattern = parse_pattern("n", "/a.b")
    assert pattern.matches(("a.b",)) and not pattern.matches(("axb",))
