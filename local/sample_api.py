"""A small sample API for ``make run``: the upstream the BFF's API proxy calls.

It accepts only access tokens the HitKey emulator issued (it asks the emulator's provider, in
process) and answers ``{"sub", "name", "path", "method"}`` for the token's user; anything else
is ``401 {"error": "invalid_token", ...}``. It logs nothing: its requests carry bearer tokens.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request, Response

from local.emulator.http import bearer
from local.emulator.provider import OAuthProvider
from local.httpserver import Server

__all__ = ["SampleApi"]


class SampleApi(Server):
    """``SampleApi(emulator).start(host, port)`` -> its base URL."""

    def __init__(self, provider: OAuthProvider) -> None:
        super().__init__(self.wsgi, "sample-api")
        self.provider = provider

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Any method, any path: who the bearer token belongs to."""
        request = Request(environ)
        user = self.provider.user_for_access_token(bearer(request))
        if user is None:
            body = {"error": "invalid_token", "message": "a live access token from HitKey is required"}
            response = Response(json.dumps(body), 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        else:
            body = {"sub": user.sub, "name": user.name, "path": request.path, "method": request.method}
            response = Response(json.dumps(body), 200)
        response.headers["Cache-Control"] = "no-store"
        response.content_type = "application/json"
        return response(environ, start_response)
