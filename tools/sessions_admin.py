"""``python -m tools.cli sessions list|end``: an operator's view of one user's sessions.

Reads the deployed table (``--table`` or ``$SESSION_TABLE``; moto or DynamoDB Local with
``AWS_ENDPOINT_URL``). Prints public ids, devices and times - never a token, a data key or a
cookie secret (the table holds none of the latter, and the listing projects no token attribute).
Ending prints one JSON line per session ended, reason ``revoked`` (ASVS 7.4.2, 7.4.5).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import boto3

from hitkey_bff.sessions import recency
from hitkey_bff.store import SessionRecord, Store

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def store_for(table: str) -> Store:
    """The layer's own :class:`Store` on a plain boto3 client."""
    client: DynamoDBClient = boto3.client("dynamodb")
    return Store(lambda: client, table)


def _when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if epoch else "-"


def _row(record: SessionRecord) -> dict[str, str | int]:
    return {
        "id": record.session_id or "-",
        "device": record.device or "Unknown device",
        "created_at": _when(record.created_at),
        "last_seen_at": _when(record.last_seen_at),
        "expires_at": _when(record.expires_at),
    }


def list_sessions(store: Store, sub: str) -> list[dict[str, str | int]]:
    """``sub``'s stored sessions, most recent activity first, as printable rows."""
    records = sorted(store.list_user_sessions(sub), key=recency, reverse=True)
    return [_row(r) for r in records]


def end_sessions(store: Store, sub: str, session_id: str | None) -> list[str]:
    """End one session of ``sub`` by public id, or all of them; the ids ended."""
    ended = []
    for record in store.list_user_sessions(sub):
        if session_id is not None and record.session_id != session_id:
            continue
        if store.delete_session(sub, record.session_hash):
            ended.append(record.session_id or "-")
            line = {"message": "session ended", "sub": sub, "id": record.session_id, "reason": "revoked"}
            print(json.dumps({**line, "timestamp": int(time.time())}))
    return ended
