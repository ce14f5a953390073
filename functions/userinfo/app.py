"""Userinfo - see hitkey_bff.flows.userinfo for the route's story."""

from hitkey_bff.flows import userinfo
from hitkey_bff.http import endpoint

handler = endpoint(userinfo)
