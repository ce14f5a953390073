"""Fixture: answers with the event and context it was given (and how often it ran)."""

import json

INVOCATIONS = 0


def handler(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    ctx = {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
    body = {"event": event, "context": ctx, "module": __name__, "invocations": INVOCATIONS}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
