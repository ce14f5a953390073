"""The token function: everything that needs the session's tokens or HitKey - the callback, userinfo,
refresh and the API proxy.

Its role adds KMS (the token key), the client secret, and it calls HitKey and the upstreams.
Each route's flow and policy are in ``hitkey_bff.routes.<name>``; the template's routes to this
function's integration are exactly these route keys.
"""

from hitkey_bff.dispatch import dispatch
from hitkey_bff.routes import api, callback, refresh, userinfo

handler = dispatch(
    {
        "GET /auth/callback": callback.handler,
        "GET /auth/userinfo": userinfo.handler,
        "POST /auth/refresh": refresh.handler,
        "ANY /api/{upstream}": api.handler,
        "ANY /api/{upstream}/{proxy+}": api.handler,
    }
)
