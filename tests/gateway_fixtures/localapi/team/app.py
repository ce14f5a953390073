"""Fixture team function: answers with the authorizer context it received."""

import json


def handler(event, context):
    body = {"authorizer": event["requestContext"].get("authorizer"), "route": event["routeKey"]}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}
