"""The table: single-use login states, sessions, the refresh lease and version checks (moto)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from hitkey_bff.refresh import commit
from hitkey_bff.store import LoginState, SessionRecord, Store
from hitkey_bff.vault import SealedTokens
from tests.conftest import Aws

NOW = 1_900_000_000


@pytest.fixture
def store(aws: Aws) -> Store:
    client = aws.session.client("dynamodb")
    return Store(lambda: client, aws.resources.table)


def record(sub: str = "u1", session_hash: str = "h1", version: int = 1, expires_at: int = NOW + 3600) -> SessionRecord:
    tokens = SealedTokens(b"dk", b"rt-ct", b"at-ct", NOW + 60, "openid")
    return SessionRecord(sub, session_hash, {"sub": sub, "name": "Ada"}, tokens, NOW, expires_at, version)


def test_login_state_is_consumed_exactly_once(store: Store) -> None:
    store.put_login_state("s", "b", LoginState("verifier", "/next"), NOW + 600)
    assert store.consume_login_state("s", "b", NOW) == LoginState("verifier", "/next")
    assert store.consume_login_state("s", "b", NOW) is None


def test_another_browser_cannot_consume_or_burn_a_login(store: Store) -> None:
    store.put_login_state("s", "b", LoginState("v", "/"), NOW + 600)
    assert store.consume_login_state("s", "other-browser", NOW) is None
    assert store.consume_login_state("s", "b", NOW) is not None


def test_expired_login_state_is_refused(store: Store) -> None:
    store.put_login_state("s", "b", LoginState("v", "/"), NOW + 600)
    assert store.consume_login_state("s", "b", NOW + 601) is None


def test_session_round_trip_and_expiry(store: Store, aws: Aws) -> None:
    store.put_session(record())
    got = store.get_session("u1", "h1", NOW)
    assert got is not None and got.user["name"] == "Ada" and got.tokens.refresh_token == b"rt-ct"
    assert store.get_session("u1", "h1", NOW + 3600) is None  # past absolute expiry, before TTL sweeps
    assert store.get_session("u2", "h1", NOW) is None
    item = aws.scan()[0]
    assert (
        item["pk"] == {"S": "USER#u1"} and item["sk"] == {"S": "SESSION#h1"} and item["ttl"] == {"N": str(NOW + 3600)}
    )


def test_session_ids_never_collide_silently(store: Store) -> None:
    store.put_session(record())
    with pytest.raises(ClientError):
        store.put_session(record())


def test_lease_is_exclusive_until_it_lapses(store: Store) -> None:
    store.put_session(record())
    assert store.try_lease(record(), "a", NOW, NOW + 20) == (True, None)
    taken, seen = store.try_lease(record(), "b", NOW + 1, NOW + 21)
    assert not taken and seen is not None and seen.lease_owner == "a" and seen.lease_until == NOW + 20
    assert store.try_lease(record(), "b", NOW + 21, NOW + 41) == (True, None)  # holder died: takeover


def test_commit_bumps_version_and_releases_lease(store: Store) -> None:
    store.put_session(record())
    store.try_lease(record(), "a", NOW, NOW + 20)
    new = SealedTokens(b"dk2", b"rt2", b"at2", NOW + 3600, "openid profile")
    updated = store.commit_tokens(record(), "a", new)
    assert updated.version == 2 and updated.tokens == new and updated.lease_owner == ""
    taken, seen = store.try_lease(record(), "b", NOW, NOW + 20)  # stale version: refused, sees v2
    assert not taken and seen is not None and seen.version == 2


def test_commit_refuses_a_lease_we_do_not_hold(store: Store) -> None:
    store.put_session(record())
    store.try_lease(record(), "a", NOW, NOW + 20)
    with pytest.raises(ClientError):
        store.commit_tokens(record(), "b", record().tokens)


def test_lease_on_a_deleted_session_reports_it_gone(store: Store) -> None:
    assert store.try_lease(record(), "a", NOW, NOW + 20) == (False, None)


class Flaky:
    """A real client whose first ``failures`` UpdateItem calls fail as DynamoDB throttling does."""

    def __init__(self, client: Any, failures: int, code: str = "ProvisionedThroughputExceededException") -> None:
        self.client, self.failures, self.code, self.calls = client, failures, code, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def update_item(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise ClientError({"Error": {"Code": self.code, "Message": "slow down"}}, "UpdateItem")
        return self.client.update_item(**kwargs)


def test_commit_retries_throttling_so_a_rotated_token_is_not_lost(aws: Aws) -> None:
    flaky = Flaky(aws.session.client("dynamodb"), failures=0)
    store = Store(lambda: flaky, aws.resources.table)
    store.put_session(record())
    store.try_lease(record(), "a", NOW, NOW + 20)
    flaky.failures, flaky.calls = 3, 0
    updated = commit(store, record(), "a", SealedTokens(b"d", b"r", b"a", NOW, "s"), sleep=lambda _s: None)
    assert updated.version == 2 and flaky.calls == 4


def test_commit_gives_up_after_its_attempts(aws: Aws) -> None:
    flaky = Flaky(aws.session.client("dynamodb"), failures=99)
    store = Store(lambda: flaky, aws.resources.table)
    with pytest.raises(ClientError):
        commit(store, record(), "a", record().tokens, sleep=lambda _s: None, attempts=3)
    assert flaky.calls == 3


def test_delete_user_sessions_ends_every_session_of_that_user_only(store: Store) -> None:
    for h in ("h1", "h2", "h3"):
        store.put_session(record(session_hash=h))
    store.put_session(record(sub="u2"))
    assert store.delete_user_sessions("u1") == 3
    assert store.get_session("u2", "h1", NOW) is not None
    store.delete_session("u2", "h1")
    store.delete_session("u2", "h1")  # idempotent
    assert store.get_session("u2", "h1", NOW) is None


def test_session_reads_are_strongly_consistent(aws: Aws) -> None:
    """Right after sign-in (or sign-out) the SPA asks who is signed in: a stale read would lie."""
    client, sent = aws.session.client("dynamodb"), []
    client.meta.events.register("provide-client-params.dynamodb.GetItem", lambda params, **_: sent.append(params))
    store = Store(lambda: client, aws.resources.table)
    store.put_session(record())
    assert store.get_session("u1", "h1", NOW) is not None
    assert sent and all(params["ConsistentRead"] is True for params in sent)
