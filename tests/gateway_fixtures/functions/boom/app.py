"""Fixture: always raises, like a function with a bug."""


def handler(event, context):
    raise RuntimeError("fixture failure: boom")
