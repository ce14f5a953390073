"""The local API Gateway stand-in: routes from templates, the events it builds, what it answers.

Everything runs over real HTTP against the gateway on a free loopback port, with fixture
templates and handlers from ``tests/gateway_fixtures/``.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import yaml

from local.api_template import load_routes
from local.apigw.event import build_event
from local.apigw.response import MalformedResponse, translate_response
from local.gateway import Gateway
from local.lambda_runtime import LambdaContext
from local.template import CfnLoader, load_template

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "gateway_fixtures"
FIXTURE_TEMPLATE = FIXTURES / "template.yaml"
SPA = ROOT / "local" / "spa"


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    gw = Gateway(FIXTURE_TEMPLATE)
    gw.start("127.0.0.1", 0)
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, timeout=10) as c:
        yield c


def echo(client: httpx.Client, method: str = "GET", url: str = "/echo", **kwargs: Any) -> dict[str, Any]:
    response = client.request(method, url, **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def raw_get(base_url: str, target: str) -> tuple[int, bytes]:
    """A request whose target goes on the wire byte for byte (httpx would normalise ``..``)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("GET", target)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# Routes from templates
# ---------------------------------------------------------------------------------------------


def test_real_template_has_exactly_the_bff_routes() -> None:
    routes = load_routes(ROOT / "template.yaml")
    assert set(routes) == {
        ("GET", "/auth/login"),
        ("GET", "/auth/callback"),
        ("GET", "/auth/session"),
        ("GET", "/auth/userinfo"),
        ("POST", "/auth/refresh"),
        ("POST", "/auth/logout"),
        ("GET", "/auth/sessions"),
        ("DELETE", "/auth/sessions"),
        ("DELETE", "/auth/sessions/{id}"),
        ("ANY", "/api/{upstream}"),
        ("ANY", "/api/{upstream}/{proxy+}"),
    }
    template = load_template(ROOT / "template.yaml")
    default_memory = template["Globals"]["Function"]["MemorySize"]
    for route in routes.values():
        name = route.function.code_uri.name
        own = template["Resources"][route.function.logical_id]["Properties"].get("MemorySize")
        assert route.function.code_uri == ROOT / "functions" / name
        assert route.function.logical_id == name.capitalize() + "Function"
        assert route.function.handler == "app.handler"
        assert route.function.handler_file == ROOT / "functions" / name / "app.py"
        assert route.function.timeout == template["Globals"]["Function"]["Timeout"]
        assert route.function.memory_size == (own or default_memory)  # the function's own, else Globals
        assert route.function.layer_paths == (ROOT / "layers" / "bff",)
    module_names = {r.function.module_name for r in routes.values()}
    assert len(module_names) == 2  # both functions are app.py, yet each gets its own module


def test_fixture_template_routes_with_globals_and_cfn_tags() -> None:
    routes = load_routes(FIXTURE_TEMPLATE)
    assert set(routes) == {
        ("GET", "/echo"),
        ("POST", "/echo"),
        ("GET", "/items/{id}"),
        ("ANY", "/files/{proxy+}"),
        ("GET", "/cookies"),
        ("GET", "/items/special"),
        ("GET", "/style.css"),
        ("GET", "/boom"),
        ("GET", "/simple"),
        ("GET", "/layer"),
        ("GET", "/broken"),
    }  # not the Schedule, REST Api or SQS events
    echo_fn = routes[("GET", "/echo")].function
    assert echo_fn.logical_id == "EchoFunction"
    assert echo_fn.timeout == 9  # !Ref to a parameter's Default
    assert echo_fn.memory_size == 192  # from Globals
    assert echo_fn.runtime == "python3.12"
    assert echo_fn.layer_paths == (FIXTURES / "layers" / "fixture",)
    assert routes[("GET", "/cookies")].function.memory_size == 192  # !FindInMap unresolved: Globals
    assert routes[("GET", "/boom")].function.timeout == 5
    simple = routes[("GET", "/simple")].function
    assert simple.handler == "main.entry"
    assert simple.handler_file == FIXTURES / "functions" / "simple" / "main.py"
    assert routes[("ANY", "/files/{proxy+}")].route_key == "ANY /files/{proxy+}"


def test_cfn_short_tags_load_as_plain_data() -> None:
    doc = yaml.load(
        textwrap.dedent(
            """
            a: !Ref Thing
            b: !GetAtt Table.Arn
            c: !Sub "${AWS::StackName}-x"
            d: !If [Cond, yes, !Ref "AWS::NoValue"]
            e: !Join ["", [a, !Select [0, !GetAZs ""]]]
            f: !Condition IsProd
            g: !Frobnicate {deep: [!Ref X]}
            h: !GetAtt [Table, StreamArn]
            """
        ),
        Loader=CfnLoader,  # noqa: S506 - CfnLoader is a SafeLoader
    )
    assert doc == {
        "a": {"Ref": "Thing"},
        "b": {"Fn::GetAtt": ["Table", "Arn"]},
        "c": {"Fn::Sub": "${AWS::StackName}-x"},
        "d": {"Fn::If": ["Cond", True, {"Ref": "AWS::NoValue"}]},
        "e": {"Fn::Join": ["", ["a", {"Fn::Select": [0, {"Fn::GetAZs": ""}]}]]},
        "f": {"Condition": "IsProd"},
        "g": {"Fn::Frobnicate": {"deep": [{"Ref": "X"}]}},
        "h": {"Fn::GetAtt": ["Table", "StreamArn"]},
    }


def test_loader_is_still_safe() -> None:
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.load("x: !!python/object/apply:os.system [echo hi]", Loader=CfnLoader)  # noqa: S506


def test_a_route_added_to_the_template_appears(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"

    def write(extra: str = "") -> None:
        template.write_text(
            textwrap.dedent(
                f"""
                Transform: AWS::Serverless-2016-10-31
                Globals:
                  Function:
                    Handler: app.handler
                    Timeout: !Ref Nope
                Resources:
                  Api: {{Type: AWS::ApiGatewayV2::Api, Properties: {{ProtocolType: HTTP}}}}
                  Echo:
                    Type: AWS::Serverless::Function
                    Properties:
                      CodeUri: {FIXTURES / "functions" / "echo"}
                  ToEcho:
                    Type: AWS::ApiGatewayV2::Integration
                    Properties: {{ApiId: !Ref Api, IntegrationUri: !GetAtt Echo.Arn, PayloadFormatVersion: "2.0"}}
                  One:
                    Type: AWS::ApiGatewayV2::Route
                    Properties: {{ApiId: !Ref Api, RouteKey: GET /one, Target: !Sub "integrations/${{ToEcho}}"}}
                {extra}
                """
            ),
            encoding="utf-8",
        )

    write()
    assert set(load_routes(template)) == {("GET", "/one")}
    assert load_routes(template)[("GET", "/one")].function.timeout == 3  # unresolvable: Lambda's default

    with Gateway(template, spa_dir=None, access_log=False) as gw, httpx.Client(base_url=gw.base_url) as c:
        assert c.get("/one").status_code == 200
        assert c.get("/two").status_code == 404
        write(
            """
                  Two:
                    Type: AWS::Serverless::Function
                    Properties:
                      CodeUri: {code}
                  TwoIntegration:
                    Type: AWS::ApiGatewayV2::Integration
                    Properties: {{ApiId: !Ref Api, IntegrationUri: !GetAtt Two.Arn, PayloadFormatVersion: "2.0"}}
                  TwoRoute:
                    Type: AWS::ApiGatewayV2::Route
                    Properties: {{ApiId: !Ref Api, RouteKey: GET /two, Target: !Sub "integrations/${{TwoIntegration}}"}}
            """.format(code=FIXTURES / "functions" / "echo")
        )
        assert set(load_routes(template)) == {("GET", "/one"), ("GET", "/two")}
        response = c.get("/two")  # the running gateway re-reads the changed template
        assert response.status_code == 200
        assert response.json()["event"]["routeKey"] == "GET /two"
        assert response.json()["context"]["function_name"] == "Two"


# ---------------------------------------------------------------------------------------------
# The event
# ---------------------------------------------------------------------------------------------


def test_event_shape_for_a_get(client: httpx.Client, gateway: Gateway) -> None:
    raw_query = "code=a%2Fb%20c&state=xyz&dup=1&dup=2&plus=a+b&empty="
    body = echo(
        client,
        "GET",
        f"/echo?{raw_query}",
        headers=[
            ("User-Agent", "gateway-test/1.0"),
            ("X-CSRF", "1"),
            ("X-Dup", "first"),
            ("X-Dup", "second"),
            ("Cookie", "__Host-Http-hitkey-session=s3cr3t; theme=dark"),
            ("Cookie", "other=1"),
        ],
    )
    event = body["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /echo"
    assert event["rawPath"] == "/echo"
    assert event["rawQueryString"] == raw_query  # exactly as sent, not decoded
    assert event["queryStringParameters"] == {
        "code": "a/b c",
        "state": "xyz",
        "dup": "1,2",
        "plus": "a b",
        "empty": "",
    }
    assert event["cookies"] == ["__Host-Http-hitkey-session=s3cr3t", "theme=dark", "other=1"]
    headers = event["headers"]
    assert all(name == name.lower() for name in headers)
    assert "cookie" not in headers  # API Gateway moves cookies out of the headers
    assert headers["x-csrf"] == "1"
    assert headers["x-dup"] == "first,second"
    assert headers["user-agent"] == "gateway-test/1.0"
    assert headers["host"] == urlsplit(gateway.base_url).netloc
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-port"] == str(urlsplit(gateway.base_url).port)
    assert headers["x-amzn-trace-id"].startswith("Root=1-")
    assert headers["connection"] == "keep-alive"  # httpx's: every request header reaches the event
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    assert "pathParameters" not in event
    assert "stageVariables" not in event

    ctx = event["requestContext"]
    assert ctx["http"] == {
        "method": "GET",
        "path": "/echo",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "gateway-test/1.0",
    }
    assert ctx["routeKey"] == "GET /echo"
    assert ctx["stage"] == "$default"
    assert ctx["domainName"] == "127.0.0.1"
    assert ctx["accountId"] and ctx["apiId"] and ctx["domainPrefix"] and ctx["requestId"]
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", ctx["time"])
    assert isinstance(ctx["timeEpoch"], int) and ctx["timeEpoch"] > 1_600_000_000_000


def test_connection_and_the_headers_it_names_reach_the_event(gateway: Gateway) -> None:
    """API Gateway's payload 2.0 documents every request header in ``headers`` (repeats joined,
    cookies moved out) and no exception for ``Connection``: the function gets it and drops what
    it names itself. Only the framing stays with the gateway: a chunked body arrives whole."""
    parts = urlsplit(gateway.base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.putrequest("POST", "/echo", skip_accept_encoding=True)
        for name, value in [
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "secret"),
            ("Keep-Alive", "timeout=5"),
            ("Content-Type", "text/plain"),
            ("Transfer-Encoding", "chunked"),
        ]:
            conn.putheader(name, value)
        conn.endheaders()
        conn.send(b"5\r\nhello\r\n0\r\n\r\n")
        response = conn.getresponse()
        assert response.status == 200
        event = json.loads(response.read())["event"]
    finally:
        conn.close()
    headers = event["headers"]
    assert headers["connection"] == "keep-alive, X-Hop"
    assert headers["x-hop"] == "secret" and headers["keep-alive"] == "timeout=5"
    assert "transfer-encoding" not in headers and headers["content-length"] == "5"
    assert event["body"] == "hello"


def test_no_query_no_cookies_means_absent_fields(client: httpx.Client) -> None:
    event = echo(client)["event"]
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event
    assert "cookies" not in event


def test_binary_post_body_is_base64(client: httpx.Client) -> None:
    payload = bytes(range(256))
    event = echo(client, "POST", content=payload, headers={"Content-Type": "application/octet-stream"})["event"]
    assert event["routeKey"] == "POST /echo"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload
    assert event["headers"]["content-length"] == "256"


def test_json_post_body_is_text_and_forms_are_base64(client: httpx.Client) -> None:
    event = echo(client, "POST", json={"a": "é"})["event"]
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"a": "é"}

    event = echo(client, "POST", data={"a": "1", "b": "x y"})["event"]
    assert event["isBase64Encoded"] is True  # as HTTP API does for x-www-form-urlencoded
    assert base64.b64decode(event["body"]) == b"a=1&b=x+y"


def test_chunked_request_body_is_read(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"part": '
        yield b"1}"

    event = echo(client, "POST", content=chunks(), headers={"Content-Type": "application/json"})["event"]
    assert event["body"] == '{"part": 1}'
    assert "transfer-encoding" not in event["headers"]
    assert event["headers"]["content-length"] == "11"


def test_path_parameters_and_specificity(client: httpx.Client) -> None:
    event = echo(client, "GET", "/items/a%20b")["event"]
    assert event["routeKey"] == "GET /items/{id}"
    assert event["pathParameters"] == {"id": "a b"}
    assert event["rawPath"] == "/items/a%20b"

    special = client.get("/items/special")  # a literal route beats {id}
    assert special.status_code == 201 and special.headers["x-fixture"] == "cookies"

    event = echo(client, "DELETE", "/files/a/b/c.txt")["event"]
    assert event["routeKey"] == "ANY /files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert event["requestContext"]["http"]["method"] == "DELETE"
    assert client.get("/files").status_code == 404  # {proxy+} needs at least one segment


def test_lambda_context(client: httpx.Client) -> None:
    ctx = echo(client)["context"]
    assert ctx["function_name"] == "EchoFunction"
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"].endswith(":function:EchoFunction")
    assert ctx["invoked_function_arn"].startswith("arn:aws:lambda:")
    assert ctx["memory_limit_in_mb"] == 192
    assert uuid.UUID(ctx["aws_request_id"]).version == 4
    assert ctx["log_group_name"] == "/aws/lambda/EchoFunction"
    assert "[$LATEST]" in ctx["log_stream_name"]
    assert 8_000 < ctx["remaining_ms"] <= 9_000  # Timeout: !Ref EchoTimeout (9)


def test_handler_module_is_imported_lazily_once_and_per_function(tmp_path: Path) -> None:
    for name in ("first", "second"):  # two functions, both app.py, both counting their imports
        code = tmp_path / name
        code.mkdir()
        (code / "app.py").write_text(
            textwrap.dedent(
                f"""
                from pathlib import Path

                MARKER = Path({str(tmp_path / (name + ".imported"))!r})
                MARKER.write_text(MARKER.read_text() + "x" if MARKER.exists() else "x")
                CALLS = 0

                def handler(event, context):
                    global CALLS
                    CALLS += 1
                    return {{"who": {name!r}, "calls": CALLS, "module": __name__}}
                """
            ),
            encoding="utf-8",
        )
    template = tmp_path / "template.yaml"
    template.write_text(
        textwrap.dedent(
            """
            Resources:
              Api: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: HTTP}}
              First:
                Type: AWS::Serverless::Function
                Properties: {CodeUri: first/, Handler: app.handler}
              FirstIntegration:
                Type: AWS::ApiGatewayV2::Integration
                Properties: {ApiId: !Ref Api, IntegrationUri: !GetAtt First.Arn, PayloadFormatVersion: "2.0"}
              FirstRoute:
                Type: AWS::ApiGatewayV2::Route
                Properties: {ApiId: !Ref Api, RouteKey: GET /first, Target: !Sub "integrations/${FirstIntegration}"}
              Second:
                Type: AWS::Serverless::Function
                Properties: {CodeUri: second/, Handler: app.handler}
              SecondIntegration:
                Type: AWS::ApiGatewayV2::Integration
                Properties: {ApiId: !Ref Api, IntegrationUri: !GetAtt Second.Arn, PayloadFormatVersion: "2.0"}
              SecondRoute:
                Type: AWS::ApiGatewayV2::Route
                Properties: {ApiId: !Ref Api, RouteKey: GET /second, Target: !Sub "integrations/${SecondIntegration}"}
            """
        ),
        encoding="utf-8",
    )
    with Gateway(template, spa_dir=None, access_log=False) as gw, httpx.Client(base_url=gw.base_url) as c:
        assert not (tmp_path / "first.imported").exists()  # nothing imported before a request
        one, two = c.get("/first").json(), c.get("/first").json()
        other = c.get("/second").json()
    assert (one["who"], one["calls"], two["calls"]) == ("first", 1, 2)  # warm: the same module
    assert other == {"who": "second", "calls": 1, "module": other["module"]}
    assert one["module"] != other["module"]
    assert (tmp_path / "first.imported").read_text() == "x"  # imported once
    assert (tmp_path / "second.imported").read_text() == "x"


def test_layer_and_sibling_modules_are_importable(client: httpx.Client) -> None:
    response = client.get("/layer")
    assert response.status_code == 200
    assert response.json() == {
        "greeting": "hello from the layer",
        "sibling": "imported from the function's own folder",
    }


def test_build_event_helper() -> None:
    event = build_event(
        "post",
        "/auth/refresh",
        headers={"X-CSRF": "1", "Cookie": "a=1; b=2", "Content-Type": "application/json"},
        cookies={"c": "3"},
        body='{"x": 1}',
        source_ip="203.0.113.9",
    )
    assert event["routeKey"] == "POST /auth/refresh"
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert event["headers"]["x-csrf"] == "1"
    assert event["headers"]["host"] == "localhost:3000"
    assert event["headers"]["x-forwarded-for"] == "203.0.113.9"
    assert event["headers"]["x-forwarded-port"] == "3000"
    assert event["requestContext"]["domainName"] == "localhost"
    assert event["requestContext"]["http"]["sourceIp"] == "203.0.113.9"
    assert event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False
    assert "queryStringParameters" not in event

    event = build_event("GET", "/auth/callback?code=x%2By&state=s", cookies=["l=1"], route_key="$default")
    assert event["rawPath"] == "/auth/callback"
    assert event["rawQueryString"] == "code=x%2By&state=s"
    assert event["queryStringParameters"] == {"code": "x+y", "state": "s"}
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "$default"
    assert event["cookies"] == ["l=1"]
    assert "body" not in event

    event = build_event("POST", "/upload", headers=[("content-type", "image/png")], body=b"\x89PNG")
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x89PNG"


def test_make_context_helper() -> None:
    ctx = LambdaContext("LoginFunction", timeout_s=10)
    assert ctx.function_name == "LoginFunction"
    assert ctx.invoked_function_arn.endswith(":function:LoginFunction")
    assert uuid.UUID(ctx.aws_request_id)
    assert ctx.memory_limit_in_mb == 256
    assert 9_000 < ctx.get_remaining_time_in_millis() <= 10_000
    assert ctx.aws_request_id != LambdaContext("LoginFunction").aws_request_id


# ---------------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------------


def test_full_response_with_several_cookies(client: httpx.Client) -> None:
    response = client.get("/cookies")
    assert response.status_code == 201
    assert response.headers.get_list("set-cookie") == [
        "first=one; Path=/; HttpOnly; SameSite=Lax",
        "second=two; Path=/; Secure",
        "third=three; Max-Age=0",
    ]
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-fixture"] == "cookies"
    assert response.headers["x-count"] == "3"
    assert response.headers["apigw-requestid"]
    assert response.text == "cookies for /cookies"


def test_simplified_responses(client: httpx.Client) -> None:
    response = client.get("/simple", params={"kind": "dict"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"hello": "world", "n": 1}

    response = client.get("/simple", params={"kind": "str"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == "hello from lambda"

    assert client.get("/simple", params={"kind": "list"}).json() == [1, "two"]


def test_base64_response_body_is_decoded(client: httpx.Client) -> None:
    response = client.get("/simple", params={"kind": "binary"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == b"\x89PNG\r\n\x1a\n\x00\xff\xfe"


def test_handler_exception_is_502_with_traceback_on_stderr(
    client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    response = client.get("/boom")
    assert response.status_code == 502
    assert response.json() == {"message": "Internal Server Error"}
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: fixture failure: boom" in err
    assert "BoomFunction" in err


def test_import_error_is_502_and_retried(client: httpx.Client, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(2):  # not cached: the next request tries to initialise again, as Lambda does
        response = client.get("/broken")
        assert response.status_code == 502
        assert response.json() == {"message": "Internal Server Error"}
        assert "ImportError: fixture failure: cannot initialise" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["bad-status", "bad-body", "bad-header", "unserializable"])
def test_malformed_results_are_502(client: httpx.Client, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    response = client.get("/simple", params={"kind": kind})
    assert response.status_code == 502
    assert response.json() == {"message": "Internal Server Error"}
    assert "evil" not in response.headers.get("set-cookie", "")
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": 99},
        {"statusCode": True},
        {"statusCode": 200, "headers": ["a"]},
        {"statusCode": 200, "cookies": "a=1"},
        {"statusCode": 200, "cookies": [1]},
        {"statusCode": 200, "body": "***", "isBase64Encoded": True},
        {"statusCode": 200, "headers": {"bad name": "x"}},
        {"statusCode": 200, "headers": {"x": {"nested": 1}}},
    ],
)
def test_translate_response_rejects(result: dict[str, Any]) -> None:
    with pytest.raises(MalformedResponse):
        translate_response(result)


def test_translate_response_accepts() -> None:
    response = translate_response({"statusCode": "204"})
    assert (response.status, response.body) == (204, b"")
    response = translate_response(None)
    assert (response.status, response.body, response.header("content-type")) == (200, b"null", "application/json")


def test_unknown_route_and_wrong_method_are_404(client: httpx.Client) -> None:
    for method, url in [("GET", "/nope"), ("POST", "/boom"), ("GET", "/echo/"), ("HEAD", "/echo"), ("PUT", "/")]:
        response = client.request(method, url)
        assert response.status_code == 404, (method, url)
        if method != "HEAD":
            assert response.json() == {"message": "Not Found"}


def test_access_log_is_concise_and_never_carries_secrets(
    client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    client.get("/echo?code=SECRET-CODE&state=SECRET-STATE", headers={"Cookie": "sid=SECRET-COOKIE"})
    client.get("/cookies")
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert re.fullmatch(r"GET /echo 200 \d+ms", lines[0]), lines
    assert re.fullmatch(r"GET /cookies 201 \d+ms", lines[1]), lines
    for secret in ("SECRET", "code=", "sid=", "first=one"):
        assert secret not in err


# ---------------------------------------------------------------------------------------------
# The demo SPA
# ---------------------------------------------------------------------------------------------


def test_spa_is_served(client: httpx.Client) -> None:
    index = client.get("/")
    assert index.status_code == 200
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    assert index.content == (SPA / "index.html").read_bytes()
    assert "script-src 'self'" in index.headers["content-security-policy"]
    for element_id in ("signin", "signout", "refresh", "user-name", "claims", "error", "status", "token-expiry"):
        assert f'id="{element_id}"' in index.text

    script = client.get("/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.content == (SPA / "app.js").read_bytes()
    assert "innerHTML" not in script.text

    head = client.head("/app.js")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(script.content))


def test_template_routes_take_precedence_over_static_files(client: httpx.Client) -> None:
    response = client.get("/style.css")  # the fixture template routes it to CookiesFunction
    assert response.status_code == 201
    assert response.text == "cookies for /style.css"


def test_static_css_served_when_no_route_shadows_it() -> None:
    real = Gateway(ROOT / "template.yaml", access_log=False)  # no route for /style.css there
    with real, httpx.Client(base_url=real.base_url) as c:
        css = c.get("/style.css")
        assert css.status_code == 200
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        assert css.content == (SPA / "style.css").read_bytes()


@pytest.mark.parametrize(
    "target",
    [
        "/../pyproject.toml",
        "/../../pyproject.toml",
        "/../gateway.py",
        "/%2e%2e/gateway.py",
        "/%2E%2E/%2e%2e/pyproject.toml",
        "/..%2fgateway.py",
        "/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/.%2e/gateway.py",
        "//etc/passwd",
        "/..\\gateway.py",
        "/%00index.html",
    ],
)
def test_static_files_refuse_traversal(gateway: Gateway, target: str) -> None:
    status, body = raw_get(gateway.base_url, target)
    assert status == 404
    assert json.loads(body) == {"message": "Not Found"}


# ---------------------------------------------------------------------------------------------
# events/*.json for ``sam local invoke -e``
# ---------------------------------------------------------------------------------------------

# The route events (an authorizer's event, "type": "REQUEST", is no route's: its own tests check it).
EVENT_FILES = sorted(
    p.name
    for p in (ROOT / "events").glob("*.json")
    if json.loads(p.read_text(encoding="utf-8")).get("type") != "REQUEST"
)


@pytest.mark.parametrize("name", EVENT_FILES)
def test_sample_events_look_like_the_gateways(name: str) -> None:
    event = json.loads((ROOT / "events" / name).read_text(encoding="utf-8"))
    method, path = event["requestContext"]["http"]["method"], event["rawPath"]
    route_method, _, route_path = event["routeKey"].partition(" ")
    routes = load_routes(ROOT / "template.yaml")
    assert (route_method, route_path) in routes
    built = build_event(
        method,
        path,
        event["rawQueryString"],
        event["headers"],
        cookies=event.get("cookies"),
        route_key=event["routeKey"],
        path_parameters=event.get("pathParameters"),
    )
    assert list(event) == list(built)  # the same fields, in the same order
    assert list(event["requestContext"]) == list(built["requestContext"])
    assert event["routeKey"] == event["requestContext"]["routeKey"]
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == path
    assert route_method in ("ANY", method)
    assert event["requestContext"]["stage"] == "$default"
    assert event["headers"] == built["headers"]
    assert all(h == h.lower() for h in event["headers"]) and "cookie" not in event["headers"]
    assert event["headers"]["host"] == "localhost:3000"
    if event["rawQueryString"]:
        assert event["queryStringParameters"] == dict(parse_qsl(event["rawQueryString"]))
    if method in ("POST", "DELETE"):
        assert event["headers"]["origin"] == "http://localhost:3000"
    if name not in ("login.json",):
        assert event.get("cookies"), name
    if name not in ("login.json", "callback.json"):
        assert event["headers"]["x-csrf"] == "1"
        assert any(c.startswith("__Host-Http-hitkey-session=") for c in event["cookies"])
    if name == "callback.json":
        assert set(event["queryStringParameters"]) == {"code", "state"}
        assert any(c.startswith("__Host-Http-hitkey-session-login=") for c in event["cookies"])
    if name == "login.json":
        assert event["queryStringParameters"] == {"return_to": "/dashboard"}


def test_the_default_route_takes_every_request(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        textwrap.dedent(
            f"""
            Resources:
              Api: {{Type: AWS::ApiGatewayV2::Api, Properties: {{ProtocolType: HTTP}}}}
              CatchAll:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: {FIXTURES / "functions" / "echo"}
                  Handler: app.handler
              ToCatchAll:
                Type: AWS::ApiGatewayV2::Integration
                Properties: {{ApiId: !Ref Api, IntegrationUri: !GetAtt CatchAll.Arn, PayloadFormatVersion: "2.0"}}
              Default:
                Type: AWS::ApiGatewayV2::Route
                Properties: {{ApiId: !Ref Api, RouteKey: $default, Target: !Sub "integrations/${{ToCatchAll}}"}}
            """
        ),
        encoding="utf-8",
    )
    assert set(load_routes(template)) == {("ANY", "$default")}
    with Gateway(template, access_log=False) as gw, httpx.Client(base_url=gw.base_url) as c:
        response = c.patch("/any/where?x=1")
        assert response.status_code == 200
        event = response.json()["event"]
        assert event["routeKey"] == event["requestContext"]["routeKey"] == "$default"
        assert event["rawPath"] == "/any/where"
        assert "pathParameters" not in event


# ---------------------------------------------------------------------------------------------
# CORS, deep links, the canonical host
# ---------------------------------------------------------------------------------------------

APP = "https://app.example.com"


@pytest.fixture(scope="module")
def real_gateway() -> Iterator[Gateway]:
    """The real template, its CorsConfiguration's AppOrigin set as make run sets it."""
    with Gateway(ROOT / "template.yaml", access_log=False, parameters={"AppOrigin": APP}) as gw:
        yield gw


def preflight(base_url: str, origin: str, path: str = "/auth/refresh", **headers: str) -> httpx.Response:
    request_headers = {"Origin": origin, "Access-Control-Request-Method": "POST", **headers}
    return httpx.options(base_url + path, headers=request_headers, timeout=5)


def test_preflight_is_answered_from_the_templates_cors_configuration(real_gateway: Gateway) -> None:
    cors = load_template(ROOT / "template.yaml")["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    response = preflight(real_gateway.base_url, APP, **{"Access-Control-Request-Headers": "x-csrf"})
    assert response.status_code == 204 and response.content == b""
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-methods"] == ",".join(cors["AllowMethods"])
    assert response.headers["access-control-allow-headers"] == ",".join(cors["AllowHeaders"])
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-max-age"] == str(cors["MaxAge"])
    assert preflight(real_gateway.base_url, APP, "/anything/at/all").status_code == 204  # no route needed


@pytest.mark.parametrize("origin", ["https://evil.example", "https://app.example.com.evil.example", "null"])
def test_preflight_from_another_origin_gets_no_cors_headers(real_gateway: Gateway, origin: str) -> None:
    response = preflight(real_gateway.base_url, origin)
    assert response.status_code == 204
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


def test_without_cors_configuration_options_is_a_plain_request(client: httpx.Client) -> None:
    response = client.options("/echo", headers={"Origin": APP, "Access-Control-Request-Method": "GET"})
    assert response.status_code == 404  # the fixture template has no CorsConfiguration and no OPTIONS route


def test_spa_fallback_serves_index_for_deep_links_only(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>my app</title>")
    (tmp_path / "main.js").write_text("console.log(1)")
    gw = Gateway(FIXTURE_TEMPLATE, spa_dir=tmp_path, spa_fallback=True, access_log=False)
    with gw, httpx.Client(base_url=gw.base_url, timeout=5) as c:
        for deep in ("/projects/42", "/settings", "/a/b/c?tab=1"):
            response = c.get(deep)
            assert response.status_code == 200, deep
            assert response.text == "<!doctype html><title>my app</title>"
            assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert c.get("/main.js").text == "console.log(1)"
        for not_a_page in ("/missing.js", "/auth/nope", "/api/x/y", "/auth", "/../pyproject.toml"):
            assert c.get(not_a_page).status_code == 404, not_a_page
        assert c.post("/projects/42").status_code == 404


def test_127_0_0_1_is_sent_to_localhost_with_path_and_query() -> None:
    gw = Gateway(FIXTURE_TEMPLATE, access_log=False, canonical_origin="http://localhost:3999")
    with gw:
        moved = httpx.get(gw.base_url + "/signed-in?tab=2&x=%2F", timeout=5)
        assert moved.status_code == 302
        assert moved.headers["location"] == "http://localhost:3999/signed-in?tab=2&x=%2F"
        refused = httpx.post(gw.base_url + "/echo", timeout=5)
        assert refused.status_code == 421
        assert refused.json()["error"] == "wrong_host" and "http://localhost:3999" in refused.json()["message"]
        served = httpx.get(gw.base_url + "/echo", headers={"Host": "localhost:3999"}, timeout=5)
        assert served.status_code == 200


def test_werkzeug_never_logs_a_query_string(
    gateway: Gateway, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level("DEBUG", logger="werkzeug")
    capfd.readouterr()
    httpx.get(gateway.base_url + "/echo?code=CODE-SECRET-7&state=STATE-SECRET-7", timeout=5)
    parts = urlsplit(gateway.base_url)
    with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=5) as raw:
        raw.sendall(b"GET /echo?code=CODE-SECRET-7 junk BAD/9\r\n\r\n")  # a malformed request line
        raw.recv(1024)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("werkzeug"))
    logged += "".join(capfd.readouterr())
    assert "GET /echo 200" in logged
    assert "CODE-SECRET-7" not in logged and "STATE-SECRET-7" not in logged


def test_bodies_over_api_gateways_limit_are_413_chunked_or_not(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(11):
            yield b"x" * (1024 * 1024)

    assert client.post("/echo", content=chunks()).status_code == 413  # no Content-Length to go by
    assert client.post("/echo", content=b"x" * (10 * 1024 * 1024 + 1)).status_code == 413
