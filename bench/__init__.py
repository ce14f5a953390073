"""Benchmarks for hitkey-bff: calls per route, cold start, warm latency and the AWS bill.

Each module runs on its own from the repository root and prints Markdown tables::

    python -m bench.calls      # AWS + HitKey calls per route, cold and warm; KMS over mixed runs
    python -m bench.coldstart  # fresh-interpreter import + first event, as a ratio to boto3 alone
    python -m bench.warm       # warm handler time, as a ratio to a bare Powertools handler
    python -m bench.cost       # the AWS bill for 1M session + 1M userinfo + 10k sign-ins

Timings are reported as ratios measured in the same run: absolute times depend on the machine.
"""
