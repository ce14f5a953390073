"""The session function: sign-in start, who is signed in, the caller's sessions, sign-out.

DynamoDB only - its role grants no KMS, no Secrets Manager, and it makes no outbound HTTP call.
Each route's flow and policy are in ``hitkey_bff.routes.<name>``; the template's routes to this
function's integration are exactly these route keys.
"""

from hitkey_bff.dispatch import dispatch
from hitkey_bff.routes import login, logout, session, sessions

handler = dispatch(
    {
        "GET /auth/login": login.handler,
        "GET /auth/session": session.handler,
        "GET /auth/sessions": sessions.handler,
        "DELETE /auth/sessions": sessions.handler,
        "DELETE /auth/sessions/{id}": sessions.handler,
        "POST /auth/logout": logout.handler,
    }
)
