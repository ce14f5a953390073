"""The BffSession authorizer's calls per authorization (counts, not timings; bench/authorizer.py)."""

from __future__ import annotations

from bench import authorizer
from bench.calls import counts


def test_steady_state_is_one_getitem_no_kms_no_hitkey() -> None:
    found = authorizer.measure_calls()
    assert counts(found.warm) == authorizer.TARGET == (1, 0, 0, 0, 0), found.warm.operations()
    assert dict(found.warm.aws) == {"dynamodb.GetItem": 1} and not any(found.warm.hitkey.values())
    # Even on a fresh Lambda: no KMS data key, no client secret (the counters see those clients).
    assert dict(found.cold.aws) == {"dynamodb.GetItem": 1}


def test_cost_model_cache_divides_invocations() -> None:
    uncached, cached = authorizer.cost_per_million(0.001, 0), authorizer.cost_per_million(0.001, 60)
    assert uncached["DynamoDB reads"] == 0.125  # a million strongly consistent GetItems of < 4 KB
    assert cached["Lambda requests"] < uncached["Lambda requests"]


def test_timing_benches_run_to_the_end() -> None:
    """Cold start (each child's first event must be allowed) and warm CPU, without timing asserts."""
    cold = authorizer.measure_cold(reps=1)
    assert set(cold) == {"boto3 + DynamoDB client", "session", authorizer.FUNCTION}
    assert set(authorizer.measure_warm(calls=2)) == {authorizer.FUNCTION, "session"}
