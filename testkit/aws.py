"""moto's AWS as the tests see it, and botocore responses made up in process: what a
``before-send`` handler returns instead of sending."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

    from local.resources import LocalResources


@dataclass(frozen=True)
class Aws:
    """moto's in-process AWS with the stack's resources created from template.yaml."""

    session: boto3.Session
    resources: LocalResources

    def scan(self) -> list[dict[str, Any]]:
        """Every item in the session table."""
        return list(self.session.client("dynamodb").scan(TableName=self.resources.table)["Items"])


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
