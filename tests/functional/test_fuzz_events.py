"""Property-based fuzzing of the six handlers with generated API Gateway HTTP API (2.0) events.

Events range from gateway-shaped (``local.apigw.event.build_event``) to broken: keys missing or
extra, wrong types (headers as a list, cookies as a dict or a string, ``rawQueryString`` as an
int), CSRF headers, session cookies that look well formed (``v1.<b64>.<b64>``), OAuth query
parameters, bodies, huge strings. moto stands in for AWS and the HitKey emulator for HitKey.

For every event: the handler returns a dict with an int ``statusCode``, no exception escapes,
the status is one the route may answer to a caller without a session, 4xx and 5xx are
``{"error", "message"}`` JSON, and no 5xx at all except 502/503/504 with an upstream or AWS
code. No session may be written, ever; only ``/auth/login`` writes (login states).

The module counts the events it runs and checks, last, that there were at least 10,000.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hitkey_bff.cookies import b64url
from local.apigw.event import build_event
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from testkit.functions import routes
from tests.conftest import APP_ORIGIN, Aws
from tests.harness import LOGIN, SESSION, Bff

LOGIN_ROUTE, CALLBACK_ROUTE = "GET /auth/login", "GET /auth/callback"
SESSION_ROUTE, USERINFO_ROUTE = "GET /auth/session", "GET /auth/userinfo"
REFRESH_ROUTE, LOGOUT_ROUTE = "POST /auth/refresh", "POST /auth/logout"
ROUTES = tuple(routes())  # template.yaml's


# What a route may answer to a request that cannot carry a valid session or login state
# (besides an upstream/AWS 5xx, see UPSTREAM_CODES).
SESSION_REQUIRED = {400, 401, 403}  # any route declared session="required" (the default below)
ALLOWED_STATUS = {
    LOGIN_ROUTE: {302, 400},
    CALLBACK_ROUTE: {302, 400},
    SESSION_ROUTE: {200, 400, 403},
    USERINFO_ROUTE: {400, 401, 403},
    REFRESH_ROUTE: {400, 401, 403},
    LOGOUT_ROUTE: {204, 400, 403},
}
ERROR_CODES = {
    400: {"query_too_long", "invalid_request"},  # invalid_request: logout refuses too many session cookies
    401: {"unauthenticated"},
    403: {"csrf_header_missing", "origin_not_allowed"},
}
# The only 5xx allowed: upstream (HitKey) or AWS trouble. HitKey and moto are healthy here, so
# none is expected; an `internal_error` 500 is always a bug.
UPSTREAM_CODES = {
    502: {"upstream_error", "upstream_bad_response", "upstream_unreachable", "upstream_rejected", "invalid_client"},
    503: {"missing_config", "misconfigured", "client_secret_missing", "service_unavailable"},
    504: {"upstream_timeout", "refresh_in_progress"},
}
AUTH_ERROR_LOCATION = re.compile(re.escape(APP_ORIGIN) + r"/\?auth_error=[a-z_]{1,40}")

FUZZ = settings(  # max_examples: the Hypothesis profile's (tests/conftest.py: `ci` runs 1,700 per test)
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


# --- strategies --------------------------------------------------------------------------------

SURROGATE_CHARS = ["\ud800", "\udbff", "\udc00", "\udcff", "\udfff"]
SPECIAL_CHARS = [*"\x00\t\n\r ;=&%+/\\.,\"'#?:@", "\x7f", "\u0085", "\u00a0", "\u2028", "\u202e", "\ufeff"]
SPECIAL_CHARS += ["\uff0f", "\u2215", "\uff3c", "\u00e9", "\u0430", "\U0001d518", "\ufffd"]
SPECIAL_STRINGS = [
    "",
    " ",
    "1",
    "0",
    "null",
    "undefined",
    "true",
    "v1.",
    "v1..",
    "%",
    "%ff%fe",
    "%2f%2f",
    "%00",
    "/",
    "//evil.example",
    "/\\evil.example",
    "https://evil.example",
    "javascript:alert(1)",
    "access_denied",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
    "' OR '1'='1",
    "USER#x",
    "LOGIN#x",
    "SESSION#x",
]


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """``one_of`` with integer weights (``one_of`` drops repeated branches, so it cannot weight)."""
    return st.sampled_from([strategy for weight, strategy in choices for _ in range(weight)]).flatmap(lambda s: s)


def texts(surrogates: bool) -> st.SearchStrategy[str]:
    """Short strings over all of Unicode plus troublemakers (huge ones come from :data:`HUGE`)."""
    chars = st.one_of(
        st.characters(),
        st.sampled_from(SPECIAL_CHARS),
        *([st.sampled_from(SURROGATE_CHARS)] if surrogates else []),
    )
    return weighted((3, st.text(chars, max_size=16)), (1, st.sampled_from(SPECIAL_STRINGS)))


HUGE = st.builds(
    lambda unit, n: unit * n,
    st.sampled_from(["a", "%", "\u00e9", "v1.", ";", "=&", "\U0001d518", "A" * 7]),
    st.integers(1_000, 12_000),
)


def json_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text)
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=4
    )


def encode(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def join_pairs(pairs: list[tuple[str, str, bool]]) -> str:
    """A query string; each pair percent-encoded or left raw."""
    return "&".join(
        f"{quote(k, errors='surrogatepass')}={quote(v, errors='surrogatepass')}" if encoded else f"{k}={v}"
        for k, v, encoded in pairs
    )


class Strategies:
    """Every event strategy, for one alphabet (with or without lone surrogates). Weighted so that
    about half the events get past the CSRF check of the JSON routes to the session lookup."""

    def __init__(self, surrogates: bool) -> None:
        text = texts(surrogates)
        json_value = json_values(text)
        scalar = st.one_of(st.none(), st.booleans(), st.integers(), text)

        # cookies: well formed, nearly well formed, garbage, huge
        b64 = st.binary(max_size=48).map(b64url)
        well_formed = st.builds(
            lambda sub, secret: f"v1.{b64url(sub)}.{b64url(secret)}",
            st.one_of(
                st.sampled_from([u.sub.encode() for u in SEEDED_USERS]), text.map(encode), st.binary(max_size=300)
            ),
            weighted((3, st.binary(min_size=32, max_size=32)), (1, st.binary(max_size=64))),
        )
        near_formed = st.builds(
            lambda head, a, b, tail: f"{head}.{a}.{b}{tail}",
            st.sampled_from(["v1", "v0", "v2", "V1", "", "v1.v1"]),
            st.one_of(b64, text),
            st.one_of(b64, text),
            st.sampled_from(["", "=", "==", ".", ".x", " ", ";"]),
        )
        cookie_value = weighted((4, well_formed), (2, near_formed), (3, text), (1, HUGE))
        cookie_name = weighted(
            (3, st.sampled_from([SESSION, SESSION, LOGIN, SESSION.lower(), f" {SESSION}", f"{SESSION} ", "a"])),
            (1, text),
        )
        cookie_pair = st.builds(
            lambda name, sep, value: f"{name}{sep}{value}",
            cookie_name,
            st.sampled_from(["=", "=", "=", "", "= ", "=="]),
            cookie_value,
        )
        cookie_entry = weighted((4, cookie_pair), (1, st.lists(cookie_pair, max_size=4).map("; ".join)), (1, text))
        cookie_list = st.lists(cookie_entry, max_size=4)
        cookies = weighted(
            (6, cookie_list),
            (1, st.lists(st.one_of(cookie_entry, scalar), max_size=4)),
            (1, st.dictionaries(cookie_name, cookie_value, max_size=3)),
            (1, text),
            (1, scalar),
        )

        # headers: mostly with X-CSRF: 1 (else the JSON routes stop at the CSRF check)
        header_name = weighted(
            (
                3,
                st.sampled_from(
                    [
                        *("x-csrf", "X-CSRF", "origin", "Origin", "sec-fetch-site", "cookie", "host", "referer"),
                        *("content-type", "authorization", "x-forwarded-for", "x-amzn-trace-id"),
                    ]
                ),
            ),
            (1, text),
        )
        header_value = weighted(
            (
                4,
                st.sampled_from(
                    [
                        *("1", "0", "", " 1", APP_ORIGIN, APP_ORIGIN + "/", APP_ORIGIN.upper()),
                        *("https://evil.example", "null", "cross-site", "same-origin", "same-site", "none"),
                    ]
                ),
            ),
            (4, text),
            (1, HUGE),
        )
        csrf_base = st.fixed_dictionaries(
            {"x-csrf": st.just("1")},
            optional={
                "origin": st.sampled_from([APP_ORIGIN] * 4 + [APP_ORIGIN + "/", "https://evil.example", "null"]),
                "sec-fetch-site": st.sampled_from(["same-origin"] * 4 + ["cross-site", "none"]),
            },
        )
        with_csrf = st.builds(
            lambda base, extra: {**extra, **base}, csrf_base, st.dictionaries(header_name, header_value, max_size=2)
        )
        header_map = weighted((3, with_csrf), (1, st.dictionaries(header_name, header_value, max_size=6)))
        headers = weighted(
            (8, header_map),
            (1, st.dictionaries(header_name, json_value, max_size=4)),
            (1, st.lists(scalar, max_size=3)),
            (1, text),
            (1, scalar),
        )

        # query strings: OAuth parameters, duplicates, many fields, huge
        param_name = weighted(
            (3, st.sampled_from(["code", "state", "return_to", "error", "error_description", "iss", "x"])), (1, text)
        )
        pair = st.tuples(param_name, weighted((2, text), (1, well_formed), (1, near_formed)), st.booleans())
        query = weighted(
            (8, st.lists(pair, max_size=5).map(join_pairs)),
            (
                1,
                st.builds(
                    lambda pairs, n: join_pairs(pairs * n), st.lists(pair, min_size=1, max_size=2), st.integers(1, 40)
                ),
            ),
            (1, text),
            (1, HUGE),
        )
        raw_query = weighted((6, query), (1, scalar), (1, st.lists(text, max_size=2)))

        # the gateway's own shape, with fuzzed parts
        gateway = st.builds(
            lambda route, q, h, c, b: build_event(
                *route.split(" ", 1), q, headers=h, cookies=c, body=b, route_key=route
            ),
            st.sampled_from(ROUTES),
            query,
            header_map,
            cookie_list,
            st.one_of(st.none(), st.binary(max_size=64)),
        )

        # anything-goes dicts: keys missing or extra, any JSON type
        method = st.one_of(st.sampled_from(["GET", "POST", "DELETE", "OPTIONS", "HEAD", "get", ""]), text)
        path = st.one_of(st.sampled_from([r.split(" ", 1)[1] for r in ROUTES] + ["/", "//", ""]), text)
        http = st.fixed_dictionaries(
            {},
            optional={"method": st.one_of(method, scalar), "path": st.one_of(path, scalar), "sourceIp": text},
        )
        request_context = weighted(
            (
                3,
                st.fixed_dictionaries(
                    {},
                    optional={"http": weighted((3, http), (1, json_value)), "requestId": st.one_of(text, json_value)},
                ),
            ),
            (1, json_value),
        )
        fields = {
            "version": st.one_of(st.just("2.0"), scalar),
            "routeKey": st.one_of(st.sampled_from(ROUTES), scalar),
            "rawPath": st.one_of(path, scalar),
            "rawQueryString": raw_query,
            "cookies": cookies,
            "headers": headers,
            "queryStringParameters": st.one_of(st.dictionaries(text, text, max_size=3), json_value),
            "requestContext": request_context,
            "body": weighted((3, st.one_of(st.none(), text, json_value)), (1, HUGE)),
            "isBase64Encoded": st.one_of(st.booleans(), scalar, json_value),
            "pathParameters": json_value,
            "stageVariables": json_value,
        }
        essentials = ("rawQueryString", "cookies", "headers")
        extra_keys = st.dictionaries(text, json_value, max_size=3)
        # every key optional
        sparse = st.builds(
            lambda base, extra: {**extra, **base}, st.fixed_dictionaries({}, optional=fields), extra_keys
        )
        # what the flows read is there (in any shape), the rest optional
        damaged = st.builds(
            lambda base, extra: {**extra, **base},
            st.fixed_dictionaries(
                {k: fields[k] for k in essentials}, optional={k: v for k, v in fields.items() if k not in essentials}
            ),
            extra_keys,
        )
        self.events: st.SearchStrategy[object] = weighted((4, gateway), (3, damaged), (1, sparse), (1, json_value))


WITH_SURROGATES = Strategies(surrogates=True)


# --- the property ------------------------------------------------------------------------------


@dataclass
class Watch:
    """What the fuzzed handlers wrote: any PutItem that is not a login state, and the logins."""

    not_login_states: list[str] = field(default_factory=list)
    logins_started: int = 0


@pytest.fixture
def watch(bff: Bff, hitkey: Emulator, aws: Aws) -> Iterator[Watch]:
    """Watches every DynamoDB PutItem (a session written by a fuzzed event fails that example).
    Afterwards the table must hold exactly one login state per login started, and nothing else."""
    seen = Watch()

    def on_put(params: dict[str, Any], **_: object) -> None:
        pk = str(params.get("Item", {}).get("pk", {}).get("S", ""))
        if not pk.startswith("LOGIN#"):
            seen.not_login_states.append(pk)

    dynamodb = bff.deps.aws.dynamodb()  # the client every handler uses
    dynamodb.meta.events.register("before-parameter-build.dynamodb.PutItem", on_put)
    yield seen
    assert seen.not_login_states == []
    kinds = Counter(str(item["pk"]["S"]).split("#", 1)[0] for item in aws.scan())  # type: ignore[index]
    assert kinds == Counter({"LOGIN": seen.logins_started} if seen.logins_started else {}), kinds


def check(bff: Bff, route: str, event: object, seen: Watch, *, count: bool = True) -> None:
    """Invoke ``route``'s handler with ``event`` and check everything the module promises."""
    response = bff.invoke_route(route, event)  # API Gateway sets routeKey: the route's own handler
    assert isinstance(response, dict), response
    status = response.get("statusCode")
    assert type(status) is int, response
    assert isinstance(response.get("headers"), dict) and isinstance(response.get("cookies"), list), response
    assert all(isinstance(c, str) for c in response["cookies"]), response
    assert isinstance(response.get("body"), str), response
    if status >= 400:
        assert response["headers"].get("content-type") == "application/json", response
        data = json.loads(response["body"])
        assert set(data) == {"error", "message"} and isinstance(data["message"], str), data
        if status >= 500:
            assert data["error"] in UPSTREAM_CODES.get(status, set()), f"BUG: {status} {data} for {event!r}"[:2000]
        else:
            assert data["error"] in ERROR_CODES.get(status, set()), data
    assert status in ALLOWED_STATUS.get(route, SESSION_REQUIRED) | UPSTREAM_CODES.keys(), response
    if status == 302:
        location = response["headers"]["location"]
        if route == LOGIN_ROUTE:
            assert location.startswith(bff.settings.authorize_url + "?"), location  # the emulator's page
            seen.logins_started += 1
        else:
            assert AUTH_ERROR_LOCATION.fullmatch(location), location  # no state can be valid here
    assert seen.not_login_states == [], seen.not_login_states


@pytest.mark.parametrize("route", [r for r in ROUTES if r != CALLBACK_ROUTE])
@FUZZ
@given(event=WITH_SURROGATES.events)
def test_fuzzed_events_never_break_a_handler(bff: Bff, watch: Watch, route: str, event: object) -> None:
    check(bff, route, event, watch)


@FUZZ
@example(event={"rawQueryString": "code=x&state=\udcff", "cookies": [f"{LOGIN}=x"]})
@example(event={"rawQueryString": "code=x&state=x", "cookies": [f"{LOGIN}=\udcff"]})
@given(event=WITH_SURROGATES.events)
def test_fuzzed_events_never_break_the_callback(bff: Bff, watch: Watch, event: object) -> None:
    """Lone surrogates included (a JSON event can carry ``"\\udcff"``): they once reached
    ``cookies.digest`` and raised UnicodeEncodeError."""
    check(bff, CALLBACK_ROUTE, event, watch)
