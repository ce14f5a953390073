"""Fixture authorizer: allows the cookie ``s=allow`` (context from it), denies ``s=deny``, fails on
``s=boom`` and answers nonsense on ``s=junk``."""


def handler(event, context):
    cookies = event.get("cookies") or []
    if "s=boom" in cookies:
        raise RuntimeError("authorizer crashed")
    if "s=junk" in cookies:
        return {"isAuthorized": "yes"}
    allowed = "s=allow" in cookies
    return {"isAuthorized": allowed, "context": {"sub": "fixture-user", "seen": event["identitySource"]}}
