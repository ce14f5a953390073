"""Operator tools: they run on your machine, never in Lambda (``python -m tools.cli``)."""
