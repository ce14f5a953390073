"""A browser that calls the functions with the API Gateway 2.0 events the local gateway builds, and
the user's part at HitKey's sign-in page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from local.apigw.event import build_event
from testkit.functions import route_of

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]
"""Route key ("GET /auth/session") and event -> the handler's response."""


def set_cookie_attrs(header: str) -> dict[str, str]:
    """The attributes of a ``Set-Cookie`` value, lower-cased names."""
    parts = [p.strip() for p in header.split(";")]
    return {p.partition("=")[0].lower(): p.partition("=")[2] for p in parts[1:]}


@dataclass
class Browser:
    """One browser profile: a cookie jar and the app's origin. It sends the API Gateway 2.0 events
    the local gateway builds to ``invoke`` and keeps the cookies the answers set (``set_cookies``:
    every ``Set-Cookie`` seen)."""

    invoke: Invoke
    origin: str = "https://app.example.com"
    jar: dict[str, str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)

    def call(
        self, route: str, query: str = "", headers: dict[str, str] | None = None, csrf: bool = True
    ) -> dict[str, Any]:
        """Invoke ``route`` (a route key, or the route's name: "session") as the SPA would."""
        key = route if " " in route else route_of(route).key
        method, path = key.split(" ", 1)
        sent = {"x-csrf": "1", "origin": self.origin} if csrf else {}
        sent.update(headers or {})
        cookies = [f"{k}={v}" for k, v in self.jar.items()]
        response = self.invoke(key, build_event(method, path, query, headers=sent, cookies=cookies, route_key=key))
        for header in response.get("cookies", []):
            self.set_cookies.append(header)
            name, _, value = header.split(";", 1)[0].partition("=")
            if set_cookie_attrs(header).get("max-age") == "0":
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return response

    def login(self, return_to: str = "/") -> dict[str, Any]:
        """``GET /auth/login`` (a top-level navigation: no CSRF header)."""
        return self.call("GET /auth/login", urlencode({"return_to": return_to}), csrf=False)

    def callback(self, query: str) -> dict[str, Any]:
        """``GET /auth/callback?...`` as HitKey's redirect lands."""
        return self.call("GET /auth/callback", query, csrf=False)

    def sign_in(self, sub: str | None = None, return_to: str = "/", decision: str = "allow") -> dict[str, Any]:
        """Login, HitKey's page (real HTTP), then the callback; returns the callback's response."""
        authorize = self.login(return_to)["headers"]["location"]
        return self.callback(approve_at_hitkey(authorize, sub=sub, decision=decision))


def approve_at_hitkey(
    authorize_url: str,
    sub: str | None = None,
    decision: str = "allow",
    http: httpx.Client | None = None,
    email: str = "",
) -> str:
    """The user's part at HitKey's sign-in page (not the BFF's calls): returns the callback's query.
    ``email`` signs in a user of that address (the emulator makes one up), else ``sub``."""
    client = http or httpx.Client()
    page = client.get(authorize_url)
    if page.status_code != 200:
        raise RuntimeError(f"HitKey's sign-in page answered {page.status_code}: {page.text}")
    form = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    form["decision"] = decision
    if sub:
        form["sub"] = sub
    if email:
        form["email"] = email
    answer = client.post("{0.scheme}://{0.netloc}/".format(urlsplit(authorize_url)), data=form)
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"HitKey's sign-in form answered {answer.status_code}: {answer.text}")
    if http is None:
        client.close()
    return urlsplit(answer.headers["location"]).query
