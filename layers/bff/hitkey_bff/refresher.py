"""Refresh, single-flight across Lambdas.

HitKey rotates refresh tokens and revokes the whole family when an old one is reused, so two
Lambdas refreshing one session at once would sign the user out. The first takes a lease on the
session's ``version`` with a conditional write; the others wait, re-reading the item until the
version moves, and then use the winner's tokens. A lease outlives HitKey's timeout budget, and a
holder that died is taken over once its lease has passed. The winner writes the rotated tokens
with a version check, retrying transient failures: the new refresh token exists nowhere else.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING

from hitkey_bff import sessions
from hitkey_bff.errors import InvalidGrant, UpstreamTimeout
from hitkey_bff.observability import logger, metrics
from hitkey_bff.sessions import Session
from hitkey_bff.store import SessionRecord

if TYPE_CHECKING:
    from hitkey_bff.deps import Deps

LEASE_SECONDS = 20  # > HitKey's worst case (connect 3 s + read 7 s) with room to spare
WAIT_SECONDS = LEASE_SECONDS + 3
_POLL_FIRST, _POLL_MAX = 0.05, 0.4


def refresh(deps: Deps, session: Session) -> Session:
    """The session with tokens newer than ``session``'s: refreshed here, or by whoever was first."""
    key, record = session
    owner = uuid.uuid4().hex
    deadline = deps.clock.monotonic() + WAIT_SECONDS
    current = record
    while True:
        now = deps.clock.now()
        acquired, seen = deps.store.try_lease(current, owner, now, now + LEASE_SECONDS)
        if acquired:
            return Session(key, _rotate(deps, Session(key, current), owner))
        newer = _wait_for_winner(deps, session, seen, deadline)
        if newer.version > record.version:
            metrics.add_metric(name="RefreshJoined", unit="Count", value=1)
            return Session(key, newer)
        current = newer  # the lease lapsed with no new version: take it over


def _wait_for_winner(deps: Deps, session: Session, seen: SessionRecord | None, deadline: float) -> SessionRecord:
    key, record = session
    delay = _POLL_FIRST
    while True:
        if seen is None:
            raise sessions.signed_out("the session ended while it was being refreshed")
        if seen.version > record.version or seen.lease_until < deps.clock.now():
            return seen
        if deps.clock.monotonic() > deadline:
            raise UpstreamTimeout("another request's refresh did not finish", code="refresh_in_progress")
        deps.clock.sleep(delay)
        delay = min(delay * 2, _POLL_MAX)
        seen = deps.store.get_session(key.sub, key.session_hash, deps.clock.now())


def _rotate(deps: Deps, session: Session, owner: str) -> SessionRecord:
    """Refresh at HitKey under our lease. Everything that can fail without harm (decrypting the
    old token, the client secret, a data key for sealing) happens before HitKey rotates."""
    key, record = session
    store = deps.store
    try:
        old_refresh = sessions.refresh_token(deps, session)
        secret = deps.client_secret()
        deps.keyring.for_sealing()  # a KMS failure after rotation would lose the new token
        tokens = deps.hitkey.refresh(old_refresh, secret)
    except InvalidGrant:
        _end_rejected_session(deps, session)
        raise sessions.signed_out("HitKey ended this session; sign in again") from None
    except BaseException:
        store.release_lease(record, owner)
        raise
    try:
        updated = store.commit_tokens(record, owner, sessions.seal_tokens(deps, key, tokens, old_refresh))
    except BaseException:
        with contextlib.suppress(Exception):  # let the next request take over without waiting
            store.release_lease(record, owner)
        logger.error("rotated tokens could not be stored; the session will end at its next refresh")
        raise
    metrics.add_metric(name="Refreshes", unit="Count", value=1)
    return updated


def _end_rejected_session(deps: Deps, session: Session) -> None:
    """HitKey refused a refresh token we hold as current: revoked, expired - or reused by
    someone who stole it. End the session (and, if configured, every session of the user)."""
    key = session.key
    sessions.end(deps, key, "reuse")
    ended = 1
    if deps.settings.end_all_sessions_on_reuse:
        ended += sessions.end_all(deps, key.sub, "reuse")
    logger.warning(
        "refresh token rejected by HitKey; session ended",
        extra={"security_event": "refresh_token_rejected", "sub": key.sub, "sessions_ended": ended},
    )
    metrics.add_metric(name="RefreshTokenRejected", unit="Count", value=1)
