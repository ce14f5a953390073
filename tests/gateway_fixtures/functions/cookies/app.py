"""Fixture: a full payload-2.0 response with headers and several cookies."""


def handler(event, context):
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "text/plain; charset=utf-8", "X-Fixture": "cookies", "X-Count": 3},
        "cookies": [
            "first=one; Path=/; HttpOnly; SameSite=Lax",
            "second=two; Path=/; Secure",
            "third=three; Max-Age=0",
        ],
        "body": f"cookies for {event['rawPath']}",
        "isBase64Encoded": False,
    }
