"""The session's tokens, sealed: envelope encryption with a split key.

Each token is sealed with AES-256-GCM under a key derived (HKDF-SHA256) from two halves:

* a KMS data key (``GenerateDataKey``; its encrypted blob is stored beside the ciphertext), and
* the session secret that only the browser's cookie carries (the table holds its hash).

A dump of the table plus KMS access therefore decrypts nothing. The associated data binds each
ciphertext to its user, session and field, so a ciphertext pasted into another item fails.

Data keys are cached in the warm process, bounded by age and use, so the steady-state hot path
makes no KMS call (KMS costs more per call than everything else on the path together).

A :class:`Sealer` takes its data key when it is made: a refresh makes one before HitKey rotates,
so nothing that can fail (KMS) stands between HitKey's answer and storing it. ``cryptography`` is
imported at the first seal or open only (the session function never imports it).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from hitkey_bff.errors import Unauthenticated
from hitkey_bff.observability import logger

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from mypy_boto3_kms import KMSClient

    from hitkey_bff.cookies import SessionKey
    from hitkey_bff.hitkey import TokenSet

ENCRYPTION_CONTEXT = {"purpose": "hitkey-bff/session-tokens"}
NONCE_BYTES = 12
_INFO = b"hitkey-bff/v1/token-key"


class DecryptionFailed(Exception):
    """A ciphertext did not open: wrong cookie secret, wrong item, or tampered."""


@dataclass(frozen=True, slots=True)
class SealedTokens:
    """Tokens as stored: the data key blob and one ciphertext each."""

    data_key: bytes
    refresh_token: bytes
    access_token: bytes
    access_expires_at: int
    scope: str


@dataclass(frozen=True, slots=True)
class DataKey:
    """A plaintext data key and the KMS blob that recovers it."""

    plaintext: bytes
    blob: bytes


class KeyRing:
    """Caches KMS data keys: one current key for sealing (rotated after ``max_age`` seconds or
    ``max_uses`` seals) and a bounded LRU of decrypted blobs for opening, each kept for
    ``max_open_age`` seconds - the longest a warm Lambda keeps decrypting after KMS access to
    the key is revoked."""

    def __init__(
        self,
        kms: Callable[[], KMSClient],
        key_id: str,
        *,
        max_age: float = 900.0,
        max_uses: int = 10_000,
        max_open_age: float = 3600.0,
        max_cached: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kms, self._key_id = kms, key_id
        self._max_age, self._max_uses, self._max_cached = max_age, max_uses, max_cached
        self._max_open_age = max_open_age
        self._clock = clock
        self._lock = threading.Lock()
        self._current: tuple[DataKey, float, int] | None = None
        self._opened: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()

    def for_sealing(self) -> DataKey:
        """The current data key, generating a new one when the cached one is used up."""
        with self._lock:
            now = self._clock()
            if self._current is None or self._expired(self._current[1], now) or self._current[2] >= self._max_uses:
                self._current = (self._generate(), now, 0)
            key, born, uses = self._current
            self._current = (key, born, uses + 1)
            return key

    def for_opening(self, blob: bytes) -> bytes:
        """The plaintext of a stored data key blob (cached, else one KMS ``Decrypt``)."""
        with self._lock:
            now = self._clock()
            current = self._current
            if current is not None and current[0].blob == blob and not self._expired(current[1], now):
                return current[0].plaintext
            hit = self._opened.get(blob)
            if hit is not None and now - hit[1] < self._max_open_age:
                self._opened.move_to_end(blob)
                return hit[0]
        plaintext = self._decrypt(blob)
        with self._lock:
            self._opened[blob] = (plaintext, self._clock())
            while len(self._opened) > self._max_cached:
                self._opened.popitem(last=False)
        return plaintext

    def _expired(self, born: float, now: float) -> bool:
        return now - born >= self._max_age

    def _generate(self) -> DataKey:
        out = self._kms().generate_data_key(KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=ENCRYPTION_CONTEXT)
        return DataKey(out["Plaintext"], out["CiphertextBlob"])

    def _decrypt(self, blob: bytes) -> bytes:
        try:
            out = self._kms().decrypt(CiphertextBlob=blob, EncryptionContext=ENCRYPTION_CONTEXT)
        except Exception as exc:
            if type(exc).__name__ == "InvalidCiphertextException":
                raise DecryptionFailed("data key blob rejected by KMS") from None
            raise
        return out["Plaintext"]


def _token_key(data_key: bytes, session_secret: bytes) -> AESGCM:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=session_secret, info=_INFO)
    return AESGCM(hkdf.derive(data_key))


def _aad(binding: str, name: str) -> bytes:
    return f"{binding}\x1f{name}".encode()


def seal(
    keys: KeyRing, session_secret: bytes, binding: str, fields: dict[str, str], data_key: DataKey | None = None
) -> tuple[bytes, dict[str, bytes]]:
    """Encrypt ``fields`` for one session; returns the data key blob and a ciphertext per field.

    ``binding`` names the owner (user and session) and goes into every ciphertext's AAD;
    ``data_key`` (from ``keys.for_sealing()`` earlier) pins the key, else the current one is used.
    """
    data_key = data_key or keys.for_sealing()
    aead = _token_key(data_key.plaintext, session_secret)
    sealed = {}
    for name, value in fields.items():
        nonce = os.urandom(NONCE_BYTES)
        sealed[name] = nonce + aead.encrypt(nonce, value.encode(), _aad(binding, name))
    return data_key.blob, sealed


def unseal(keys: KeyRing, session_secret: bytes, binding: str, blob: bytes, name: str, ciphertext: bytes) -> str:
    """Decrypt one field sealed by :func:`seal`; raises :class:`DecryptionFailed`."""
    from cryptography.exceptions import InvalidTag

    aead = _token_key(keys.for_opening(blob), session_secret)
    try:
        plain = aead.decrypt(ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:], _aad(binding, name))
    except (InvalidTag, ValueError):
        raise DecryptionFailed(f"{name} did not decrypt") from None
    return plain.decode()


# --- one session's tokens ---------------------------------------------------------------------


class _Record(Protocol):
    """What opening needs of a stored session (``hitkey_bff.store.SessionRecord``)."""

    @property
    def generation(self) -> int: ...
    @property
    def tokens(self) -> SealedTokens: ...


class _Holder(Protocol):
    """What opening needs of the dependencies (``hitkey_bff.deps.Deps``)."""

    @property
    def keyring(self) -> KeyRing: ...


def _binding(key: SessionKey, generation: int) -> str:
    """The AEAD associated data's owner part: the user, the session and the tokens' generation
    (0: an item written before generations existed)."""
    owner = f"{key.sub}\x1f{key.session_hash}"
    return owner if generation == 0 else f"{owner}\x1fgen={generation}"


class Sealer:
    """Seals token responses for one session with the data key current when it was made (zero
    KMS calls while a data key is cached; none at all once made)."""

    def __init__(self, keys: KeyRing, key: SessionKey) -> None:
        self._key, self._data_key = key, keys.for_sealing()
        self._keys = keys

    def seal(self, tokens: TokenSet, *, generation: int, now: int, previous_refresh_token: str = "") -> SealedTokens:
        """Encrypt a token response for the session's ``generation``; a response without a
        refresh token keeps ``previous_refresh_token``. The access token expires ``now`` +
        ``expires_in``."""
        fields = {"rt": tokens.refresh_token or previous_refresh_token, "at": tokens.access_token}
        blob, sealed = seal(self._keys, self._key.secret, _binding(self._key, generation), fields, self._data_key)
        return SealedTokens(blob, sealed["rt"], sealed["at"], now + tokens.expires_in, tokens.scope)


def _open(deps: _Holder, session: tuple[SessionKey, _Record], name: str, ciphertext: bytes) -> str:
    key, record = session
    try:
        return unseal(
            deps.keyring, key.secret, _binding(key, record.generation), record.tokens.data_key, name, ciphertext
        )
    except DecryptionFailed:
        logger.warning("stored token did not decrypt", extra={"security_event": "token_decrypt_failed"})
        raise Unauthenticated("the session could not be read; sign in again") from None


def access_token(deps: _Holder, session: tuple[SessionKey, _Record]) -> str:
    """The session's access token, decrypted (a 401 that ends the cookie if it does not open)."""
    return _open(deps, session, "at", session[1].tokens.access_token)


def refresh_token(deps: _Holder, session: tuple[SessionKey, _Record]) -> str:
    """The session's refresh token, decrypted (a 401 that ends the cookie if it does not open)."""
    return _open(deps, session, "rt", session[1].tokens.refresh_token)
