"""A team's own API behind the BFF: three routes on one function, with Powertools' resolver.

* ``GET /api/me`` - who is calling, from the ``BffSession`` authorizer's context (no AWS call);
* ``POST /api/me/echo`` - the caller and the JSON body it sent;
* ``GET /api/me/hitkey`` - HitKey's userinfo, called with the caller's access token (refreshed
  first if it has expired, once more if HitKey refuses it).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from hitkey_bff.errors import BadRequest, BffError
from hitkey_bff.local_api import current_user, error_response, hitkey_userinfo

logger = Logger(service="local-api-example")
app = APIGatewayHttpResolver()


@app.get("/api/me")
def me() -> dict[str, Any]:
    user = current_user(app.current_event)
    return {"sub": user.sub, "session_id": user.session_id, "name": user.name}


@app.post("/api/me/echo")
def echo() -> dict[str, Any]:
    user = current_user(app.current_event)
    try:
        sent = json.loads(app.current_event.body or "")
    except ValueError:
        raise BadRequest("send a JSON body", code="invalid_json") from None
    return {"sub": user.sub, "body": sent}


@app.get("/api/me/hitkey")
def hitkey() -> dict[str, Any]:
    claims = hitkey_userinfo(app.current_event)  # call_with_fresh_token(event, call) for your own APIs
    return {"sub": claims.get("sub")}


def bff_error(error: BffError) -> Response[str]:
    """The BFF's typed errors, answered as the BFF answers them."""
    answer = error_response(error)
    return Response(status_code=answer["statusCode"], content_type="application/json", body=answer["body"])


app.exception_handler(BffError)(bff_error)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.info("local API example", extra={"route": event.get("routeKey")})
    return app.resolve(event, context)
