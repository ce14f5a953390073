"""API proxy - the flow and its policy are in hitkey_bff.routes.api."""

from hitkey_bff.routes.api import handler as handler
