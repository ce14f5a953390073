"""AWS clients from one botocore session, and AWS errors by their error codes.

boto3 would only add import time: the low-level botocore clients are all the flows use. They
honour ``AWS_ENDPOINT_URL`` natively (so the same code runs against moto's server) and use
botocore's standard retry mode with :data:`MAX_ATTEMPTS` attempts - the one place that number is
set (an ``AWS_MAX_ATTEMPTS`` variable would have no effect on these clients).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

from hitkey_bff.budgets import AWS_CONNECT_SECONDS, AWS_READ_SECONDS

MAX_ATTEMPTS = 3
"""Attempts per AWS call, retries included: 3 of at most 1 s connect + 3 s read each (12 s), so
AWS calls cannot eat the Lambda's timeout on their own (hitkey_bff.budgets)."""
CONNECT_TIMEOUT, READ_TIMEOUT = AWS_CONNECT_SECONDS, AWS_READ_SECONDS


def client_config() -> Any:
    """The botocore ``Config`` of every client: standard retries, short timeouts."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )


class AwsClients:
    """DynamoDB, KMS and Secrets Manager clients, each created on first use and then reused.

    ``session`` is a ``botocore.session.Session`` (default: a new one from the environment).
    """

    def __init__(self, session: Any = None) -> None:
        self._session = session
        self._lock = threading.Lock()  # creating clients from one session concurrently is not thread-safe
        self._clients: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                if self._session is None:
                    import botocore.session

                    self._session = botocore.session.get_session()
                self._clients[service] = self._session.create_client(service, config=client_config())
            return self._clients[service]

    def dynamodb(self) -> DynamoDBClient:
        """The DynamoDB client."""
        return self._client("dynamodb")  # type: ignore[no-any-return]

    def kms(self) -> KMSClient:
        """The KMS client."""
        return self._client("kms")  # type: ignore[no-any-return]

    def secretsmanager(self) -> SecretsManagerClient:
        """The Secrets Manager client."""
        return self._client("secretsmanager")  # type: ignore[no-any-return]


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``"ThrottlingException"``), else ``""``."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    error = response.get("Error")
    return str(error.get("Code", "")) if isinstance(error, dict) else ""


def is_aws_error(exc: BaseException) -> bool:
    """Whether ``exc`` is botocore's (a service error or a connection/parameter failure)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, BotoCoreError | ClientError)
