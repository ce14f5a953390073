"""Callback - see hitkey_bff.flows.callback for the route's story."""

from hitkey_bff.flows import callback
from hitkey_bff.http import endpoint

handler = endpoint(callback)
