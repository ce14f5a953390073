"""Attacks the way a browser runs them: Debian's Chromium, the real JS client, ``make run``'s stack,
and API upstreams of the test's own on loopback - a hostile one and a benign one that records
every request reaching it (``tests/e2e/upstreams.py``).

In-process tests check each rule; these check what Chromium does with our answers: it resolves
``%2e%2e`` as ``..`` and follows a ``307``/``308`` with the method, the body and ``X-CSRF``; it
resolves ``..`` in a path before the request leaves; it answers a ``Basic`` challenge; it keeps the
session cookie (``SameSite=Strict``) off HitKey's cross-site redirect back to the app.

One stack and one signed-in browser context (Ada, plus a second browser of Ada's whose session
must survive) serve the whole module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.attack_kit import (
    ADA,
    API,
    FETCH,
    GRACE,
    Attack,
    attack_stack,
    load_client,
    new_tab,
    outcome,
    path_of,
    sign_in,
)
from tests.e2e.upstreams import CHALLENGES, LOCATIONS
from tests.harness import SESSION

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with how to install it
    expect = None  # type: ignore[assignment]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def attack(browser: Any, shots: Path) -> Iterator[Attack]:
    with attack_stack(browser, shots / "attack-stack.log") as running:
        yield running


@pytest.fixture
def watch(attack: Attack, shots: Path, request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Every URL Ada's tab requests during the test; a screenshot if the test fails."""
    urls: list[str] = []

    def seen(req: Any) -> None:
        urls.append(req.url)

    attack.page.on("request", seen)
    try:
        yield urls
    finally:
        attack.page.remove_listener("request", seen)
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            attack.page.screenshot(path=shots / f"failed-{request.node.name}.png", full_page=True)


# -- a crafted Location must not send the browser anywhere else --------------------------------


@pytest.mark.parametrize("key", [k for k in LOCATIONS if k.startswith("sessions-")])
@pytest.mark.parametrize("status", [307, 308])
def test_a_redirect_with_encoded_dots_does_not_reach_the_session_routes(
    attack: Attack, watch: list[str], key: str, status: int
) -> None:
    """``Location: /%2e%2e/%2e%2e/auth/sessions`` (and ``.%2e``, ``%2e.``, ``%2E%2E``) on a ``DELETE``:
    Chromium resolves the dots, and a 307/308 re-sends the ``DELETE`` with ``X-CSRF: 1`` and the
    cookie - "sign out everywhere else" on the user's behalf. The Location must not come through."""
    if not attack.bystander_alive():
        attack.restore_bystander()
    since = attack.log_size()
    answer = attack.api("hostile", f"/redirect/{status}/{key}", {"method": "DELETE"})
    reached = [path_of(url) for url in watch]
    assert answer.get("status") == status, f"Location {LOCATIONS[key]!r} was followed: {outcome(answer)}"
    assert not answer["redirected"], answer
    assert reached == [f"/api/hostile/redirect/{status}/{key}"], f"the browser also went to {reached}"
    assert [line.split()[1] for line in attack.gateway_lines(since)] == [f"/api/hostile/redirect/{status}/{key}"]
    assert attack.bystander_alive(), f"Location {LOCATIONS[key]!r} ended Ada's other session"


@pytest.mark.parametrize("key", [k for k in LOCATIONS if k.startswith("benign-")])
@pytest.mark.parametrize("status", [307, 308])
def test_a_redirect_with_encoded_dots_does_not_reach_another_upstream(
    attack: Attack, watch: list[str], key: str, status: int
) -> None:
    """``Location: /%2e%2e/benign/collect`` on a ``POST``: the browser would deliver the body to
    another upstream, with the user's access token added there. Nothing may reach it."""
    before = len(attack.benign.seen)
    secret = f"the body of a POST meant for the hostile API ({key}, {status})"
    answer = attack.api(
        "hostile",
        f"/redirect/{status}/{key}",
        {"method": "POST", "body": secret, "headers": {"Content-Type": "text/plain"}},
    )
    escaped = attack.benign.seen[before:]
    assert not escaped, (
        f"Location {LOCATIONS[key]!r} delivered {[(e.method, e.path, e.body) for e in escaped]} to the benign "
        f"upstream, with Authorization {escaped[0].headers.get('Authorization', '-')[:12]}..."
    )
    assert answer.get("status") == status, outcome(answer)
    assert [path_of(url) for url in watch] == [f"/api/hostile/redirect/{status}/{key}"], watch


# -- bff.api refuses a path that the browser would resolve elsewhere ---------------------------

TRAVERSALS = [
    ("benign", "/../../auth/sessions"),
    ("benign", "/%2e%2e/%2e%2e/auth/sessions"),
    ("benign", "/.%2E/.%2E/auth/sessions"),
    ("benign", "/" + "%2E%2E" + "/hostile/x"),
    ("benign", "/x/../../hostile/x"),
    ("benign", "/..\\..\\auth\\sessions"),
    ("benign", "auth/sessions"),
    ("..", "/auth/sessions"),
    ("%2e%2e", "/auth/sessions"),
    ("Benign", "/x"),
    ("benign/../hostile", "/x"),
]


def test_the_client_refuses_paths_that_leave_the_upstream(attack: Attack, watch: list[str]) -> None:
    """A path built from user data (``../``, ``%2e%2e``, a backslash, a name that is ``..``) would
    be resolved by the browser to ``/auth/sessions`` or another upstream before the request left.
    ``bff.api`` rejects each with ``BffError`` ``invalid_path`` and sends nothing."""
    if not attack.bystander_alive():
        attack.restore_bystander()
    since, before = attack.log_size(), len(attack.benign.seen)
    answers = {f"{name} {path}": attack.api(name, path, {"method": "DELETE"}) for name, path in TRAVERSALS}
    refused = ("BffError", "invalid_path")
    wrong = {call: outcome(a) for call, a in answers.items() if (a.get("error"), a.get("code")) != refused}
    assert not wrong, f"not refused with BffError invalid_path: {wrong}"
    assert watch == [], f"the browser sent {watch}"
    assert attack.gateway_lines(since) == [], "requests reached the gateway"
    assert attack.benign.seen[before:] == []
    assert attack.bystander_alive()
    # A well-formed call still goes through.
    assert attack.api("benign", "/notes/42?x=1")["status"] == 200
    assert attack.benign.seen[-1].path == "/notes/42"


# -- an upstream that always answers 401 -------------------------------------------------------


def test_an_upstream_401_loop_costs_at_most_one_refresh(attack: Attack) -> None:
    """20 calls in a row, then 10 at once, to an API that answers every request ``401``: HitKey
    sees at most one refresh grant, each call gets the upstream's 401, the session lives on."""
    grants = attack.refresh_grants()
    statuses = [attack.api("hostile", "/always-401")["status"] for _ in range(20)]
    statuses += attack.page.evaluate(
        """async () => {
          const bff = window.hitkeyBff.createBff({ BroadcastChannel: null });
          const all = await Promise.all(Array.from({ length: 10 }, () => bff.api("hostile", "/always-401")));
          bff.close();
          return all.map((res) => res.status);
        }"""
    )
    refreshed = attack.refresh_grants() - grants
    assert statuses == [401] * 30, statuses
    assert refreshed <= 1, f"30 calls to an always-401 API made {refreshed} refresh grants at HitKey"
    assert attack.hostile.hits("/always-401") <= 31
    assert attack.page.evaluate(FETCH, "/auth/session")["body"]["authenticated"] is True


# -- what reaches the page from a hostile upstream ---------------------------------------------


@pytest.mark.parametrize("key", list(CHALLENGES))
def test_only_bearer_challenges_reach_the_page(attack: Attack, key: str) -> None:
    """``WWW-Authenticate: Bearer realm="a", Basic realm="b"`` (or ``BearerX, Basic``): a client that
    parses the challenge list (RFC 9110) finds ``Basic`` and asks for a password on the app's
    origin. The page sees only ``Bearer`` challenges. Chromium reads one header line as one
    challenge, so it would prompt only for a line starting with ``Basic``; with credentials to
    offer, it never answers a challenge here (a second request at the gateway would be that)."""
    tab = new_tab(attack.browser, http_credentials={"username": "victim", "password": "typed-into-a-fake-prompt"})
    try:
        tab.context.add_cookies(attack.page.context.cookies(attack.app))
        tab.goto(f"{attack.app}/")
        load_client(tab)
        since = attack.log_size()
        answer = dict(tab.evaluate(API, ["hostile", f"/challenge/{key}", {}]))
        lines = [line for line in attack.gateway_lines(since) if "/challenge/" in line]
    finally:
        tab.context.close()
    assert answer["status"] == 401, answer
    challenge = answer["headers"].get("www-authenticate")
    schemes = [] if challenge is None else re.findall(r"(?:^|,)\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?=\s|,|$)", challenge)
    assert all(scheme.lower() == "bearer" for scheme in schemes), f"the page got WWW-Authenticate: {challenge}"
    assert len(lines) == 1, f"Chromium answered the challenge with a password: {lines}"


def test_a_public_cache_control_is_made_private(attack: Attack) -> None:
    """``Cache-Control: public, max-age=600, s-maxage=600`` on a per-user answer would let a shared
    cache (a CDN, a corporate proxy) serve one user's data to another."""
    answer = attack.api("hostile", "/public")
    assert answer["status"] == 200, answer
    directives = [d.strip().split("=")[0].lower() for d in answer["headers"].get("cache-control", "").split(",")]
    assert "private" in directives, answer["headers"]
    assert "public" not in directives and "s-maxage" not in directives, answer["headers"]


# -- signing in again in the same browser ------------------------------------------------------


def test_signing_in_again_ends_the_old_session(attack: Attack, shots: Path) -> None:
    """Grace signs in, then signs in again in the same browser (the client's ``login()``, HitKey's
    page, the cross-site redirect back that carries no ``SameSite=Strict`` cookie): her first
    session ends, and its cookie is worth nothing."""
    tab = new_tab(attack.browser)
    try:
        tab.goto(f"{attack.app}/")
        sign_in(tab, attack.hitkey, attack.app, GRACE.sub)
        first = tab.evaluate(FETCH, "/auth/sessions")["body"]["sessions"]
        assert [s["current"] for s in first] == [True], first
        old = next(c for c in tab.context.cookies(attack.app) if c["name"] == SESSION)

        load_client(tab)
        tab.evaluate("""() => { window.hitkeyBff.createBff().login({ returnTo: "/" }); }""")
        tab.wait_for_url(f"{attack.hitkey}/**")
        tab.locator(f'input[name=sub][data-sub="{GRACE.sub}"]').check()
        tab.click("#allow")
        tab.wait_for_url(f"{attack.app}/")
        expect(tab.locator("#signout")).to_be_visible()
        tab.screenshot(path=shots / "21-signed-in-again.png", full_page=True)

        now = tab.evaluate(FETCH, "/auth/sessions")["body"]["sessions"]
        new = next(c for c in tab.context.cookies(attack.app) if c["name"] == SESSION)
        assert new["value"] != old["value"]
        assert first[0]["id"] not in [s["id"] for s in now], f"the first session lives on: {now}"
        assert len(now) == 1, now
        tab.context.add_cookies([old])
        assert tab.evaluate(FETCH, "/auth/session")["body"]["authenticated"] is False
    finally:
        tab.context.close()


# -- a forged "signed out" message between tabs ------------------------------------------------


def test_a_forged_signedout_message_changes_only_what_a_tab_shows(attack: Attack) -> None:
    """Any script on the app's origin can post ``{type: "signedout"}`` on the client's
    BroadcastChannel: the app's other tabs show "signed out", and that is all it does - the
    session and its cookie live on, and a reload shows the user signed in."""
    victim = attack.page.context.new_page()
    try:
        victim.goto(f"{attack.app}/")
        expect(victim.locator("#signout")).to_be_visible()
        attack.page.evaluate("""() => { new BroadcastChannel("hitkey-bff").postMessage({ type: "signedout" }); }""")
        expect(victim.locator("#signin")).to_be_visible()
        expect(victim.locator("#status")).to_have_text("You signed out in another tab.")
        assert victim.evaluate(FETCH, "/auth/session")["body"]["authenticated"] is True
        victim.reload()
        expect(victim.locator("#signout")).to_be_visible()
        expect(victim.locator("#user-name")).to_have_text(ADA.name)
    finally:
        victim.close()
