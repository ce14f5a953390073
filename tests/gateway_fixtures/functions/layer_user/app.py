"""Fixture: imports from the template's layer and from a sibling module, as in Lambda."""

from gw_fixture_helper import SIBLING
from gw_fixture_layer import greeting


def handler(event, context):
    return {"greeting": greeting(), "sibling": SIBLING}
