"""Login - the flow and its policy are in hitkey_bff.routes.login."""

from hitkey_bff.routes.login import handler as handler
