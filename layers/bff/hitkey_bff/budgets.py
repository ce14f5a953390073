"""Every time budget of the BFF, in seconds, in one place (docs/reference.md, "Time budgets").

The modules that enforce them import them from here; ``tests/unit/test_budgets.py`` reads
template.yaml's ``Timeout`` of every function against :data:`LAMBDA_TIMEOUT_SECONDS`, asserts the
arithmetic below and checks the numbers the docs quote. A leaf module: it imports nothing.

The relations that must hold:

* a request API Gateway waits for answers before its :data:`API_GATEWAY_TIMEOUT_SECONDS`: the
  callback's two HitKey calls (``2 * CALL_SECONDS``), a waiter for another request's refresh
  (:data:`WAIT_SECONDS`) and a proxied request (:data:`PROXY_DEADLINE_SECONDS`);
* a refresh holds its lease for the whole HitKey budget plus the commit
  (``REFRESH_BUDGET_SECONDS + COMMIT_SECONDS <= LEASE_SECONDS``), and the lease outlives the
  Lambda (``LEASE_SECONDS > LAMBDA_TIMEOUT_SECONDS``), so no live holder loses it;
* the Lambda has room for the HitKey budget, the commit and the margin to answer, and keeps running
  after API Gateway gave up, so a late rotation is still stored;
* the commit budget covers its retry window plus one DynamoDB call in flight.
"""

from __future__ import annotations

LAMBDA_TIMEOUT_SECONDS = 60
"""Every function's ``Timeout`` in template.yaml (``Globals.Function``)."""

API_GATEWAY_TIMEOUT_SECONDS = 30
"""The HTTP API's integration timeout (its maximum): the browser's answer comes by then."""

CALL_SECONDS = 10.0
"""One HitKey call, complete (headers and whole body), unless the caller gives its own deadline."""

REFRESH_BUDGET_SECONDS = 35
"""The longest a refresh waits for HitKey (``REFRESH_BUDGET_SECONDS`` can only lower it)."""

COMMIT_RETRY_SECONDS = 6.0
"""How long storing rotated tokens is retried (``refresh.commit``)."""

AWS_CONNECT_SECONDS = 1
AWS_READ_SECONDS = 3
"""botocore's connect and read timeouts of every AWS client (``aws.client_config``)."""

COMMIT_SECONDS = 10
"""The commit's share of a refresh: its retry window plus one DynamoDB call in flight."""

LEASE_SECONDS = LAMBDA_TIMEOUT_SECONDS + 10
"""A refresh lease; the 10 s beyond the Lambda's timeout cover clock skew between Lambdas."""

LAMBDA_MARGIN_SECONDS = 1.0
"""Kept free at the end of an invocation to answer and flush the logs."""

WAIT_SECONDS = 25
"""A request waiting for another's refresh answers ``504 refresh_in_progress`` after this."""

PROXY_DEADLINE_SECONDS = 24.0
"""A proxied request (refresh, call, refresh, retry) ends this long after it started."""

PROXY_CALL_MAX_SECONDS = 10.0
"""The largest ``timeout`` an API upstream may declare (and its default)."""

REFRESH_COOLDOWN_SECONDS = 30
"""After an API's 401, tokens rotated less than this long ago are not refreshed again: the 401 is
passed through (an API that refuses every token costs one rotation per session per cooldown)."""
