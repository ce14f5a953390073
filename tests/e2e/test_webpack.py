"""The webpack-dev-server recipe, in a real browser: ``examples/webpack`` (plain JS with
``clients/js``, bundled by webpack) on webpack-dev-server, which proxies ``/auth`` and ``/api`` to
``APP_ORIGIN=http://localhost:W make run``.

Checked in Debian's Chromium: a signed-out deep link (``/settings/profile?tab=...#...``) renders
the app, sign-in returns to that deep link and the app renders there (its script is loaded from
``/``, not from ``/settings/``), and sign-out - a POST with the dev server's Origin - succeeds.
And what docs/troubleshooting.md says happens when ``make run`` is not given the dev server's
origin.

``npm ci`` runs first when ``node_modules`` is missing or older than ``package-lock.json``. Without
Node.js and npm (or Chromium) the test skips locally and fails under ``CI=true``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
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

EXAMPLE = ROOT / "examples" / "webpack"
SESSION = "__Host-Http-hitkey-session"
ADA = SEEDED_USERS[0]
DEEP_LINK = "/settings/profile?tab=security#sessions"
POST = """async (path) => {
  const res = await fetch(path, {method: "POST", credentials: "include", headers: {"X-CSRF": "1"}});
  return {status: res.status, body: await res.json()};
}"""
CROSS_ORIGIN = """async (url) => {
  try { return `status ${(await fetch(url, {credentials: "include", headers: {"X-CSRF": "1"}})).status}`; }
  catch (err) { return `${err.name}: ${err.message}`; }
}"""


@contextmanager
def _dev_server(shots: Path, app_origin: bool) -> Iterator[tuple[str, str, str]]:
    """``make run`` (given the dev server's origin as APP_ORIGIN, or not) and webpack-dev-server on
    W; yields (W's origin, the BFF's origin, the emulator's base)."""
    npm = npm_ci(EXAMPLE, shots / "npm-ci-webpack.log")
    bff_port, dev_port = free_port(), free_port()
    origin = f"http://localhost:{dev_port}"
    settings = {"PORT": str(bff_port), **({"APP_ORIGIN": origin} if app_origin else {})}
    with make_run(shots / f"stack-webpack-{app_origin}.log", settings) as text:
        log = shots / f"webpack-dev-server-{app_origin}.log"
        env = {**os.environ, "APP_ORIGIN": origin, "BFF_URL": f"http://localhost:{bff_port}", "NO_COLOR": "1"}
        with log.open("wb") as sink:
            server = subprocess.Popen(
                [npm, "run", "dev"],
                cwd=EXAMPLE,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_http("webpack-dev-server", f"{origin}/", server, log)
            yield origin, f"http://localhost:{bff_port}", hitkey_of(text)
        finally:
            stop_group(server)


@pytest.fixture(scope="module")
def app(shots: Path) -> Iterator[tuple[str, str]]:
    """``APP_ORIGIN=http://localhost:W make run`` and the dev server on W: (W, the emulator)."""
    with _dev_server(shots, app_origin=True) as (origin, _bff, hitkey):
        yield origin, hitkey


@pytest.fixture
def page_of(browser: Any, shots: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page in a fresh browser context; a screenshot if the test fails."""
    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 900, "height": 700}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            path = shots / f"failed-{request.node.name}.png"
            page.screenshot(path=path, full_page=True)
            print(f"failure screenshot: {path} (url {page.url})")
        context.close()


def test_sign_in_from_a_deep_link_returns_to_it(page_of: Any, app: tuple[str, str], shots: Path) -> None:
    origin, hitkey = app
    page = page_of
    page.goto(origin + DEEP_LINK)
    expect(page.locator("#return-to")).to_have_text(DEEP_LINK)  # the app ran on the deep link
    page.click("#signin")
    page.wait_for_url(f"{hitkey}/**")
    page.locator(f'input[name=sub][data-sub="{ADA.sub}"]').check()
    page.click("#allow")

    # Back on the dev server's origin, on the deep link, and the app renders there.
    page.wait_for_url(origin + DEEP_LINK)
    expect(page.locator("#user-name")).to_have_text(ADA.name)
    expect(page.locator("#path")).to_have_text(DEEP_LINK)
    jar = {c["name"]: c for c in page.context.cookies(origin)}
    assert jar[SESSION]["httpOnly"] and jar[SESSION]["domain"] == "localhost", jar
    page.screenshot(path=shots / "21-webpack-deep-link-signed-in.png", full_page=True)

    # Sign-out is a POST with Origin http://localhost:W, through the dev server's proxy.
    with page.expect_response(f"{origin}/auth/logout") as out:
        page.click("#signout")
    assert out.value.status == 204, out.value.text()
    expect(page.locator("#signin")).to_be_visible()
    assert SESSION not in {c["name"] for c in page.context.cookies(origin)}


def test_without_app_origin_sign_in_lands_on_the_bff_and_posts_are_refused(page_of: Any, shots: Path) -> None:
    """docs/troubleshooting.md's first symptoms, as a user meets them: ``make run`` without
    APP_ORIGIN behind a dev server. Sign-in returns to the BFF's port; back on the dev server the
    page looks signed in (a same-origin GET carries no Origin), but a POST is 403
    origin_not_allowed; on 127.0.0.1 the localhost cookie is not sent, so it looks signed out; and
    a call to the BFF's own origin, past the dev server's proxy, fails without an answer."""
    page = page_of
    with _dev_server(shots, app_origin=False) as (origin, bff, hitkey):
        page.goto(origin + DEEP_LINK)
        page.click("#signin")
        page.wait_for_url(f"{hitkey}/**")
        page.click("#allow")
        page.wait_for_url(bff + DEEP_LINK)  # the BFF's port, not the dev server's

        page.goto(origin + "/")
        expect(page.locator("#user-name")).to_have_text(ADA.name)
        answer = page.evaluate(POST, "/auth/refresh")
        assert answer["status"] == 403 and answer["body"]["error"] == "origin_not_allowed", answer

        page.goto(origin.replace("localhost", "127.0.0.1") + "/")
        expect(page.locator("#signin")).to_be_visible()

        page.goto(origin + "/")
        failed = page.evaluate(CROSS_ORIGIN, f"{bff}/auth/session")
        assert failed.startswith("TypeError"), failed  # what the JS client reports as status 0
