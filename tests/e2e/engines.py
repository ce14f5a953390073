"""The other engines for the browser tests, behind one small interface:

- WebKitGTK (Safari's engine; Debian's ``webkit2gtk-driver``) on an Xvfb display, driven by
  Selenium through ``WebKitWebDriver``;
- Firefox ESR (Debian's ``firefox-esr``), headless, driven through Marionette (``marionette-driver``).

Locally a missing engine skips its tests; with ``CI=true`` that is a failure (``.ci/run`` installs
both with apt-get).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from local.console import free_port
from tests.e2e.conftest import unavailable

WAIT_SECONDS = 15
FIREFOX = "/usr/bin/firefox-esr"
PIP = "pip install -e '.[dev]'"
WEBKIT_INSTALL = f"install it with `apt-get install webkit2gtk-driver xvfb`, and Selenium with `{PIP}`"
FIREFOX_INSTALL = f"install it with `apt-get install firefox-esr`, and marionette-driver with `{PIP}`"


class Engine:
    """One browser window, its own empty cookie jar; the calls the engine tests need."""

    name = ""

    def open(self, url: str) -> None:
        raise NotImplementedError

    def url(self) -> str:
        raise NotImplementedError

    def reload(self) -> None:
        raise NotImplementedError

    def script(self, body: str) -> Any:
        """Run ``body`` (a function body: ``return ...``) in the page."""
        raise NotImplementedError

    def click(self, element_id: str) -> None:
        raise NotImplementedError

    def cookies(self) -> dict[str, dict[str, Any]]:
        """The cookies WebDriver shows for the current page, by name."""
        raise NotImplementedError

    def screenshot(self, path: Path) -> None:
        raise NotImplementedError

    def text(self, element_id: str) -> str:
        return str(self.script(f"return document.getElementById('{element_id}').textContent"))

    def shown(self, element_id: str) -> bool:
        return bool(self.script(f"return document.getElementById('{element_id}').checkVisibility()"))


class WebKit(Engine):
    name = "webkit"

    def __init__(self, driver: Any) -> None:
        from selenium.webdriver.common.by import By

        self.driver, self._by = driver, By
        self.version = str(driver.capabilities.get("browserVersion"))

    def open(self, url: str) -> None:
        self.driver.get(url)

    def url(self) -> str:
        return str(self.driver.current_url)

    def reload(self) -> None:
        self.driver.refresh()

    def script(self, body: str) -> Any:
        return self.driver.execute_script(body)

    def click(self, element_id: str) -> None:
        self.driver.find_element(self._by.ID, element_id).click()

    def cookies(self) -> dict[str, dict[str, Any]]:
        return {cookie["name"]: cookie for cookie in self.driver.get_cookies()}

    def screenshot(self, path: Path) -> None:
        self.driver.save_screenshot(str(path))


class Firefox(Engine):
    name = "firefox"

    def __init__(self, client: Any) -> None:
        from marionette_driver.by import By

        self.client, self._by = client, By
        self.version = str(client.session_capabilities.get("browserVersion"))

    def open(self, url: str) -> None:
        self.client.navigate(url)

    def url(self) -> str:
        return str(self.client.get_url())

    def reload(self) -> None:
        self.client.refresh()

    def script(self, body: str) -> Any:
        return self.client.execute_script(body)

    def click(self, element_id: str) -> None:
        self.client.find_element(self._by.ID, element_id).click()

    def cookies(self) -> dict[str, dict[str, Any]]:
        return {cookie["name"]: cookie for cookie in self.client.get_cookies()}

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.client.screenshot()))


@contextmanager
def xvfb() -> Iterator[str]:
    """A virtual X display (WebKitGTK has no headless mode); yields its ``DISPLAY`` (``:N``)."""
    binary = shutil.which("Xvfb")
    if binary is None:
        unavailable("Xvfb", WEBKIT_INSTALL)
    read, write = os.pipe()
    process = subprocess.Popen(
        [binary, "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(write)
    try:
        with os.fdopen(read, "rb") as announced:
            number = announced.readline().strip().decode()
        if not number.isdigit():
            raise RuntimeError(f"Xvfb announced no display (exit code {process.poll()})")
        yield f":{number}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def webkit(display: str) -> Iterator[WebKit]:
    """A fresh WebKitGTK (MiniBrowser under ``WebKitWebDriver``) on ``display``."""
    try:
        from selenium import webdriver
        from selenium.webdriver.webkitgtk.options import Options
        from selenium.webdriver.webkitgtk.service import Service
    except ImportError:
        unavailable("the selenium package", WEBKIT_INSTALL)
    driver_binary = shutil.which("WebKitWebDriver")
    if driver_binary is None:
        unavailable("WebKitWebDriver", WEBKIT_INSTALL)
    service = Service(executable_path=driver_binary, port=free_port(), env={**os.environ, "DISPLAY": display})
    driver = webdriver.WebKitGTK(options=Options(), service=service)
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield WebKit(driver)
    finally:
        driver.quit()


@contextmanager
def firefox(log: Path) -> Iterator[Firefox]:
    """A fresh headless Firefox ESR with a new profile, under Marionette; its own output goes to ``log``."""
    try:
        from marionette_driver.marionette import Marionette
    except ImportError:
        unavailable("the marionette-driver package", FIREFOX_INSTALL)
    binary = FIREFOX if Path(FIREFOX).is_file() else shutil.which("firefox-esr")
    if binary is None:
        unavailable(f"Firefox ESR ({FIREFOX})", FIREFOX_INSTALL)
    client = Marionette(
        host="127.0.0.1", port=free_port(), bin=binary, headless=True, startup_timeout=60, gecko_log=str(log)
    )
    try:
        client.start_session()
        client.timeout.page_load = WAIT_SECONDS
        yield Firefox(client)
    finally:
        client.cleanup()


def wait_for(what: str, check: Callable[[], Any], seconds: float = WAIT_SECONDS) -> Any:
    """Poll ``check`` until it returns something truthy; fail saying ``what`` did not happen."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # an element not there yet, a page mid-navigation
            last = exc
        else:
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"{what} within {seconds:.0f}s (last: {last!r})")
