"""The HitKey client secret from Secrets Manager, cached for :data:`MAX_AGE` seconds.

The SecretString is the secret itself or JSON ``{"client_secret": "..."}``. The cache runs on the
clock the process is given, so a bench replaying a day in seconds sees the reads a day makes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from hitkey_bff.aws import error_code
from hitkey_bff.errors import ConfigError, ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

MAX_AGE = 300.0


class ClientSecret:
    """``secret()`` is the client secret: from the cache, else one ``GetSecretValue``."""

    def __init__(
        self,
        client: Callable[[], SecretsManagerClient],
        secret_id: str,
        *,
        monotonic: Callable[[], float],
        max_age: float = MAX_AGE,
    ) -> None:
        self._client, self._id, self._monotonic, self._max_age = client, secret_id, monotonic, max_age
        self._lock = threading.Lock()
        self._cached: tuple[str, float] | None = None

    def __call__(self) -> str:
        with self._lock:
            now = self._monotonic()
            if self._cached is not None and now - self._cached[1] < self._max_age:
                return self._cached[0]
        value = self._read()
        with self._lock:
            self._cached = (value, self._monotonic())
        return value

    def clear(self) -> None:
        """Forget the cached value: the next call reads Secrets Manager."""
        with self._lock:
            self._cached = None

    def _read(self) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            out = self._client().get_secret_value(SecretId=self._id)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise ConfigError(
                    f"the client secret {self._id} does not exist", code="client_secret_missing"
                ) from None
            raise ServiceUnavailable("the client secret could not be read, try again") from None
        except BotoCoreError:
            raise ServiceUnavailable("the client secret could not be read, try again") from None
        raw = out.get("SecretString")
        if raw is None:
            raw = bytes(out.get("SecretBinary", b"")).decode("utf-8", "replace")
        return parse(raw)


def parse(raw: str) -> str:
    """The secret in a SecretString; :class:`ConfigError` if there is none."""
    value = raw.strip()
    if value.startswith("{"):
        try:
            value = str(json.loads(value).get("client_secret", ""))
        except (ValueError, AttributeError):
            value = ""
    if not value:
        raise ConfigError(
            "the HitKey client secret is empty: store it in HITKEY_CLIENT_SECRET_ARN (docs/deploy.md, step 4)",
            code="client_secret_missing",
        )
    return value
