"""Refresh - the flow and its policy are in hitkey_bff.routes.refresh."""

from hitkey_bff.routes.refresh import handler as handler
