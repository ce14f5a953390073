"""A team's own SPA on hitkey-bff, in a real browser: ``examples/react-vite`` (React + TypeScript
+ Vite, using ``clients/js``) on its Vite dev server, which proxies ``/auth`` and ``/api`` to
``APP_ORIGIN=http://localhost:V make run`` - the loop an SPA team works in.

Checked in Debian's Chromium: sign-in started from a deep link (``/settings/profile?tab=...#...``)
returns to that deep link; refresh and sign-out succeed from the Vite origin (they are POSTs, so
the BFF's Origin check must accept it); a second tab of the same browser is signed out when the
first signs out, told through the client's BroadcastChannel without asking the BFF. Screenshots
in ``out/e2e/``.

``npm ci`` runs first when ``node_modules`` is missing or older than ``package-lock.json``. Without
Node.js and npm (or Chromium) the tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.console import free_port
from local.emulator.users import SEEDED_USERS
from testkit.processes import stop_group
from tests.e2e.conftest import ROOT, TIMEOUT_MS, hitkey_of, make_run
from tests.e2e.devserver import npm_ci, wait_http

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with how to install it
    expect = None  # type: ignore[assignment]

pytestmark = pytest.mark.e2e

EXAMPLE = ROOT / "examples" / "react-vite"
SESSION = "__Host-Http-hitkey-session"
ADA = SEEDED_USERS[0]
DEEP_LINK = "/settings/profile?tab=security&view=full#sessions"
FETCH = """async (path) => {
  const res = await fetch(path, {credentials: "include", headers: {"X-CSRF": "1"}, cache: "no-store"});
  return {status: res.status, body: await res.json()};
}"""


@dataclass(frozen=True)
class App:
    url: str  # the Vite dev server, http://localhost:V
    bff: str  # make run, http://localhost:B
    hitkey: str  # the emulator, http://127.0.0.1:Q


@pytest.fixture(scope="module")
def example(shots: Path) -> Path:
    """``examples/react-vite`` with its node_modules installed."""
    npm_ci(EXAMPLE, shots / "npm-ci.log")
    return EXAMPLE


@pytest.fixture(scope="module")
def app(example: Path, shots: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """``npm ci``, then ``APP_ORIGIN=http://localhost:V make run`` on port B and Vite on V (with
    a cache of its own, so a developer's own dev server of the example can keep running)."""
    bff_port, vite_port = free_port(), free_port()
    origin = f"http://localhost:{vite_port}"
    with make_run(shots / "stack-react-vite.log", {"PORT": str(bff_port), "APP_ORIGIN": origin}) as text:
        hitkey = hitkey_of(text)
        log = shots / "vite.log"
        env = {**os.environ, "APP_ORIGIN": origin, "BFF_URL": f"http://localhost:{bff_port}", "NO_COLOR": "1"}
        env["VITE_CACHE_DIR"] = str(tmp_path_factory.mktemp("vite-cache"))
        with log.open("wb") as sink:
            vite = subprocess.Popen(
                [str(EXAMPLE / "node_modules" / ".bin" / "vite")],
                cwd=EXAMPLE,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_http("vite", f"{origin}/", vite, log, timeout=60)
            yield App(origin, f"http://localhost:{bff_port}", hitkey)
        finally:
            stop_group(vite)


@pytest.fixture
def context(browser: Any, shots: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (empty cookie jar) per test; screenshots of its tabs on failure."""
    expect.set_options(timeout=TIMEOUT_MS)
    ctx = browser.new_context(viewport={"width": 900, "height": 700}, locale="en-US")
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            for n, tab in enumerate(ctx.pages):
                try:
                    path = shots / f"failed-{request.node.name}-{n}.png"
                    tab.screenshot(path=path, full_page=True)
                    print(f"failure screenshot: {path} (url {tab.url})")
                except Exception as exc:  # a dead page must not hide the real failure
                    print(f"no failure screenshot: {exc}")
        ctx.close()


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=folder / f"{name}.png", full_page=True)


def sign_in_at_hitkey(page: Any, app: App) -> None:
    """From the app's "Sign in" button through the emulator's page (another site) as Ada."""
    page.click("#signin")
    page.wait_for_url(f"{app.hitkey}/**")
    page.locator(f'input[name=sub][data-sub="{ADA.sub}"]').check()
    page.click("#allow")


def test_sign_in_from_a_deep_link_returns_to_it(context: Any, app: App, shots: Path) -> None:
    page = context.new_page()
    page.goto(app.url + DEEP_LINK)
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("h1")).to_have_text("Sign in to see this page")
    expect(page.locator("#return-to")).to_have_text(DEEP_LINK)
    shot(page, shots, "11-react-deep-link-signed-out")

    with page.expect_request(re.compile(re.escape(f"{app.url}/auth/login?"))) as login:
        page.click("#signin")
    page.wait_for_url(f"{app.hitkey}/**")
    assert login.value.is_navigation_request(), "sign-in must be a top-level navigation, not a fetch"
    page.locator(f'input[name=sub][data-sub="{ADA.sub}"]').check()
    page.click("#allow")

    # Back on the Vite origin, on the very deep link: path, query and hash.
    page.wait_for_url(app.url + DEEP_LINK)
    expect(page.locator("#profile")).to_be_visible()
    expect(page.locator("#user-name")).to_have_text(ADA.name)
    expect(page.locator("#profile-tab")).to_have_text("security")
    expect(page.locator("#profile-hash")).to_have_text("#sessions")
    expect(page.locator("#claims")).to_contain_text(f'"email": "{ADA.email}"')
    jar = {c["name"]: c for c in context.cookies(app.url)}
    assert jar[SESSION]["httpOnly"] and jar[SESSION]["domain"] == "localhost", jar
    assert page.evaluate("document.cookie") == ""
    shot(page, shots, "12-react-deep-link-signed-in")


def test_refresh_api_and_sign_out_from_the_vite_origin(context: Any, app: App, shots: Path) -> None:
    page = context.new_page()
    page.goto(app.url + "/")
    sign_in_at_hitkey(page, app)
    page.wait_for_url(app.url + "/")
    expect(page.locator("#user-name")).to_have_text(ADA.name)

    # Refresh: a POST with Origin http://localhost:V, through Vite's proxy to the BFF.
    with page.expect_response(f"{app.url}/auth/refresh") as refreshed:
        page.click("#refresh")
    assert refreshed.value.status == 200, refreshed.value.text()
    assert refreshed.value.request.headers.get("x-csrf") == "1"
    expect(page.locator("#status")).to_have_text(re.compile(r"^Tokens refreshed at .+\.$"))

    # The API proxy: the demo upstream's answer, or - on a BFF without the proxy yet - its error.
    with page.expect_response(f"{app.url}/api/demo/hello") as called:
        page.click("#call-api")
    if called.value.status == 200:
        expect(page.locator("#api-result")).to_contain_text(ADA.sub)
    else:
        expect(page.locator("#api-error")).to_contain_text(f"HTTP {called.value.status}")
    shot(page, shots, "13-react-refreshed")

    # Sign out: 204, the app shows "Sign in" again, and the cookie is gone.
    with page.expect_response(f"{app.url}/auth/logout") as out:
        page.click("#signout")
    assert out.value.status == 204, out.value.text()
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#signed-out-reason")).to_have_text("You are signed out.")
    assert SESSION not in {c["name"] for c in context.cookies(app.url)}
    answer = page.evaluate(FETCH, "/auth/session")
    assert answer == {"status": 200, "body": {"authenticated": False}}, answer
    shot(page, shots, "14-react-signed-out")


def test_a_second_tab_is_signed_out_with_the_first(context: Any, app: App, shots: Path) -> None:
    first = context.new_page()
    first.goto(app.url + "/")
    sign_in_at_hitkey(first, app)
    first.wait_for_url(app.url + "/")
    expect(first.locator("#user-name")).to_have_text(ADA.name)

    second = context.new_page()
    second.goto(app.url + DEEP_LINK)
    expect(second.locator("#user-name")).to_have_text(ADA.name)  # the same cookie jar
    expect(second.locator("#claims")).to_contain_text(ADA.email)
    asked: list[str] = []
    second.on("request", lambda request: asked.append(request.url))

    first.click("#signout")
    expect(first.locator("#signin")).to_be_visible()
    # The second tab turns to "Sign in" by itself, told by the first over the BroadcastChannel.
    expect(second.locator("#signin")).to_be_visible()
    expect(second.locator("#signed-out-reason")).to_have_text("You signed out in another tab.")
    expect(second.locator("#return-to")).to_have_text(DEEP_LINK)
    assert [url for url in asked if "/auth/" in url or "/api/" in url] == [], (
        f"the second tab learned of the sign-out by asking the BFF, not from the first tab: {asked}"
    )
    shot(second, shots, "15-react-second-tab-signed-out")


def test_the_example_type_checks_and_builds(example: Path, tmp_path: Path) -> None:
    """``npm run build`` (``tsc -b`` then ``vite build``): the client's TypeScript declarations
    hold for the app that uses them, and the production bundle contains the client."""
    out = tmp_path / "dist"
    done = subprocess.run(
        [str(shutil.which("npm")), "run", "build", "--", "--outDir", str(out), "--emptyOutDir"],
        cwd=example,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"npm run build failed:\n{done.stdout}\n{done.stderr}"
    assert (out / "index.html").is_file()
    bundle = "".join(path.read_text() for path in (out / "assets").glob("*.js"))
    assert "hitkey-bff" in bundle and "X-CSRF" in bundle, "the client is not in the bundle"
