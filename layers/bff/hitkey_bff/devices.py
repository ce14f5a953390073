"""A short, bounded description of a browser ("Chrome on macOS") from its User-Agent.

Shown in "your sessions" so a user can tell their devices apart; a hint, never a security
signal (the header is the client's to choose). Hand-written: a UA library would cost cold start.
"""

from __future__ import annotations

MAX_DEVICE = 64
MAX_USER_AGENT = 512

# Order matters: Edge and Opera say "Chrome", Chrome says "Safari", every engine says "Mozilla".
_BROWSERS = (
    ("Edg", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("HeadlessChrome/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
)
_SYSTEMS = (
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Windows", "Windows"),
    ("Linux", "Linux"),
)


def describe(user_agent: str | None) -> str:
    """``"<browser> on <system>"``, ``"<browser>"``, or ``"Unknown device"``; at most 64 characters."""
    ua = (user_agent or "")[:MAX_USER_AGENT]
    browser = next((name for marker, name in _BROWSERS if marker in ua), "")
    system = next((name for marker, name in _SYSTEMS if marker in ua), "")
    if browser and system:
        text = f"{browser} on {system}"
    else:
        text = browser or (f"Browser on {system}" if system else "Unknown device")
    return text[:MAX_DEVICE]
