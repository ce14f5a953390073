"""A session: find it from the cookie, create it at sign-in, open and seal its tokens."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from hitkey_bff import runtime
from hitkey_bff.config import settings
from hitkey_bff.cookies import SessionKey, expired_cookie
from hitkey_bff.errors import Unauthenticated
from hitkey_bff.http import Request
from hitkey_bff.observability import logger
from hitkey_bff.store import SealedTokens, SessionRecord

if TYPE_CHECKING:
    from hitkey_bff.hitkey import TokenSet

ACCESS_TOKEN_SKEW = 30


def now() -> int:
    """Epoch seconds."""
    return int(time.time())


def _binding(key: SessionKey) -> str:
    return f"{key.sub}\x1f{key.session_hash}"


def signed_out(message: str = "sign in first") -> Unauthenticated:
    """A 401 that also deletes the session cookie."""
    return Unauthenticated(message, cookies=(expired_cookie(settings().cookie_name),))


def load(request: Request) -> tuple[SessionKey, SessionRecord] | None:
    """The request's session: one GetItem, no KMS. ``None`` if absent, tampered or expired."""
    key = SessionKey.decode(request.cookie(settings().cookie_name))
    if key is None:
        return None
    record = runtime.store().get_session(key.sub, key.session_hash, now())
    return (key, record) if record is not None else None


def require(request: Request) -> tuple[SessionKey, SessionRecord]:
    """Like :func:`load`, but a missing session is a 401 that clears the cookie."""
    found = load(request)
    if found is None:
        raise signed_out()
    return found


def seal_tokens(key: SessionKey, tokens: TokenSet, previous_refresh_token: str = "") -> SealedTokens:
    """Encrypt a token response for this session (zero KMS calls while a data key is cached)."""
    from hitkey_bff.crypto import seal  # cryptography: only for the routes that hold tokens

    refresh_token = tokens.refresh_token or previous_refresh_token
    blob, sealed = seal(
        runtime.keyring(),
        key.secret,
        _binding(key),
        {"rt": refresh_token, "at": tokens.access_token},
    )
    return SealedTokens(blob, sealed["rt"], sealed["at"], now() + tokens.expires_in, tokens.scope)


def create(key: SessionKey, tokens: TokenSet, user: dict[str, Any]) -> SessionRecord:
    """Write a new session for a fresh sign-in."""
    created = now()
    record = SessionRecord(
        sub=key.sub,
        session_hash=key.session_hash,
        user=user,
        tokens=seal_tokens(key, tokens),
        created_at=created,
        expires_at=created + settings().session_ttl_seconds,
        version=1,
    )
    runtime.store().put_session(record)
    return record


def _open(key: SessionKey, record: SessionRecord, name: str, ciphertext: bytes) -> str:
    from hitkey_bff.crypto import DecryptionFailed, unseal

    try:
        return unseal(runtime.keyring(), key.secret, _binding(key), record.tokens.data_key, name, ciphertext)
    except DecryptionFailed:
        logger.warning("stored token did not decrypt", extra={"security_event": "token_decrypt_failed"})
        raise signed_out("the session could not be read; sign in again") from None


def access_token(key: SessionKey, record: SessionRecord) -> str:
    """The session's access token, decrypted."""
    return _open(key, record, "at", record.tokens.access_token)


def refresh_token(key: SessionKey, record: SessionRecord) -> str:
    """The session's refresh token, decrypted."""
    return _open(key, record, "rt", record.tokens.refresh_token)


def access_token_fresh(record: SessionRecord) -> bool:
    """Whether the stored access token is good for at least :data:`ACCESS_TOKEN_SKEW` seconds."""
    return record.tokens.access_expires_at > now() + ACCESS_TOKEN_SKEW
