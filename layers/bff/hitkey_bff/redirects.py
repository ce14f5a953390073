"""``return_to``: where to land after sign-in. Only a path on the app's own origin passes;
anything else silently becomes ``/`` (no error page to phish with)."""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urljoin, urlsplit

MAX_RETURN_TO = 2048
_FALLBACK = "/"


def _printable_ascii(text: str) -> bool:
    return all(0x21 <= ord(ch) <= 0x7E for ch in text)


# Characters that NFKC leaves alone but that look like, or some software treats as, / or \.
_LOOKALIKES = str.maketrans(
    {ch: "/" for ch in "\u2044\u2215\u29f8\u2571\u3033\u2cc6"}
    | {ch: "\\" for ch in "\u2216\u29f5\u29f9\u2572\ufe68\uff3c"}
    | {"\u2afd": "//"}
)


def _dangerous(text: str) -> bool:
    """Would a browser, or a server that decodes once more, read ``text`` as another host?
    Whitespace and controls are dropped first, as browsers drop tabs and newlines in URLs."""
    folded = unicodedata.normalize("NFKC", text).translate(_LOOKALIKES)
    visible = "".join(ch for ch in folded if not unicodedata.category(ch).startswith(("C", "Z")))
    slashy = any(ord(ch) > 0x7F and "SOLIDUS" in unicodedata.name(ch, "") for ch in visible)
    return slashy or not visible.startswith("/") or "//" in visible or "\\" in visible


def _decodings(value: str, rounds: int = 4) -> list[str]:
    seen = [value]
    for _ in range(rounds):
        decoded = unquote(seen[-1], errors="strict") if "%" in seen[-1] else seen[-1]
        if decoded == seen[-1]:
            break
        seen.append(decoded)
    return seen


def safe_return_to(value: str | None, app_origin: str) -> str:
    """``value`` if it is a same-origin path (``/x?y#z``), else ``/``.

    Refused: absolute and scheme-relative URLs, ``/\\host``, backslashes, control characters
    and whitespace, non-ASCII, and anything whose percent-decoding (repeated) or Unicode
    normalisation would make one of those.
    """
    if not value or len(value) > MAX_RETURN_TO or not _printable_ascii(value):
        return _FALLBACK
    try:
        forms = _decodings(value)
    except UnicodeDecodeError:
        return _FALLBACK
    if any(_dangerous(form) for form in forms):
        return _FALLBACK
    parts = urlsplit(value)
    joined = urlsplit(urljoin(app_origin + "/", value))
    if parts.scheme or parts.netloc or f"{joined.scheme}://{joined.netloc}" != app_origin:
        return _FALLBACK
    return value
