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

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.emulator import DEFAULT_ADMIN_TOKEN, SEEDED_USERS
from local.stack import free_port
from tests.e2e.conftest import TIMEOUT_MS, hitkey_of, make_run
from tests.e2e.upstreams import CHALLENGES, LOCATIONS, Benign, Hostile
from tests.harness import SESSION

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with how to install it
    expect = None  # type: ignore[assignment]

pytestmark = pytest.mark.e2e

ADA, GRACE = SEEDED_USERS[0], SEEDED_USERS[2]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]

# bff.api(...) through the client the demo SPA loads (/hitkey-bff.js); any outcome as plain data.
API = """async ([name, path, init]) => {
  const { createBff } = window.hitkeyBff;
  const bff = createBff({ BroadcastChannel: null });
  try {
    const res = await bff.api(name, path, init);
    return { status: res.status, url: res.url, redirected: res.redirected,
             headers: Object.fromEntries(res.headers), body: await res.text() };
  } catch (err) {
    return { error: err.name, code: err.code ?? null, message: String(err.message) };
  } finally {
    bff.close();
  }
}"""
FETCH = """async (path) => {
  const res = await fetch(path, {credentials: "include", headers: {"X-CSRF": "1"}, cache: "no-store"});
  return {status: res.status, body: await res.json()};
}"""


@dataclass
class Attack:
    app: str
    hitkey: str
    log: Path
    hostile: Hostile
    benign: Benign
    page: Any  # Ada's tab on the demo SPA, the client module at window.hitkeyBff
    bystander: Any  # a second browser of Ada's: its session must survive every attack
    browser: Any

    def gateway_lines(self, since: int) -> list[str]:
        """The gateway's access-log lines (``METHOD /path STATUS Nms``) written after offset ``since``."""
        text = self.log.read_bytes()[since:].decode(errors="replace")
        return [line for line in text.splitlines() if re.match(r"^[A-Z]+ /\S* \d{3} \d+ms$", line)]

    def log_size(self) -> int:
        return self.log.stat().st_size

    def refresh_grants(self) -> int:
        """HitKey's count of refresh-token grants (the emulator's ``/_emulator/counters``)."""
        answer = httpx.get(
            f"{self.hitkey}/_emulator/counters", headers={"Authorization": f"Bearer {DEFAULT_ADMIN_TOKEN}"}
        )
        answer.raise_for_status()
        return int(answer.json()["token.refresh_token"])

    def api(self, name: str, path: str, init: dict[str, Any] | None = None) -> dict[str, Any]:
        return dict(self.page.evaluate(API, [name, path, init or {}]))

    def bystander_alive(self) -> bool:
        return bool(self.bystander.evaluate(FETCH, "/auth/session")["body"]["authenticated"])

    def restore_bystander(self) -> None:
        """Sign the second browser in again (after an attack that ended its session)."""
        self.bystander.goto(f"{self.app}/")
        sign_in(self.bystander, self.hitkey, self.app, ADA.sub)


def sign_in(tab: Any, hitkey: str, app: str, sub: str) -> None:
    """From the signed-out demo page, through the emulator's sign-in page, back signed in."""
    tab.click("#signin")
    tab.wait_for_url(f"{hitkey}/**")
    tab.locator(f'input[name=sub][data-sub="{sub}"]').check()
    tab.click("#allow")
    tab.wait_for_url(f"{app}/")
    expect(tab.locator("#signout")).to_be_visible()


def new_tab(browser: Any, **options: Any) -> Any:
    context = browser.new_context(viewport={"width": 1000, "height": 900}, locale="en-US", **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def load_client(tab: Any) -> None:
    """The JS client module the demo SPA uses, kept on ``window`` so a call fetches nothing else."""
    tab.evaluate("""async () => { window.hitkeyBff = await import("/hitkey-bff.js"); }""")


@pytest.fixture(scope="module")
def attack(browser: Any, shots: Path) -> Iterator[Attack]:
    hostile, benign = Hostile(), Benign()
    upstreams = {
        "hostile": {"url": hostile.start(), "methods": METHODS},
        "benign": {"url": benign.start(), "methods": METHODS},
    }
    log = shots / "attack-stack.log"
    expect.set_options(timeout=TIMEOUT_MS)
    try:
        port = free_port()
        with make_run(log, {"PORT": str(port), "API_UPSTREAMS": json.dumps(upstreams)}) as text:
            app, hitkey = f"http://localhost:{port}", hitkey_of(text)
            page, bystander = new_tab(browser), new_tab(browser)
            try:
                for tab in (page, bystander):
                    tab.goto(f"{app}/")
                    sign_in(tab, hitkey, app, ADA.sub)
                load_client(page)
                yield Attack(app, hitkey, log, hostile, benign, page, bystander, browser)
            finally:
                page.context.close()
                bystander.context.close()
    finally:
        hostile.stop()
        benign.stop()


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


def path_of(url: str) -> str:
    return httpx.URL(url).raw_path.decode("ascii").split("?", 1)[0]


def outcome(answer: dict[str, Any]) -> str:
    """A call's outcome in a few words: ``BffError invalid_path``, or the status and final URL."""
    if "error" in answer:
        return f"{answer['error']} {answer['code']}: {answer['message']}"
    return f"{answer['status']} from {path_of(answer['url'])}"


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
