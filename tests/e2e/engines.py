"""The other engines for the browser tests: WebKitGTK (Safari's engine, Debian's
``webkit2gtk-driver``) on an Xvfb display, driven by Selenium through ``WebKitWebDriver``.

Locally a missing engine skips its tests; with ``CI=true`` that is a failure (``.ci/run`` installs
them with apt-get).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from local.stack import free_port
from tests.e2e.conftest import unavailable

WAIT_SECONDS = 15
WEBKIT_INSTALL = "install it with `apt-get install webkit2gtk-driver xvfb` and Selenium with `pip install -e '.[dev]'`"


@contextmanager
def xvfb() -> Iterator[str]:
    """A virtual X display for the engines that need one; yields its ``DISPLAY`` (``:N``)."""
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
def webkit(display: str) -> Iterator[Any]:
    """A fresh WebKitGTK (MiniBrowser under ``WebKitWebDriver``), its own empty cookie jar."""
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
        yield driver
    finally:
        driver.quit()


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
