"""The table's items as values: a session (:class:`SessionRecord`) and a login state
(:class:`LoginState`), parsed from and written as DynamoDB attribute maps (the layout is in
:mod:`hitkey_bff.store`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hitkey_bff.vault import SealedTokens

Item = dict[str, Any]


def _s(item: Item, name: str, default: str = "") -> str:
    return str(item.get(name, {}).get("S", default))


def _n(item: Item, name: str, default: int = 0) -> int:
    raw = item.get(name, {}).get("N")
    return int(raw) if raw is not None else default


def _b(item: Item, name: str) -> bytes:
    return bytes(item.get(name, {}).get("B", b""))


@dataclass(frozen=True, slots=True)
class LoginState:
    """What a login left for its callback."""

    verifier: str
    return_to: str
    # the session this browser had when the login began (its ``sub`` and sort-key hash), which
    # the callback ends once the new one is stored; "" for none
    previous_sub: str = ""
    previous_session: str = ""

    @classmethod
    def from_item(cls, item: Item) -> LoginState:
        """Parse a consumed login state's item."""
        return cls(
            verifier=_s(item, "verifier"),
            return_to=_s(item, "return_to", "/"),
            previous_sub=_s(item, "prev_sub"),
            previous_session=_s(item, "prev_session"),
        )


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One signed-in browser."""

    sub: str
    session_hash: str
    user: dict[str, Any]
    tokens: SealedTokens
    created_at: int
    expires_at: int
    version: int
    lease_owner: str = ""
    lease_until: int = 0
    # --- sessions users and operators manage (public id, device, idle deadline) ---
    session_id: str = ""
    device: str = ""
    last_seen_at: int = 0
    idle_expires_at: int = 0
    # the tokens' generation (in the AEAD associated data, +1 per commit: an old
    # ciphertext written back does not decrypt), and when a refresh last timed out at HitKey
    # with an unknown outcome (0: it did not).
    generation: int = 0
    refresh_unknown_since: int = 0
    # When a refresh last committed rotated tokens (0: never since sign-in); the refresh
    # cooldown after an upstream's 401 reads it (hitkey_bff.refresh).
    refreshed_at: int = 0
    # epoch milliseconds of creation and of the last recorded activity: the order in which the
    # per-user cap ends sessions (seconds tie between sessions opened in one second)
    created_ms: int = 0
    last_seen_ms: int = 0

    @classmethod
    def from_item(cls, item: Item) -> SessionRecord:
        """Parse a DynamoDB item."""
        return cls(
            sub=_s(item, "sub"),
            session_hash=_s(item, "sk").removeprefix("SESSION#"),
            user=json.loads(_s(item, "user", "{}")),
            tokens=SealedTokens(
                data_key=_b(item, "dk"),
                refresh_token=_b(item, "rt"),
                access_token=_b(item, "at"),
                access_expires_at=_n(item, "at_exp"),
                scope=_s(item, "scope"),
            ),
            created_at=_n(item, "created_at"),
            expires_at=_n(item, "expires_at"),
            version=_n(item, "version"),
            lease_owner=_s(item, "lease_owner"),
            lease_until=_n(item, "lease_until"),
            session_id=_s(item, "sid"),
            device=_s(item, "device"),
            last_seen_at=_n(item, "last_seen_at") or _n(item, "created_at"),
            idle_expires_at=_n(item, "idle_exp"),
            generation=_n(item, "gen"),
            refresh_unknown_since=_n(item, "refresh_unknown_since"),
            refreshed_at=_n(item, "refreshed_at"),
            created_ms=_n(item, "created_ms") or _n(item, "created_at") * 1000,
            last_seen_ms=max(_n(item, "seen_ms"), (_n(item, "last_seen_at") or _n(item, "created_at")) * 1000),
        )

    def to_item(self) -> Item:
        """The item of a brand-new session."""
        t = self.tokens
        return {
            **session_key(self.sub, self.session_hash),
            "sub": {"S": self.sub},
            "user": {"S": json.dumps(self.user, separators=(",", ":"))},
            "dk": {"B": t.data_key},
            "rt": {"B": t.refresh_token},
            "at": {"B": t.access_token},
            "at_exp": {"N": str(t.access_expires_at)},
            "scope": {"S": t.scope},
            "created_at": {"N": str(self.created_at)},
            "expires_at": {"N": str(self.expires_at)},
            "ttl": {"N": str(self.expires_at)},
            "version": {"N": str(self.version)},
            "sid": {"S": self.session_id},
            "device": {"S": self.device},
            "last_seen_at": {"N": str(self.last_seen_at or self.created_at)},
            "idle_exp": {"N": str(self.idle_expires_at)},
            "gen": {"N": str(self.generation)},
            "created_ms": {"N": str(self.created_ms or self.created_at * 1000)},
            "seen_ms": {"N": str(self.last_seen_ms or self.created_ms or self.created_at * 1000)},
        }


def session_key(sub: str, session_hash: str) -> Item:
    """The key of ``sub``'s session ``session_hash``."""
    return {"pk": {"S": f"USER#{sub}"}, "sk": {"S": f"SESSION#{session_hash}"}}


def token_attrs(tokens: SealedTokens) -> Item:
    """The tokens as the expression values of a commit."""
    return {
        ":dk": {"B": tokens.data_key},
        ":rt": {"B": tokens.refresh_token},
        ":at": {"B": tokens.access_token},
        ":at_exp": {"N": str(tokens.access_expires_at)},
        ":scope": {"S": tokens.scope},
    }
