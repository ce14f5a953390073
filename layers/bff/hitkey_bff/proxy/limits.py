"""The proxy's limits, in one place (the arithmetic is docs/proxy.md's, "Limits")."""

from __future__ import annotations

from hitkey_bff.budgets import PROXY_DEADLINE_SECONDS

LAMBDA_PAYLOAD = 6 * 1024 * 1024  # synchronous invoke, request and response: 6 MiB each
RESPONSE_OVERHEAD = 64 * 1024  # status, headers and JSON framing of our answer
MAX_REQUEST_BODY = LAMBDA_PAYLOAD  # decoded bytes; larger events never even reach a Lambda
# The body must fit base64-encoded (4 bytes per 3) in what is left of the 6 MiB: 4,669,440 bytes.
MAX_RESPONSE_BODY = (LAMBDA_PAYLOAD - RESPONSE_OVERHEAD) // 4 * 3
# The whole proxied request - refresh, call, refresh, retry - ends by this many seconds after it
# started: before API Gateway's integration timeout (hitkey_bff.budgets has the arithmetic).
DEADLINE_SECONDS = PROXY_DEADLINE_SECONDS
MIN_CALL_SECONDS = 0.25  # less left than this: 504 without calling
CONNECT_TIMEOUT = 3.0
MAX_RESPONSE_HEADERS = 16 * 1024  # the allow-listed ones, well inside RESPONSE_OVERHEAD
MAX_PATH = 2048
MAX_DECODE_DEPTH = 4
USER_AGENT = "hitkey-bff/0.1"
