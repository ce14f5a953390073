"""Logout - the flow and its policy are in hitkey_bff.routes.logout."""

from hitkey_bff.routes.logout import handler as handler
