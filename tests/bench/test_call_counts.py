"""The deterministic half of the benchmarks: AWS and HitKey calls per route in steady state, and
KMS calls over a mixed run (counts, not timings - see bench/calls.py and docs/performance.md)."""

from __future__ import annotations

import pytest

from bench import calls


@pytest.fixture(scope="module")
def routes() -> calls.RouteCalls:
    return calls.measure_routes()


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        # (DynamoDB reads, DynamoDB writes, KMS, Secrets Manager, HitKey)
        ("login", (0, 1, 0, 0, 0)),
        # + the cap's Query of the user's partition (a read)
        ("callback", (1, 2, 0, 0, 2)),
        ("session", (1, 0, 0, 0, 0)),
        ("userinfo (valid token)", (1, 0, 0, 0, 1)),
        ("userinfo (expired token → refresh)", (1, 2, 0, 0, 2)),
        # single-flight refresh: a lease write and a version-checked commit (docs/performance.md)
        ("refresh", (1, 2, 0, 0, 1)),
        ("logout", (0, 1, 0, 0, 0)),
    ],
)
def test_steady_state_calls_per_route(routes: calls.RouteCalls, row: str, expected: tuple[int, ...]) -> None:
    assert calls.counts(routes.warm[row]) == expected, routes.warm[row].operations()


def test_steady_state_operations(routes: calls.RouteCalls) -> None:
    warm = {row: dict(c.aws) for row, c in routes.warm.items()}
    assert warm["session"] == {"dynamodb.GetItem": 1}
    assert warm["userinfo (valid token)"] == {"dynamodb.GetItem": 1}
    assert warm["login"] == {"dynamodb.PutItem": 1}
    assert warm["callback"] == {"dynamodb.DeleteItem": 1, "dynamodb.PutItem": 1, "dynamodb.Query": 1}
    assert warm["refresh"] == {"dynamodb.GetItem": 1, "dynamodb.UpdateItem": 2}
    assert warm["logout"] == {"dynamodb.DeleteItem": 1}
    assert dict(routes.warm["callback"].hitkey) == {"token": 1, "token.authorization_code": 1, "userinfo": 1}
    assert dict(routes.warm["refresh"].hitkey) == {"token": 1, "token.refresh_token": 1}


def test_cold_lambdas_fetch_keys_and_the_secret_once(routes: calls.RouteCalls) -> None:
    """The counters see the Secrets Manager and KMS clients on a fresh Lambda: the zeros
    above are caches at work, not blind counters."""
    cold = {row: dict(c.aws) for row, c in routes.cold.items()}
    assert cold["callback"]["secretsmanager.GetSecretValue"] == 1 and cold["callback"]["kms.GenerateDataKey"] == 1
    assert cold["userinfo (valid token)"]["kms.Decrypt"] == 1
    assert cold["refresh"]["secretsmanager.GetSecretValue"] == 1
    assert cold["session"] == {"dynamodb.GetItem": 1}  # no KMS, no secret even when cold


def test_kms_calls_over_a_mixed_warm_run() -> None:
    result = calls.mixed_run(500, progress=False, label="test")
    assert result.requests >= 500 and set(result.statuses) <= {200, 204, 302}
    assert result.calls.kms <= 10, result.calls.operations()
    assert result.calls.secretsmanager == 0
    assert result.kms_without_cache > 100  # what the data-key cache saves


@pytest.fixture(scope="module")
def proxied() -> calls.ProxyCalls:
    return calls.measure_proxy()


def test_proxy_steady_state_is_one_read_and_one_upstream_call(proxied: calls.ProxyCalls) -> None:
    """Per proxied call, warm: 1 DynamoDB read, 0 KMS, 0 Secrets Manager, 0 HitKey, 1 upstream call."""
    row = "api proxy (valid token)"
    assert calls.counts(proxied.calls[row]) == (1, 0, 0, 0, 0), proxied.calls[row].operations()
    assert dict(proxied.calls[row].aws) == {"dynamodb.GetItem": 1}
    assert proxied.upstream[row] == 1


def test_proxy_with_an_expired_token_refreshes_once_then_calls_once(proxied: calls.ProxyCalls) -> None:
    row = "api proxy (expired token → refresh)"
    assert calls.counts(proxied.calls[row]) == (1, 2, 0, 0, 1), proxied.calls[row].operations()
    assert dict(proxied.calls[row].hitkey).get("token.refresh_token") == 1
    assert proxied.upstream[row] == 1
