"""Session - the flow and its policy are in hitkey_bff.routes.session."""

from hitkey_bff.routes.session import handler as handler
