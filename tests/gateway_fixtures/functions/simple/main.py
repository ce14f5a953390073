"""Fixture (Handler: main.entry): simplified responses, and malformed ones, picked by ?kind=."""

import base64

PNG = b"\x89PNG\r\n\x1a\n\x00\xff\xfe"


def entry(event, context):
    kind = (event.get("queryStringParameters") or {}).get("kind", "dict")
    if kind == "str":
        return "hello from lambda"
    if kind == "dict":
        return {"hello": "world", "n": 1}
    if kind == "list":
        return [1, "two"]
    if kind == "binary":
        return {
            "statusCode": 200,
            "headers": {"content-type": "image/png"},
            "body": base64.b64encode(PNG).decode(),
            "isBase64Encoded": True,
        }
    if kind == "bad-status":
        return {"statusCode": "teapot", "body": "x"}
    if kind == "bad-body":
        return {"statusCode": 200, "body": {"not": "a string"}}
    if kind == "bad-header":
        return {"statusCode": 200, "headers": {"x-injected": "a\r\nset-cookie: evil=1"}, "body": ""}
    if kind == "unserializable":
        return {"statusCode": 200, "body": object()}
    raise ValueError(f"unknown kind {kind!r}")
