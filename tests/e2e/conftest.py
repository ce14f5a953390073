"""Fixtures for the browser tests: the ``make run`` stack as a subprocess, Debian's Chromium
driven by Playwright, and a folder for the screenshots.

Locally the tests skip when Chromium or Playwright is missing; with ``CI=true`` that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from local.console import free_port
from testkit.processes import stop_group

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "out" / "e2e"
TIMEOUT_MS = 15_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps dialling Google services, which a closed network refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_taken: list[Path] = []  # set when this run takes screenshots, for the terminal summary
HOW_TO_INSTALL = (
    "install Chromium with `sudo apt-get install chromium` (Debian/Ubuntu) "
    "and Playwright with `pip install -e '.[dev]'`"
)


def unavailable(what: str, how: str = HOW_TO_INSTALL) -> NoReturn:
    """Skip locally; fail in CI (``CI=true``), where the browser tests must run."""
    message = f"browser tests need {what}: {how}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def find_chromium() -> str | None:
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@dataclass(frozen=True)
class Stack:
    app: str  # http://localhost:P (no trailing slash)
    hitkey: str  # the emulator's base, http://127.0.0.1:Q
    log: Path


def _wait_ready(process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> str:
    """Poll the log (stdout and stderr both go there) for the ready line; returns the whole log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if re.search(r"ready .*open http://localhost:\d+/", text):
            return text
        if process.poll() is not None:
            pytest.fail(f"make run exited {process.returncode} before it was ready:\n{text}", pytrace=False)
        time.sleep(0.1)
    pytest.fail(f"make run printed no ready line within {timeout:.0f}s:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def shots() -> Path:
    """``out/e2e/`` (git-ignored), emptied of the previous run's screenshots."""
    OUT.mkdir(parents=True, exist_ok=True)
    for old in [*OUT.glob("[0-9][0-9]-*.png"), *OUT.glob("failed-*.png")]:
        old.unlink()
    print(f"\ne2e screenshots: {OUT}")
    _taken.append(OUT)
    return OUT


@contextmanager
def make_run(log: Path, env: Mapping[str, str]) -> Iterator[str]:
    """``make run`` as a user starts it, with ``env`` added; yields its output up to the ready line."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HITKEY_"))}
    clean.pop("APP_ORIGIN", None)
    clean.update(env)
    with log.open("wb") as sink:  # a file, not a pipe: the access log never blocks the stack
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PYTHON={sys.executable}", f"VENV={Path(sys.prefix)}"],
            cwd=ROOT,
            env=clean,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield _wait_ready(process, log)
    finally:
        stop_group(process)


def hitkey_of(text: str) -> str:
    hitkey = re.search(r"HitKey emulator on (http://\S+)", text)
    assert hitkey, f"no 'HitKey emulator on' line in the stack's output:\n{text}"
    return hitkey.group(1).rstrip("/")


@pytest.fixture(scope="module")
def stack(shots: Path) -> Iterator[Stack]:
    """``make run`` exactly as a user starts it: app on http://localhost:P, emulator on 127.0.0.1."""
    port = free_port()
    log = shots / "stack.log"
    with make_run(log, {"PORT": str(port)}) as text:
        yield Stack(f"http://localhost:{port}", hitkey_of(text), log)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, launched by Playwright (its own browser download is not used)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package")
    executable = find_chromium()
    if executable is None:
        unavailable("Chromium (/usr/bin/chromium, or `chromium` on PATH)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        print(f"\nChromium {chromium.version} at {executable}")
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _taken and any(OUT.glob("[0-9][0-9]-*.png")):
        terminalreporter.write_line(f"e2e screenshots: {OUT}")
