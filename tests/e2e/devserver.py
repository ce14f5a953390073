"""What the dev-server recipes' browser tests share: Node.js on PATH (``make node``'s first),
``npm ci`` in an example, and waiting for its dev server to answer.

Without Node.js and npm the tests skip locally and fail under ``CI=true`` (:func:`unavailable`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, unavailable

HOW_TO_INSTALL_NODE = "run `make node` (Node.js with npm from PyPI into .venv-node), or install Node.js 20.19+ with npm"
PROJECT_NODE = ROOT / ".venv-node" / "bin"  # `make node`'s, found first as make itself does
if (PROJECT_NODE / "node").exists() and str(PROJECT_NODE) not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = f"{PROJECT_NODE}{os.pathsep}{os.environ.get('PATH', '')}"


def npm_ci(example: Path, log: Path) -> str:
    """``npm ci`` in ``example`` unless node_modules is already what package-lock.json says;
    returns npm's path. npm's output goes to ``log``."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        unavailable("Node.js and npm", HOW_TO_INSTALL_NODE)
    installed = example / "node_modules" / ".package-lock.json"
    lock = example / "package-lock.json"
    if installed.is_file() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return npm
    print(f"\n==> npm ci in {example.relative_to(ROOT)} (first run: about a minute)", flush=True)
    with log.open("wb") as sink:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=example,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            timeout=600,
            check=False,
        )
    if done.returncode != 0:
        output = log.read_text(errors="replace")
        pytest.fail(f"npm ci failed ({done.returncode}) in {example}:\n{output}", pytrace=False)
    return npm


def wait_http(name: str, url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    """Until ``url`` answers 200; fails with the dev server's log if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{name} exited {process.returncode}:\n{log.read_text(errors='replace')}", pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    output = log.read_text(errors="replace")
    pytest.fail(f"{name} did not answer {url} within {timeout:.0f}s:\n{output}", pytrace=False)
