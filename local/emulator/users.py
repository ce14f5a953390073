"""HitKey's users in the emulator: the seeded test users and the user a sign-in form names."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

_EMAIL_NAMESPACE: Final = uuid.UUID("7ffb191e-7ffa-4394-bad7-54fcb0bc6fac")
_EMAIL_RE: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class User:
    """A HitKey account as userinfo describes it; ``sub`` is the stable identifier."""

    sub: str
    email: str
    name: str

    def claims(self) -> dict[str, Any]:
        """The userinfo claims, exactly the documented set (the given name is the first word)."""
        given_name, _, family_name = self.name.partition(" ")
        return {
            "sub": self.sub,
            "email": self.email,
            "email_verified": True,
            "name": self.name,
            "given_name": given_name,
            "family_name": family_name,
            "display_name": self.name,
        }


SEEDED_USERS: Final = (
    User("f089f571-5f10-4429-a4a0-e87a142f62ca", "ada@example.com", "Ada Lovelace"),
    User("bc3f9687-a3ae-4d1e-a3e4-11c21390f7f1", "alan@example.com", "Alan Turing"),
    User("a479ce1f-dcf8-46f3-ab03-77fd8222fbf1", "grace@example.com", "Grace Hopper"),
)


def chosen_user(form: Mapping[str, str]) -> tuple[User | None, str]:
    """The user the sign-in form names, or the problem to show: a typed email wins over the radio
    choice (an unseeded email gets uuid5 of it as ``sub``); with neither, the first seeded user."""
    email = form.get("email", "").strip()
    if not email:
        sub = form.get("sub") or SEEDED_USERS[0].sub
        user = next((user for user in SEEDED_USERS if user.sub == sub), None)
        return user, "" if user else "Choose a test user or enter an email address."
    if len(email) > 254 or not _EMAIL_RE.fullmatch(email):
        return None, "Enter a valid email address."
    email = email.lower()
    seeded = next((user for user in SEEDED_USERS if user.email == email), None)
    name = " ".join(form.get("name", "")[:100].split()) or email.split("@", 1)[0]
    return seeded or User(str(uuid.uuid5(_EMAIL_NAMESPACE, email)), email, name), ""
