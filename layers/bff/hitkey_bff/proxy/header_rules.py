"""Two rules for an upstream's response headers on a proxied, per-user answer (docs/proxy.md).

* :func:`bearer_challenges` - a ``WWW-Authenticate`` value parsed as the challenge list of
  RFC 9110 §11.6.1 (``auth-scheme [ 1*SP ( token68 / #auth-param ) ]``, auth-param values may be
  quoted strings holding commas); only ``Bearer`` challenges are kept (another scheme would open
  the browser's password prompt). Anything that does not parse is dropped whole.
* :func:`private_cache_control` - a ``Cache-Control`` value made private: ``public`` and
  ``s-maxage`` go, a field-qualified ``private="..."`` becomes the plain ``private`` (which is
  added if missing). An answer fetched with the user's token is never for a shared cache.

Both are pure functions of the header value: ``None`` means "drop the header".
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_QUOTED = re.compile(r'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"')
_SP = re.compile(r" +")


class _Malformed(ValueError):
    """The value does not follow the grammar."""


class _Scanner:
    """A cursor over one header value."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def match(self, pattern: re.Pattern[str]) -> str | None:
        m = pattern.match(self.text, self.pos)
        if m is None or not m.group():
            return None
        self.pos = m.end()
        return m.group()

    def skip_ows(self) -> None:
        while self.peek() in (" ", "\t"):
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_separators(self) -> None:
        """OWS and empty list elements (``, ,``), which a recipient must ignore."""
        self.skip_ows()
        while self.peek() == ",":
            self.pos += 1
            self.skip_ows()


def _element_ends(s: _Scanner) -> bool:
    """After OWS: the end of the value or a comma (the end of a list element)."""
    s.skip_ows()
    return s.at_end() or s.peek() == ","


def _auth_param(s: _Scanner) -> bool:
    """``token BWS "=" BWS ( token / quoted-string )`` at the cursor; consumed when it is one."""
    start = s.pos
    if s.match(_TOKEN) is not None:
        s.skip_ows()
        if s.peek() == "=":
            s.pos += 1
            s.skip_ows()
            if s.match(_TOKEN) is not None or s.match(_QUOTED) is not None:
                return True
    s.pos = start
    return False


def _challenges(value: str) -> list[tuple[str, str]]:
    """``[(auth-scheme, the challenge's text)]``; :class:`_Malformed` when the value is no list."""
    s = _Scanner(value)
    found: list[tuple[str, str]] = []
    s.skip_separators()
    while not s.at_end():
        start = s.pos
        scheme = s.match(_TOKEN)
        if scheme is None:
            raise _Malformed("an auth-scheme was expected")
        end = s.pos
        if s.match(_SP) is not None and not _element_ends(s):
            rewind = s.pos
            if s.match(_TOKEN68) is not None and _element_ends(s):
                end = s.pos
            else:
                s.pos = rewind
                while True:  # one or more auth-params, separated by commas
                    if not _auth_param(s):
                        raise _Malformed("an auth-param or token68 was expected")
                    end = s.pos
                    if not _element_ends(s):
                        raise _Malformed("a comma was expected")
                    after = s.pos
                    s.skip_separators()
                    if s.at_end() or not _auth_param(s):  # the next challenge (or the end)
                        s.pos = after
                        break
                    s.pos = after
                    s.skip_separators()
        elif not _element_ends(s):
            raise _Malformed("a space or comma was expected after the auth-scheme")
        found.append((scheme, value[start:end].rstrip()))
        s.skip_separators()
    return found


def bearer_challenges(value: str) -> str | None:
    """The ``Bearer`` challenges of a ``WWW-Authenticate`` value (scheme compared
    case-insensitively: ``BearerX`` is another scheme), comma-joined; ``None`` when there are none
    or the value is not a challenge list."""
    try:
        kept = [text for scheme, text in _challenges(value) if scheme.lower() == "bearer"]
    except _Malformed:
        return None
    return ", ".join(kept) or None


def _directives(value: str) -> list[tuple[str, str]]:
    """``[(lower-case name, the directive's text)]`` of a ``Cache-Control`` value
    (``token [ "=" ( token / quoted-string ) ]``, comma-separated); :class:`_Malformed` otherwise."""
    s = _Scanner(value)
    found: list[tuple[str, str]] = []
    s.skip_separators()
    while not s.at_end():
        start = s.pos
        name = s.match(_TOKEN)
        if name is None:
            raise _Malformed("a directive name was expected")
        s.skip_ows()
        if s.peek() == "=":
            s.pos += 1
            s.skip_ows()
            if s.match(_TOKEN) is None and s.match(_QUOTED) is None:
                raise _Malformed("a directive value was expected")
        found.append((name.lower(), value[start : s.pos].rstrip()))
        if not _element_ends(s):
            raise _Malformed("a comma was expected")
        s.skip_separators()
    return found


_SHARED_ONLY = frozenset({"public", "s-maxage"})


def private_cache_control(value: str) -> str | None:
    """``value`` without ``public`` and ``s-maxage`` (any case, with or without a value), with a
    plain ``private``; ``None`` when it is empty or not a directive list (the caller's default
    applies)."""
    try:
        directives = _directives(value)
    except _Malformed:
        return None
    if not directives:
        return None
    kept = [text for name, text in directives if name not in _SHARED_ONLY and name != "private"]
    return ", ".join([*kept, "private"])
