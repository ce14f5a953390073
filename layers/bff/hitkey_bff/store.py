"""DynamoDB access: login states and sessions in one table (``pk``/``sk``, TTL attribute ``ttl``).

* Login state - ``pk=LOGIN#<sha256(state)>``, ``sk=LOGIN``: PKCE verifier, ``return_to``, the
  hash of the browser-binding cookie, and the browser's session when the login began (its sub and
  sort-key hash, never the cookie's secret); consumed exactly once by a conditional delete.
* Session - ``pk=USER#<sub>``, ``sk=SESSION#<sha256(cookie secret)>``: sealed tokens, the data
  key blob, display claims, expiries, a ``version`` for optimistic concurrency and an optional
  refresh lease (``lease_owner``, ``lease_until``). All of a user's sessions are one Query away.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from hitkey_bff.records import Item, LoginState, SessionRecord, session_key, token_attrs

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from hitkey_bff.vault import SealedTokens

__all__ = ["LoginState", "SessionGone", "SessionRecord", "Store"]


class SessionGone(Exception):
    """The session item was deleted (signed out, ended from another device) during a write."""


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class Store:
    """The table, through a low-level DynamoDB client (cheaper to import than the resource API)."""

    def __init__(self, client: Callable[[], DynamoDBClient], table: str):
        self._client, self._table = client, table

    # --- login states -------------------------------------------------------------------------
    def put_login_state(self, state_hash: str, binding_hash: str, state: LoginState, expires_at: int) -> None:
        """Remember a login for at most ``expires_at``."""
        self._client().put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"LOGIN#{state_hash}"},
                "sk": {"S": "LOGIN"},
                "binding_hash": {"S": binding_hash},
                "verifier": {"S": state.verifier},
                "return_to": {"S": state.return_to},
                "ttl": {"N": str(expires_at)},
                **(
                    {"prev_sub": {"S": state.previous_sub}, "prev_session": {"S": state.previous_session}}
                    if state.previous_sub and state.previous_session
                    else {}
                ),
            },
        )

    def consume_login_state(self, state_hash: str, binding_hash: str, now: int) -> LoginState | None:
        """Delete and return the login iff it exists, is unexpired and belongs to this browser."""
        try:
            out = self._client().delete_item(
                TableName=self._table,
                Key={"pk": {"S": f"LOGIN#{state_hash}"}, "sk": {"S": "LOGIN"}},
                ConditionExpression="binding_hash = :b AND #ttl > :now",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":b": {"S": binding_hash}, ":now": {"N": str(now)}},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise
        item = out.get("Attributes", {})
        return LoginState.from_item(item)

    # --- sessions -----------------------------------------------------------------------------
    def put_session(self, record: SessionRecord) -> None:
        """Write a brand-new session."""
        self._client().put_item(
            TableName=self._table,
            Item=record.to_item(),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get_session(self, sub: str, session_hash: str, now: int, *, consistent: bool = True) -> SessionRecord | None:
        """The session, or ``None`` if missing or past its absolute expiry (TTL deletes lazily).

        Strongly consistent by default: an eventually consistent read right after sign-in or
        sign-out could show the browser the opposite state (it costs 1 read unit instead of 0.5).
        """
        out = self._client().get_item(
            TableName=self._table, Key=session_key(sub, session_hash), ConsistentRead=consistent
        )
        item = out.get("Item")
        if not item:
            return None
        record = SessionRecord.from_item(item)
        return record if record.expires_at > now else None

    def try_lease(self, record: SessionRecord, owner: str, now: int, until: int) -> tuple[bool, SessionRecord | None]:
        """Take the refresh lease on ``record``'s version. Returns ``(True, None)`` when taken,
        else ``(False, current)`` with the item as it is now (``None`` if it is gone)."""
        try:
            self._client().update_item(
                TableName=self._table,
                Key=session_key(record.sub, record.session_hash),
                UpdateExpression="SET lease_owner = :o, lease_until = :u",
                ConditionExpression=(
                    "attribute_exists(pk) AND #ver = :v AND (attribute_not_exists(lease_until) OR lease_until < :now)"
                ),
                ExpressionAttributeNames={"#ver": "version"},
                ExpressionAttributeValues={
                    ":o": {"S": owner},
                    ":u": {"N": str(until)},
                    ":v": {"N": str(record.version)},
                    ":now": {"N": str(now)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            item: Item | None = exc.response.get("Item")  # type: ignore[assignment]
            if item is None:
                return False, self.get_session(record.sub, record.session_hash, now)
            current = SessionRecord.from_item(item)
            return False, current if current.expires_at > now else None
        return True, None

    def commit_tokens(
        self, record: SessionRecord, owner: str, tokens: SealedTokens, *, refreshed_at: int | None = None
    ) -> SessionRecord:
        """Store rotated tokens under our lease (version + 1, ``refreshed_at`` - now by default -,
        lease released):
        one conditional write. :class:`SessionGone` if the session was deleted meanwhile; a
        conditional failure whose write did land (a retry after a lost answer) returns the stored
        session; any other failure is raised for the caller to retry (``hitkey_bff.refresh``)."""
        try:
            out = self._client().update_item(
                TableName=self._table,
                Key=session_key(record.sub, record.session_hash),
                UpdateExpression=(
                    "SET dk = :dk, rt = :rt, #at = :at, at_exp = :at_exp, #scope = :scope, "
                    "#ver = #ver + :one, gen = :gen, refreshed_at = :now "
                    "REMOVE lease_owner, lease_until, refresh_unknown_since"
                ),
                ConditionExpression="#ver = :v AND lease_owner = :o",
                ExpressionAttributeNames={"#at": "at", "#scope": "scope", "#ver": "version"},
                ExpressionAttributeValues={
                    **token_attrs(tokens),
                    ":one": {"N": "1"},
                    ":gen": {"N": str(record.generation + 1)},
                    ":now": {"N": str(int(time.time()) if refreshed_at is None else refreshed_at)},
                    ":v": {"N": str(record.version)},
                    ":o": {"S": owner},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            landed = self.get_session(record.sub, record.session_hash, 0)
            if landed is None:
                raise SessionGone from None
            if landed.version == record.version + 1 and landed.tokens.refresh_token == tokens.refresh_token:
                return landed
            raise
        return SessionRecord.from_item(out["Attributes"])

    def mark_refresh_unknown(self, record: SessionRecord, owner: str, now: int) -> None:
        """Remember that a refresh under our lease timed out at HitKey (it may have rotated) and
        give the lease back; a no-op when the lease is no longer ours."""
        try:
            self._client().update_item(
                TableName=self._table,
                Key=session_key(record.sub, record.session_hash),
                UpdateExpression="SET refresh_unknown_since = :now REMOVE lease_owner, lease_until",
                ConditionExpression="#ver = :v AND lease_owner = :o",
                ExpressionAttributeNames={"#ver": "version"},
                ExpressionAttributeValues={
                    ":now": {"N": str(now)},
                    ":v": {"N": str(record.version)},
                    ":o": {"S": owner},
                },
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def release_lease(self, record: SessionRecord, owner: str) -> None:
        """Give the lease back after a failed refresh (no-op if it is no longer ours)."""
        try:
            self._client().update_item(
                TableName=self._table,
                Key=session_key(record.sub, record.session_hash),
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :o",
                ExpressionAttributeValues={":o": {"S": owner}},
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def delete_session(self, sub: str, session_hash: str) -> bool:
        """Delete one session; idempotent. ``True`` if it existed."""
        out = self._client().delete_item(
            TableName=self._table, Key=session_key(sub, session_hash), ReturnValues="ALL_OLD"
        )
        return bool(out.get("Attributes"))

    # --- last seen, listing a user's sessions --------------------------------------------------
    def read_session(self, sub: str, session_hash: str) -> SessionRecord | None:
        """The stored session whatever its deadlines (the caller enforces them), or ``None``."""
        out = self._client().get_item(TableName=self._table, Key=session_key(sub, session_hash), ConsistentRead=True)
        item = out.get("Item")
        return SessionRecord.from_item(item) if item else None

    def touch_session(
        self, record: SessionRecord, now: int, idle_expires_at: int, stale_before: int, now_ms: int = 0
    ) -> bool:
        """Record activity: one conditional UpdateItem that only an existing session whose
        last-seen time is older than ``stale_before`` passes (concurrent requests write once, a
        deleted session is never recreated, ``version`` is left alone for the refresh's commit).
        The TTL follows the earlier deadline. ``True`` if written."""
        try:
            self._client().update_item(
                TableName=self._table,
                Key=session_key(record.sub, record.session_hash),
                UpdateExpression="SET last_seen_at = :now, seen_ms = :ms, idle_exp = :ie, #ttl = :ttl",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(last_seen_at) OR last_seen_at < :stale)"
                ),
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":now": {"N": str(now)},
                    ":ms": {"N": str(now_ms or now * 1000)},
                    ":ie": {"N": str(idle_expires_at)},
                    ":ttl": {"N": str(min(idle_expires_at, record.expires_at))},
                    ":stale": {"N": str(stale_before)},
                },
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def list_user_sessions(self, sub: str) -> list[SessionRecord]:
        """Every stored session of ``sub`` (deadlines not applied), without their tokens."""
        client, found = self._client(), list[SessionRecord]()
        pages = client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
            ExpressionAttributeValues={":pk": {"S": f"USER#{sub}"}, ":s": {"S": "SESSION#"}},
            ProjectionExpression=(
                "pk, sk, #sub, sid, device, created_at, expires_at, last_seen_at, idle_exp, version, "
                "created_ms, seen_ms"
            ),
            ExpressionAttributeNames={"#sub": "sub"},
        )
        for page in pages:
            found.extend(SessionRecord.from_item(item) for item in page.get("Items", []))
        return found

    def delete_user_sessions(self, sub: str) -> int:
        """Delete every session of ``sub`` ("sign out everywhere"); returns how many."""
        client, deleted = self._client(), 0
        paginator = client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
            ExpressionAttributeValues={":pk": {"S": f"USER#{sub}"}, ":s": {"S": "SESSION#"}},
            ProjectionExpression="pk, sk",
        )
        for page in pages:
            for item in page.get("Items", []):
                client.delete_item(TableName=self._table, Key={"pk": item["pk"], "sk": item["sk"]})
                deleted += 1
        return deleted
