"""The attack tier's stack and browser helpers: ``make run`` with a hostile and a benign upstream
as ``API_UPSTREAMS``, Ada signed in twice (the tab that attacks and a bystander whose session
must survive), and the JS client driven from the page (``tests/e2e/test_attacks.py``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from local.console import free_port
from local.emulator import DEFAULT_ADMIN_TOKEN
from local.emulator.users import SEEDED_USERS
from tests.e2e.conftest import TIMEOUT_MS, hitkey_of, make_run
from tests.e2e.upstreams import Benign, Hostile

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with how to install it
    expect = None  # type: ignore[assignment]

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


@contextmanager
def attack_stack(browser: Any, log: Path) -> Iterator[Attack]:
    """The upstreams, ``make run`` with them, and Ada signed in in two browser contexts."""
    hostile, benign = Hostile(), Benign()
    upstreams = {
        "hostile": {"url": hostile.start(), "methods": METHODS},
        "benign": {"url": benign.start(), "methods": METHODS},
    }
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


def path_of(url: str) -> str:
    return httpx.URL(url).raw_path.decode("ascii").split("?", 1)[0]


def outcome(answer: dict[str, Any]) -> str:
    """A call's outcome in a few words: ``BffError invalid_path``, or the status and final URL."""
    if "error" in answer:
        return f"{answer['error']} {answer['code']}: {answer['message']}"
    return f"{answer['status']} from {path_of(answer['url'])}"
