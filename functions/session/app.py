"""Session - see hitkey_bff.flows.session for the route's story."""

from hitkey_bff.flows import session
from hitkey_bff.http import endpoint

handler = endpoint(session)
