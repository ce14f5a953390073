"""Refresh - see hitkey_bff.flows.refresh for the route's story."""

from hitkey_bff.flows import refresh
from hitkey_bff.http import endpoint

handler = endpoint(refresh)
