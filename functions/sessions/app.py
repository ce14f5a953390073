"""Sessions - the flow and its policy are in hitkey_bff.routes.sessions."""

from hitkey_bff.routes.sessions import handler as handler
