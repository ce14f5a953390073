"""The emulator's HTML pages: the sign-in page, the sign-in error page, all under a strict CSP."""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from string import Template
from typing import Final

from werkzeug.wrappers import Response

from local.emulator.http import Reply
from local.emulator.provider import Client, normalize_scope
from local.emulator.users import SEEDED_USERS

AUTHORIZE_PARAMS: Final = (
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
)

_PAGE, _SIGN_IN, _ERROR = (
    Template((Path(__file__).with_name("templates") / name).read_text(encoding="utf-8"))
    for name in ("page.html", "signin.html", "error.html")
)
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_USER_CHOICES: Final = "\n".join(
    f'<label class="user"><input type="radio" name="sub" value="{html.escape(user.sub)}" '
    f'data-sub="{html.escape(user.sub)}"{" checked" if index == 0 else ""}> <span>{html.escape(user.name)}</span> '
    f"<small>{html.escape(user.email)}</small></label>"
    for index, user in enumerate(SEEDED_USERS)
)


def page(title: str, content: str) -> str:
    return _PAGE.substitute(title=html.escape(title), content=content.rstrip("\n"))


def html_response(status: int, title: str, content: str) -> Response:
    """An HTML page with a strict CSP."""
    return Reply(page(title, content), status, _PAGE_HEADERS, content_type="text/html; charset=utf-8")


def error_page(message: str) -> Response:
    """400: the page shown for an authorization request that cannot be redirected back."""
    return html_response(400, "Sign-in error - HitKey", _ERROR.substitute(message=html.escape(message)))


def sign_in_page(client: Client, params: Mapping[str, str], error: str = "") -> Response:
    """The sign-in page: pick a seeded user or type an email, then Allow or Deny; with an ``error``
    about the email typed, 400 and the error above the form, which keeps the email and name."""
    fields = [key for key in AUTHORIZE_PARAMS if params.get(key)]
    hidden = "\n".join(f'<input type="hidden" name="{key}" value="{html.escape(params[key])}">' for key in fields)
    scope, _ = normalize_scope(params.get("scope"))
    content = _SIGN_IN.substitute(
        client=html.escape(client.name),
        scopes=" ".join(f"<code>{html.escape(item)}</code>" for item in scope.split()),
        alert=f'<p class="error" role="alert" id="error">{html.escape(error)}</p>\n' if error else "",
        hidden=hidden,
        users=_USER_CHOICES,
        email=html.escape(params.get("email", "")) if error else "",
        name=html.escape(params.get("name", "")) if error else "",
    )
    return html_response(400 if error else 200, f"Sign in to {client.name} - HitKey", content)
