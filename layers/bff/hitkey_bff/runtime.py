"""Process-wide collaborators, built once per warm Lambda on first use.

AWS clients come from one botocore session (boto3 would only add import time), honour
``AWS_ENDPOINT_URL`` natively (so the same code runs against moto's server) and use botocore's
standard retry mode. Nothing here runs at import time - a missing setting surfaces at the first
invocation as a 503 - and httpx and cryptography are imported only by the functions that use
them, so ``session``, ``login`` and ``logout`` never pay for them at cold start.
"""

from __future__ import annotations

import json
import threading
from functools import cache
from typing import TYPE_CHECKING, Any

from hitkey_bff import config
from hitkey_bff.errors import ConfigError, ServiceUnavailable
from hitkey_bff.store import Store

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient

    from hitkey_bff.crypto import KeyRing
    from hitkey_bff.hitkey import HitKeyClient

SECRET_MAX_AGE = 300
_lock = threading.Lock()


def _boto_config() -> Any:
    from botocore.config import Config

    # 3 attempts of at most 1 s + 3 s each: AWS calls cannot eat the Lambda's 25 s on their own.
    return Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=1, read_timeout=3)


@cache
def _session() -> Any:
    import botocore.session

    return botocore.session.get_session()


def _client(service: str) -> Any:
    with _lock:  # creating clients from one session concurrently is not thread-safe
        return _session().create_client(service, config=_boto_config())


@cache
def dynamodb() -> DynamoDBClient:
    """The DynamoDB client."""
    return _client("dynamodb")  # type: ignore[no-any-return]


@cache
def kms() -> KMSClient:
    """The KMS client."""
    return _client("kms")  # type: ignore[no-any-return]


@cache
def store() -> Store:
    """The session table."""
    return Store(dynamodb, config.settings().session_table)


@cache
def keyring() -> KeyRing:
    """The data key cache."""
    from hitkey_bff.crypto import KeyRing

    return KeyRing(kms, config.settings().kms_key_id)


@cache
def hitkey() -> HitKeyClient:
    """The HitKey API client (one ``httpx.Client`` reused across warm invocations)."""
    from hitkey_bff.hitkey import HitKeyClient, new_http_client

    s = config.settings()
    return HitKeyClient(new_http_client(), s.api_url, s.client_id)


@cache
def _secrets() -> Any:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=_client("secretsmanager"))


def client_secret() -> str:
    """The HitKey client secret from Secrets Manager, cached for five minutes.

    The SecretString is the secret itself or JSON ``{"client_secret": "..."}``.
    """
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    secret_id = config.settings().client_secret_id
    try:
        raw = _secrets().get(secret_id, max_age=SECRET_MAX_AGE)
    except GetParameterError as exc:
        if "ResourceNotFoundException" in str(exc):
            raise ConfigError(f"the client secret {secret_id} does not exist", code="client_secret_missing") from None
        raise ServiceUnavailable("the client secret could not be read, try again") from None
    return _parse_secret(raw if isinstance(raw, str) else bytes(raw).decode())


def _parse_secret(raw: str) -> str:
    value = raw.strip()
    if value.startswith("{"):
        try:
            value = str(json.loads(value).get("client_secret", ""))
        except (ValueError, AttributeError):
            value = ""
    if not value:
        raise ConfigError(
            "the HitKey client secret is empty: store it in HITKEY_CLIENT_SECRET_ARN (see README)",
            code="client_secret_missing",
        )
    return value


def reset() -> None:
    """Drop every cached collaborator (tests switch AWS mocks and settings between cases)."""
    from aws_lambda_powertools.utilities import parameters

    config.reset()
    for cached in (_session, dynamodb, kms, store, keyring, hitkey, _secrets):
        cached.cache_clear()
    parameters.clear_caches()  # type: ignore[no-untyped-call]
