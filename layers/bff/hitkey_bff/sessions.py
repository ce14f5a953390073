"""The session lifecycle - load, require, create, end, end all of a user - and its sealed tokens.

Nothing here knows HTTP: a session is found from the cookie's value (or a :class:`SessionKey`),
and a missing one is :class:`~hitkey_bff.errors.Unauthenticated`, which the route wrapper answers
with a 401 that deletes the cookie. Every ended session is logged and counted with its reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from hitkey_bff import claims
from hitkey_bff.cookies import SessionKey
from hitkey_bff.errors import Unauthenticated
from hitkey_bff.observability import logger, metrics
from hitkey_bff.store import SealedTokens, SessionRecord

if TYPE_CHECKING:
    from hitkey_bff.crypto import DataKey
    from hitkey_bff.deps import Deps
    from hitkey_bff.hitkey import TokenSet

EndReason = str
"""Why a session ended: ``logout``, ``reuse`` (HitKey refused its refresh token),
``refresh_outcome_lost`` (refused after a refresh whose outcome was unknown); to come:
``logout_everywhere``, ``revoked``, ``idle``, ``expired``, ``relogin``, ``cap``."""


class Session(NamedTuple):
    """A live session: the cookie's key and the stored record."""

    key: SessionKey
    record: SessionRecord


def signed_out(message: str = "sign in first") -> Unauthenticated:
    """The error for "no (longer a) session": a 401 that deletes the session cookie."""
    return Unauthenticated(message)


def load(deps: Deps, cookie: str | SessionKey | None) -> Session | None:
    """The session of a cookie value: one GetItem, no KMS. ``None`` if absent, tampered or expired."""
    key = cookie if isinstance(cookie, SessionKey) else SessionKey.decode(cookie)
    if key is None:
        return None
    record = deps.store.get_session(key.sub, key.session_hash, deps.clock.now())
    return Session(key, record) if record is not None else None


def require(deps: Deps, cookie: str | SessionKey | None) -> Session:
    """Like :func:`load`, but a missing session raises :func:`signed_out`."""
    found = load(deps, cookie)
    if found is None:
        raise signed_out()
    return found


def create(deps: Deps, key: SessionKey, tokens: TokenSet, user: dict[str, Any]) -> SessionRecord:
    """Write a new session for a fresh sign-in."""
    created = deps.clock.now()
    record = SessionRecord(
        sub=key.sub,
        session_hash=key.session_hash,
        user=claims.snapshot(user),
        tokens=seal_tokens(deps, key, tokens, generation=1),
        created_at=created,
        expires_at=created + deps.settings.session_ttl_seconds,
        version=1,
        generation=1,
    )
    deps.store.put_session(record)
    return record


def end(deps: Deps, key: SessionKey, reason: EndReason) -> None:
    """Delete one session (idempotent), logged and counted with ``reason``."""
    deps.store.delete_session(key.sub, key.session_hash)
    _ended(key.sub, reason, 1)


def end_all(deps: Deps, sub: str, reason: EndReason) -> int:
    """Delete every session of ``sub``; returns how many there were."""
    ended = deps.store.delete_user_sessions(sub)
    _ended(sub, reason, ended)
    return ended


def _ended(sub: str, reason: EndReason, count: int) -> None:
    logger.info("session ended", extra={"sub": sub, "reason": reason, "sessions_ended": count})
    if count:  # its own EMF line: the reason is a dimension of this metric only
        with single_metric(
            name="SessionsEnded",
            unit=MetricUnit.Count,
            value=count,
            namespace=metrics.namespace,
            default_dimensions={"reason": reason},
        ):
            pass


# --- the session's tokens, sealed ------------------------------------------------------------------


def _binding(key: SessionKey, generation: int) -> str:
    """The AEAD associated data's owner part: the user, the session and the tokens' generation
    (0: an item written before generations existed)."""
    owner = f"{key.sub}\x1f{key.session_hash}"
    return owner if generation == 0 else f"{owner}\x1fgen={generation}"


def seal_tokens(
    deps: Deps,
    key: SessionKey,
    tokens: TokenSet,
    previous_refresh_token: str = "",
    *,
    generation: int,
    data_key: DataKey | None = None,
) -> SealedTokens:
    """Encrypt a token response for this session's ``generation`` (zero KMS calls while a data
    key is cached; ``data_key`` pins the key obtained before HitKey rotated)."""
    from hitkey_bff.crypto import seal  # cryptography: only for the routes that hold tokens

    refresh_token = tokens.refresh_token or previous_refresh_token
    fields = {"rt": refresh_token, "at": tokens.access_token}
    blob, sealed = seal(deps.keyring, key.secret, _binding(key, generation), fields, data_key)
    return SealedTokens(blob, sealed["rt"], sealed["at"], deps.clock.now() + tokens.expires_in, tokens.scope)


def _open(deps: Deps, session: Session, name: str, ciphertext: bytes) -> str:
    from hitkey_bff.crypto import DecryptionFailed, unseal

    key, record = session
    try:
        return unseal(
            deps.keyring, key.secret, _binding(key, record.generation), record.tokens.data_key, name, ciphertext
        )
    except DecryptionFailed:
        logger.warning("stored token did not decrypt", extra={"security_event": "token_decrypt_failed"})
        raise signed_out("the session could not be read; sign in again") from None


def access_token(deps: Deps, session: Session) -> str:
    """The session's access token, decrypted."""
    return _open(deps, session, "at", session.record.tokens.access_token)


def refresh_token(deps: Deps, session: Session) -> str:
    """The session's refresh token, decrypted."""
    return _open(deps, session, "rt", session.record.tokens.refresh_token)
