"""``make run``'s cookie mode. By default the cookies are the deployed ones (``Secure``, ``__Host-``
names); ``HTTP_COOKIES=1`` drops ``Secure`` and the prefix, for WebKit (Safari), which keeps no
``Secure`` cookie on http://localhost (docs/browsers.md). Only this process can turn it on: the
functions read no setting for it, and refuse it for an APP_ORIGIN other than http on loopback.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from hitkey_bff.config import LOOPBACK_HOSTS
from hitkey_bff.cookies import use_plain_http_cookies

SETTING = "HTTP_COOKIES"
_ON, _OFF = ("1", "true", "yes"), ("", "0", "false", "no")


def wanted(origin: str) -> bool:
    """``HTTP_COOKIES`` from the environment; ``ValueError`` (a message for the user) if unusable."""
    raw = os.environ.get(SETTING, "").strip().lower()
    if raw not in _ON + _OFF:
        raise ValueError(f"{SETTING}={raw} is not 1 or 0: set {SETTING}=1 for Safari/WebKit on http://localhost")
    if raw in _OFF:
        return False
    parts = urlsplit(origin)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(
            f"{SETTING}=1 is for an app on http://localhost, not {origin}: unset it (https keeps Secure cookies)"
        )
    return True


def apply(on: bool, origin: str) -> str:
    """Set this process's cookie mode; returns the line ``make run`` prints about it."""
    use_plain_http_cookies(on)
    if on:
        return (
            f"{SETTING}=1: cookies without Secure and without the __Host- prefix, for Safari/WebKit "
            "on http://localhost (make run only; deployed cookies are always Secure)"
        )
    if origin.startswith("http://"):
        return (
            "cookies are Secure with __Host- names, as deployed: Chromium and Firefox keep them on "
            f"http://localhost, Safari/WebKit does not - for Safari run `{SETTING}=1 make run` (docs/browsers.md)"
        )
    return "cookies are Secure with __Host- names, as deployed"
