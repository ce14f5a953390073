"""Login - see hitkey_bff.flows.login for the route's story."""

from hitkey_bff.flows import login
from hitkey_bff.http import endpoint

handler = endpoint(login)
