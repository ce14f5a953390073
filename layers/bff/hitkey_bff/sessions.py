"""The session lifecycle - load, require, create, end, end all of a user, list.

Nothing here knows HTTP: a session is found from the cookie's value (or a :class:`SessionKey`),
and a missing one is :class:`~hitkey_bff.errors.Unauthenticated`, which the route wrapper answers
with a 401 that deletes the cookie. Every ended session is logged and counted with its reason.
The tokens are sealed and opened by :mod:`hitkey_bff.vault`, refreshed by :mod:`hitkey_bff.refresh`.
"""

from __future__ import annotations

import hmac
import secrets
import string
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from hitkey_bff import claims
from hitkey_bff.cookies import SessionKey, b64url
from hitkey_bff.errors import Unauthenticated
from hitkey_bff.observability import logger, metrics
from hitkey_bff.store import SessionRecord
from hitkey_bff.vault import Sealer

if TYPE_CHECKING:
    from hitkey_bff.deps import Deps
    from hitkey_bff.hitkey import TokenSet

SESSION_ID_BYTES = 16
SESSION_ID_LENGTH = 22
_B64URL = frozenset(string.ascii_letters + string.digits + "-_")

EndReason = str
"""Why a session ended: ``logout``, ``logout_everywhere``, ``revoked`` (an operator), ``idle``,
``expired``, ``relogin`` (signed in again in the same browser), ``cap`` (too many sessions),
``reuse`` (HitKey refused its refresh token), ``refresh_outcome_lost`` (refused after a refresh
whose outcome was unknown)."""


class Session(NamedTuple):
    """A live session: the cookie's key and the stored record."""

    key: SessionKey
    record: SessionRecord


def signed_out(message: str = "sign in first") -> Unauthenticated:
    """The error for "no (longer a) session": a 401 that deletes the session cookie."""
    return Unauthenticated(message)


def load(deps: Deps, cookie: str | SessionKey | None, *, activity: bool = True) -> Session | None:
    """The session of a cookie value: one GetItem, no KMS. ``None`` if absent, tampered, past its
    absolute lifetime or idle too long (then the item is deleted: TTL deletes late). With
    ``activity`` the last-seen time moves on, written at most once per :func:`touch_interval`."""
    key = cookie if isinstance(cookie, SessionKey) else SessionKey.decode(cookie)
    if key is None:
        return None
    record = deps.store.read_session(key.sub, key.session_hash)
    if record is None:
        return None
    now = deps.clock.now()
    dead = why_dead(deps, record, now)
    if dead:
        end(deps, key, dead)
        return None
    if activity and now - record.last_seen_at >= touch_interval(deps):
        idle_at, now_ms = now + deps.settings.session_idle_timeout_seconds, deps.clock.now_ms()
        if deps.store.touch_session(record, now, idle_at, stale_before=now - touch_interval(deps) + 1, now_ms=now_ms):
            record = replace(record, last_seen_at=now, idle_expires_at=idle_at, last_seen_ms=now_ms)
    return Session(key, record)


def touch_interval(deps: Deps) -> int:
    """Seconds between two last-seen writes of one session: idle/24, at least a minute."""
    return max(60, deps.settings.session_idle_timeout_seconds // 24)


def idle_deadline(deps: Deps, record: SessionRecord) -> int:
    """When ``record`` ends if unused: last seen + the idle timeout configured now."""
    return record.last_seen_at + deps.settings.session_idle_timeout_seconds


def why_dead(deps: Deps, record: SessionRecord, now: int) -> EndReason:
    """``"expired"``, ``"idle"`` or ``""`` for a live session."""
    if record.expires_at <= now:
        return "expired"
    if idle_deadline(deps, record) <= now:
        return "idle"
    return ""


def require(deps: Deps, cookie: str | SessionKey | None) -> Session:
    """Like :func:`load`, but a missing session raises :func:`signed_out`."""
    found = load(deps, cookie)
    if found is None:
        raise signed_out()
    return found


def create(
    deps: Deps,
    key: SessionKey,
    tokens: TokenSet,
    user: dict[str, Any],
    *,
    device: str = "",
    previous: Iterable[tuple[str, str]] = (),
) -> SessionRecord:
    """Write a new session for a fresh sign-in; once it is stored, end the browser's ``previous``
    sessions (``(sub, session_hash)`` pairs, whatever their user: ``relogin``) and the user's least
    recently used ones past the cap (``cap``)."""
    created, created_ms = deps.clock.now(), deps.clock.now_ms()
    record = SessionRecord(
        sub=key.sub,
        session_hash=key.session_hash,
        user=claims.snapshot(user),
        tokens=Sealer(deps.keyring, key).seal(tokens, generation=1, now=created),
        created_at=created,
        expires_at=created + deps.settings.session_ttl_seconds,
        version=1,
        session_id=b64url(secrets.token_bytes(SESSION_ID_BYTES)),
        device=device,
        last_seen_at=created,
        idle_expires_at=created + deps.settings.session_idle_timeout_seconds,
        generation=1,
        created_ms=created_ms,
        last_seen_ms=created_ms,
    )
    deps.store.put_session(record)
    for sub, session_hash in set(previous):
        if (sub, session_hash) != (key.sub, key.session_hash):
            _end_stored(deps, sub, session_hash, "relogin")
    _enforce_cap(deps, record)
    return record


def end(deps: Deps, key: SessionKey, reason: EndReason) -> None:
    """Delete one session (idempotent), logged and counted with ``reason`` if it existed."""
    _end_stored(deps, key.sub, key.session_hash, reason)


def _end_stored(deps: Deps, sub: str, session_hash: str, reason: EndReason) -> None:
    existed = deps.store.delete_session(sub, session_hash)
    _ended(sub, reason, 1 if existed else 0)


# --- a user's sessions, listed and ended by their public id ----------------------------------


def live_sessions(deps: Deps, sub: str) -> list[SessionRecord]:
    """``sub``'s live sessions, most recent activity first (dead ones are deleted on the way)."""
    now, live = deps.clock.now(), []
    for record in deps.store.list_user_sessions(sub):
        dead = why_dead(deps, record, now)
        if dead:
            _end_record(deps, record, dead)
        else:
            live.append(record)
    return sorted(live, key=recency, reverse=True)


def recency(record: SessionRecord) -> tuple[int, int, str, str]:
    """The order of a user's sessions (the cap ends the lowest), which cannot tie: last seen and
    created in milliseconds, then the public id and the sort key (unique within the user)."""
    return (record.last_seen_ms, record.created_ms, record.session_id, record.session_hash)


def end_by_id(deps: Deps, sub: str, session_id: str, reason: EndReason) -> SessionRecord | None:
    """End ``sub``'s session whose public id is ``session_id``; ``None`` if it has none such."""
    if not valid_session_id(session_id):
        return None
    for record in deps.store.list_user_sessions(sub):
        if record.session_id and hmac.compare_digest(record.session_id, session_id):
            _end_record(deps, record, reason)
            return record
    return None


def end_others(deps: Deps, sub: str, keep: str, reason: EndReason) -> int:
    """End every session of ``sub`` but the one whose hash is ``keep``; how many ended."""
    ended = 0
    for record in deps.store.list_user_sessions(sub):
        if record.session_hash != keep and deps.store.delete_session(sub, record.session_hash):
            ended += 1
    _ended(sub, reason, ended)
    return ended


def valid_session_id(value: str) -> bool:
    """A public id's shape: 22 base64url characters (16 random bytes)."""
    return len(value) == SESSION_ID_LENGTH and all(ch in _B64URL for ch in value)


def _end_record(deps: Deps, record: SessionRecord, reason: EndReason) -> None:
    _end_stored(deps, record.sub, record.session_hash, reason)


def _enforce_cap(deps: Deps, new: SessionRecord) -> None:
    cap = deps.settings.max_sessions_per_user
    others = [r for r in live_sessions(deps, new.sub) if r.session_hash != new.session_hash]
    for record in others[max(0, cap - 1) :]:  # the least recently used, beyond the new one
        _end_record(deps, record, "cap")


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
