"""Powertools Logger and Metrics, shared by every function.

Nothing secret is ever passed to the logger: flows log codes, statuses and user ids only.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="hitkey-bff")
metrics = Metrics(namespace="HitKeyBff", service="hitkey-bff")
