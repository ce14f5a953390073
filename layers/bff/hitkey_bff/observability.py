"""Powertools Logger and Metrics, shared by every function.

Nothing secret is ever passed to the logger: flows log codes, statuses and user ids only.
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="hitkey-bff")
metrics = Metrics(namespace="HitKeyBff", service="hitkey-bff")
MAX_LOGGED = 200  # characters of an upstream's error text kept in the log


def loggable(value: object) -> str:
    """An upstream's text as a log may carry it: at most :data:`MAX_LOGGED` characters, control
    and non-ASCII characters escaped (``\\n``, ``\\u202e``). Never for a response."""
    text = value if isinstance(value, str) else "" if value is None else type(value).__name__
    return ascii(text[:MAX_LOGGED])[1:-1]


# botocore logs whole request and response bodies at DEBUG (the client secret from Secrets
# Manager, login states from DynamoDB), so DEBUG on the root logger must not reach them.
# Our own logger (Powertools) honours POWERTOOLS_LOG_LEVEL=DEBUG as usual.
for _name in ("botocore", "boto3", "urllib3", "httpcore"):
    _wire = logging.getLogger(_name)
    if _wire.level < logging.INFO:  # unset (inherits the root's) or explicitly DEBUG
        _wire.setLevel(logging.INFO)
