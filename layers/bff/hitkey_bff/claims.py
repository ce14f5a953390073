"""The user snapshot a session keeps and ``/auth/session`` returns: standard claims only, bounded.

HitKey's userinfo may carry anything up to 64 KB; the session item is read on every request and
the snapshot is sent on every ``/auth/session``. Only the OpenID Connect standard profile claims
are kept (plus HitKey's ``display_name``), each string at most :data:`MAX_VALUE` characters and
the whole at most :data:`MAX_TOTAL` bytes of JSON (claims that would pass it are dropped).
"""

from __future__ import annotations

import json
from typing import Any

STRING_CLAIMS = (
    "sub",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "display_name",
    "email",
    "picture",
    "profile",
    "website",
    "locale",
    "zoneinfo",
)
BOOL_CLAIMS = ("email_verified",)
MAX_VALUE = 512
MAX_TOTAL = 4096


def snapshot(user: dict[str, Any]) -> dict[str, Any]:
    """The bounded snapshot of a userinfo answer (``sub`` is always kept: it is checked already)."""
    kept: dict[str, Any] = {}
    size = 2
    for name in (*STRING_CLAIMS, *BOOL_CLAIMS):
        value = user.get(name)
        if name in BOOL_CLAIMS:
            if not isinstance(value, bool):
                continue
        elif not isinstance(value, str) or (len(value) > MAX_VALUE and name != "sub"):
            continue
        cost = len(json.dumps({name: value}, separators=(",", ":")).encode()) - 1
        if size + cost > MAX_TOTAL and name != "sub":
            continue
        kept[name] = value
        size += cost
    return kept
