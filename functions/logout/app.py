"""Logout - see hitkey_bff.flows.logout for the route's story."""

from hitkey_bff.flows import logout
from hitkey_bff.http import endpoint

handler = endpoint(logout)
