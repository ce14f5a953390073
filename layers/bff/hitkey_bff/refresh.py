"""The session's tokens, kept fresh: the hub of a refresh.

:func:`call_with_fresh_token` calls an API with the session's access token, refreshing first when
the stored token has expired (or will within :data:`ACCESS_TOKEN_SKEW` seconds), and once more
when the upstream refuses the token - never twice, and not at all when the session's tokens were
rotated less than :data:`~hitkey_bff.budgets.REFRESH_COOLDOWN_SECONDS` ago: an API that refuses
every token then costs one rotation per session per cooldown, not one per call. ``call`` gets
the access token and returns its result; ``refused`` says whether that result is the upstream
refusing the token. A refused result is discarded and the call made again with the new token;
the last result is returned, refused or not, for the caller to answer with::

    session, response = call_with_fresh_token(
        deps, session, lambda token: http.send(build(request, token)), refused=lambda r: r.status_code == 401
    )

:func:`refresh` is single-flight across Lambdas. HitKey rotates refresh tokens and revokes the
whole family when an old one is reused, so two Lambdas refreshing one session at once would sign
the user out. The first takes a lease on the session's ``version`` with a conditional write; the
others wait, re-reading the item until the version moves, and then use the winner's tokens. The
lease outlives any live holder (it is longer than the function's timeout), and a holder that died
is taken over once its lease has passed. The winner writes the rotated tokens with a version
check, retrying transient failures (:func:`commit`): the new refresh token exists nowhere else.

Time (docs/security.md, "Refresh timing"): the holder sends the refresh token only when its lease
and its Lambda both leave room for HitKey's whole budget plus the commit; HitKey's answer has an
overall deadline (not per read). A HitKey that does not answer within the budget may still have
rotated: the session is marked "outcome unknown", and a later ``invalid_grant`` ends it as
``refresh_outcome_lost`` - not as token reuse.

A refresh is a hub: it asks the store, the vault, the client secret, HitKey and the budgets, and
each answers back; none of them calls another.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from botocore.exceptions import ClientError

from hitkey_bff import invocation, sessions, vault
from hitkey_bff.budgets import (
    COMMIT_RETRY_SECONDS,
    COMMIT_SECONDS,
    LAMBDA_MARGIN_SECONDS,
    LEASE_SECONDS,
    REFRESH_COOLDOWN_SECONDS,
    WAIT_SECONDS,
)
from hitkey_bff.errors import InvalidGrant, ServiceUnavailable, UpstreamTimeout
from hitkey_bff.observability import logger, metrics
from hitkey_bff.sessions import Session
from hitkey_bff.store import SessionGone, SessionRecord

if TYPE_CHECKING:
    from hitkey_bff.deps import Deps
    from hitkey_bff.store import Store
    from hitkey_bff.vault import SealedTokens

T = TypeVar("T")
ACCESS_TOKEN_SKEW = 60  # a token that expires within a minute is refreshed first

# The numbers and their arithmetic are in hitkey_bff.budgets: the lease outlives the Lambda (no
# live holder loses it); a waiter answers 504 refresh_in_progress (retryable) before API Gateway's
# integration timeout.
_POLL_FIRST, _POLL_MAX = 0.05, 0.4
_RETRYABLE = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
}


# --- calling with a fresh token ------------------------------------------------------------------


def fresh(deps: Deps, session: Session) -> bool:
    """Whether the stored access token is good for at least :data:`ACCESS_TOKEN_SKEW` seconds."""
    return session.record.tokens.access_expires_at > deps.clock.now() + ACCESS_TOKEN_SKEW


def cooling_down(deps: Deps, session: Session) -> bool:
    """Whether a refresh committed this session's tokens less than
    :data:`REFRESH_COOLDOWN_SECONDS` ago (the record's ``refreshed_at``; sign-in does not count)."""
    refreshed_at = session.record.refreshed_at
    return refreshed_at > 0 and deps.clock.now() - refreshed_at < REFRESH_COOLDOWN_SECONDS


def call_with_fresh_token(
    deps: Deps, session: Session, call: Callable[[str], T], *, refused: Callable[[T], bool]
) -> tuple[Session, T]:
    """``call(access_token)``'s last result and the session as it is after any refresh.

    A refused result is returned as it is when the token was refreshed in this request or within
    the cooldown (the caller answers with it: the proxy passes the upstream's own 401 through,
    userinfo answers 502; the session is not ended); else the token is refreshed once and the
    call made once more.
    """
    refreshed = not fresh(deps, session)
    if refreshed:
        session = refresh(deps, session)
    result = call(vault.access_token(deps, session))
    if refreshed or not refused(result):
        return session, result
    if cooling_down(deps, session):
        metrics.add_metric(name="RefreshSuppressed", unit="Count", value=1)
        logger.info("access token refused within the refresh cooldown; no refresh")
        return session, result
    # Through the single-flight lease: a session another request rotated since ours was read is
    # joined (its tokens used), not rotated again.
    session = refresh(deps, session)
    return session, call(vault.access_token(deps, session))


# --- refreshing, single-flight -------------------------------------------------------------------


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
    if lease_left < need or (lambda_left is not None and lambda_left < need + LAMBDA_MARGIN_SECONDS):
        metrics.add_metric(name="RefreshDeferred", unit="Count", value=1)
        raise ServiceUnavailable("the session could not be refreshed in time, try again", code="refresh_retry")


def _rotate(deps: Deps, session: Session, owner: str, lease_until: int) -> SessionRecord:
    """Refresh at HitKey under our lease. Everything that can fail without harm (decrypting the
    old token, the client secret, the data key for sealing) happens before HitKey rotates, and the
    sealer made then (its data key pinned) seals the new tokens."""
    key, record = session
    store = deps.store
    try:
        old_refresh = vault.refresh_token(deps, session)
        secret = deps.client_secret()
        sealer = vault.Sealer(deps.keyring, key)  # pinned: no KMS call after HitKey has rotated
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
        now = deps.clock.now()
        sealed = sealer.seal(tokens, generation=record.generation + 1, now=now, previous_refresh_token=old_refresh)
        updated = commit(store, record, owner, sealed, refreshed_at=now, sleep=deps.clock.sleep)
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


def commit(
    store: Store,
    record: SessionRecord,
    owner: str,
    tokens: SealedTokens,
    *,
    refreshed_at: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = 5,
    budget: float = COMMIT_RETRY_SECONDS,
    base_delay: float = 0.1,
) -> SessionRecord:
    """``store.commit_tokens``, retried. The refresh token HitKey just rotated exists nowhere else,
    so transient failures are retried (beyond botocore's own retries) for up to ``budget``
    seconds - bounded so that the whole request stays inside the Lambda's timeout."""
    deadline = time.monotonic() + budget
    for attempt in range(attempts):
        try:
            return store.commit_tokens(record, owner, tokens, refreshed_at=refreshed_at)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            delay = base_delay * 2**attempt
            if code not in _RETRYABLE or attempt == attempts - 1 or time.monotonic() + delay > deadline:
                raise
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


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
