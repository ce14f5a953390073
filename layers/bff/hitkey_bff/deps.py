"""What the flows depend on, as one explicit object.

A Lambda builds one :class:`Deps` per process, on its first invocation (a missing setting is then
a 503, never an import-time crash), and keeps it warm; tests and benches build their own::

    deps = Deps(settings, clock=ManualClock(), aws=AwsClients(moto_session))
    handler.using(deps)(event, context)

Everything heavy is built on first use: httpx only when the HitKey client is, cryptography only
when the key ring is - so ``login``, ``session`` and ``logout`` never import either.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hitkey_bff.aws import AwsClients
from hitkey_bff.clock import Clock, SystemClock
from hitkey_bff.config import Settings, settings_from
from hitkey_bff.secret import ClientSecret
from hitkey_bff.store import Store

if TYPE_CHECKING:
    from hitkey_bff.hitkey import HitKeyClient
    from hitkey_bff.vault import KeyRing

T = TypeVar("T")


class Deps:
    """Settings, clock, AWS clients, the session store, the data-key ring, the HitKey client and
    the client secret. Pass any part to use it instead of the one built from ``settings``."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        aws: AwsClients | None = None,
        keyring: KeyRing | None = None,
        hitkey: HitKeyClient | None = None,
        client_secret: Callable[[], str] | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.aws = aws or AwsClients()
        self._lock = threading.RLock()
        self._built: dict[str, Any] = {}
        for name, part in (("keyring", keyring), ("hitkey", hitkey), ("client_secret", client_secret)):
            if part is not None:
                self._built[name] = part

    @classmethod
    def from_env(cls) -> Deps:
        """This process's dependencies, from its environment; raises ``ConfigError``."""
        return cls(settings_from(dict(os.environ)))

    def _once(self, name: str, build: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._built:
                self._built[name] = build()
            value: T = self._built[name]
            return value

    @property
    def store(self) -> Store:
        """The session table."""
        return self._once("store", lambda: Store(self.aws.dynamodb, self.settings.session_table))

    @property
    def keyring(self) -> KeyRing:
        """The data-key cache (imports cryptography)."""

        def build() -> KeyRing:
            from hitkey_bff.vault import KeyRing

            return KeyRing(self.aws.kms, self.settings.kms_key_id, clock=self.clock.monotonic)

        return self._once("keyring", build)

    @property
    def hitkey(self) -> HitKeyClient:
        """The HitKey API client: one ``httpx.Client`` reused across warm invocations (imports httpx)."""

        def build() -> HitKeyClient:
            from hitkey_bff.hitkey import HitKeyClient, new_http_client

            return HitKeyClient(new_http_client(), self.settings.api_url, self.settings.client_id)

        return self._once("hitkey", build)

    @property
    def client_secret(self) -> Callable[[], str]:
        """``deps.client_secret()`` is the HitKey client secret (cached for five minutes)."""
        return self._once(
            "client_secret",
            lambda: ClientSecret(
                self.aws.secretsmanager, self.settings.client_secret_id, monotonic=self.clock.monotonic
            ),
        )
