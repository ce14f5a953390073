"""Refresh, single-flight across Lambdas.

HitKey rotates refresh tokens and revokes the whole family when an old one is reused, so two
Lambdas refreshing one session at once would sign the user out. The first takes a lease on the
session's ``version`` with a conditional write; the others wait, re-reading the item until the
version moves, and then use the winner's tokens. The lease outlives any live holder (it is longer
than the function's timeout), and a holder that died is taken over once its lease has passed. The
winner writes the rotated tokens with a version check, retrying transient failures: the new
refresh token exists nowhere else.

Time (docs/security.md, "Refresh timing"): the holder sends the refresh token only when its lease
and its Lambda both leave room for HitKey's whole budget plus the commit; HitKey's answer has an
overall deadline (not per read). A HitKey that does not answer within the budget may still have
rotated: the session is marked "outcome unknown", and a later ``invalid_grant`` ends it as
``refresh_outcome_lost`` - not as token reuse.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING

from hitkey_bff import invocation, sessions
from hitkey_bff.errors import InvalidGrant, ServiceUnavailable, UpstreamTimeout
from hitkey_bff.observability import logger, metrics
from hitkey_bff.sessions import Session
from hitkey_bff.store import SessionGone, SessionRecord

if TYPE_CHECKING:
    from hitkey_bff.deps import Deps

FUNCTION_TIMEOUT = 60  # template.yaml's Timeout of the functions that refresh (tests/template check it)
LEASE_SECONDS = FUNCTION_TIMEOUT + 10  # no live holder outlives it: a Lambda ends at its timeout
COMMIT_SECONDS = 10  # store.commit_tokens' 6 s retry budget + one DynamoDB call (3 x (1 s + 3 s) bounded by it)
LAMBDA_MARGIN = 1.0  # to answer and flush logs after the commit
WAIT_SECONDS = 25  # a waiter answers (503 refresh_in_progress, retryable) before API Gateway's 30 s
_POLL_FIRST, _POLL_MAX = 0.05, 0.4


def refresh(deps: Deps, session: Session) -> Session:
    """The session with tokens newer than ``session``'s: refreshed here, or by whoever was first."""
    key, record = session
    owner = uuid.uuid4().hex
    deadline = deps.clock.monotonic() + WAIT_SECONDS
    current = record
    while True:
        now = deps.clock.now()
        until = now + LEASE_SECONDS
        acquired, seen = deps.store.try_lease(current, owner, now, until)
        if acquired:
            return Session(key, _rotate(deps, Session(key, current), owner, until))
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


def _room_to_finish(deps: Deps, lease_until: int) -> None:
    """Raise a retryable 503 unless HitKey's whole budget and the commit fit in both what is left
    of our lease and of this Lambda: otherwise a waiter could take over (and send the same refresh
    token) while ours is still at HitKey, or the Lambda could end before it stores the new tokens."""
    need = deps.settings.refresh_budget_seconds + COMMIT_SECONDS
    lease_left = lease_until - deps.clock.now()
    lambda_left = invocation.remaining_seconds()
    if lease_left < need or (lambda_left is not None and lambda_left < need + LAMBDA_MARGIN):
        metrics.add_metric(name="RefreshDeferred", unit="Count", value=1)
        raise ServiceUnavailable("the session could not be refreshed in time, try again", code="refresh_retry")


def _rotate(deps: Deps, session: Session, owner: str, lease_until: int) -> SessionRecord:
    """Refresh at HitKey under our lease. Everything that can fail without harm (decrypting the
    old token, the client secret, the data key for sealing) happens before HitKey rotates, and the
    data key obtained then is the one the new tokens are sealed with."""
    key, record = session
    store = deps.store
    try:
        old_refresh = sessions.refresh_token(deps, session)
        secret = deps.client_secret()
        data_key = deps.keyring.for_sealing()  # pinned: no KMS call after HitKey has rotated
        _room_to_finish(deps, lease_until)
        tokens = deps.hitkey.refresh(old_refresh, secret, seconds=deps.settings.refresh_budget_seconds)
    except InvalidGrant:
        if record.refresh_unknown_since:
            _end_lost_session(deps, session)
        else:
            _end_rejected_session(deps, session)
        raise sessions.signed_out("HitKey ended this session; sign in again") from None
    except UpstreamTimeout:
        # HitKey may have rotated: keep the old token (it may still be good), but remember that a
        # refusal of it may be our own lost rotation rather than reuse by a thief.
        with contextlib.suppress(Exception):
            store.mark_refresh_unknown(record, owner, deps.clock.now())
        logger.warning("refresh timed out at HitKey; its outcome is unknown")
        raise
    except BaseException:
        store.release_lease(record, owner)
        raise
    try:
        sealed = sessions.seal_tokens(
            deps, key, tokens, old_refresh, generation=record.generation + 1, data_key=data_key
        )
        updated = store.commit_tokens(record, owner, sealed, refreshed_at=deps.clock.now())
    except SessionGone:  # ended from another device (or signed out) while HitKey rotated
        logger.info("the session ended while it was being refreshed; the rotated tokens are dropped")
        raise sessions.signed_out("the session ended while it was being refreshed") from None
    except BaseException:
        with contextlib.suppress(Exception):  # let the next request take over without waiting
            store.release_lease(record, owner)
        logger.error("rotated tokens could not be stored; the session will end at its next refresh")
        raise
    metrics.add_metric(name="Refreshes", unit="Count", value=1)
    return updated


def _end_lost_session(deps: Deps, session: Session) -> None:
    """HitKey refused a refresh token after a refresh of it timed out: most likely HitKey rotated
    and its answer was lost. The session cannot continue, but this is no theft: one session
    ends, no security event, ``END_ALL_SESSIONS_ON_REUSE`` does not apply."""
    sessions.end(deps, session.key, "refresh_outcome_lost")
    logger.warning("refresh token refused after a refresh with unknown outcome; session ended")
    metrics.add_metric(name="RefreshOutcomeLost", unit="Count", value=1)


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
