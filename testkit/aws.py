"""botocore responses made up in process: what a ``before-send`` handler returns instead of sending."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


class Body:
    """The ``raw`` of a botocore ``AWSResponse``: what botocore streams the body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def aws_response(url: str, status: int, payload: object, protocol: str = "1.0") -> Any:
    """An AWS JSON-protocol response (what a ``before-send`` handler returns instead of sending)."""
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    headers = HTTPHeaders()
    headers["x-amzn-RequestId"] = "stub"
    headers["content-type"] = f"application/x-amz-json-{protocol}"
    return AWSResponse(url, status, headers, Body(json.dumps(payload).encode()))
