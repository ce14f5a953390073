"""Userinfo - the flow and its policy are in hitkey_bff.routes.userinfo."""

from hitkey_bff.routes.userinfo import handler as handler
