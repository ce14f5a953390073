"""Callback - the flow and its policy are in hitkey_bff.routes.callback."""

from hitkey_bff.routes.callback import handler as handler
