"""A Docker daemon to talk to: the one already running, or one started here and stopped again.

A daemon this module starts keeps its images in ``~/.cache/hitkey-bff/docker`` (so the stand-in
Lambda image survives between runs) and listens on a socket of its own; it is stopped when the
run ends, and only if this run started it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from local.console import UserError, say

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hitkey-bff"
RUN_DIR = Path("/tmp/hitkey-bff-docker")  # noqa: S108 - short (a socket path has ~100 bytes); root-owned 0700
OWN_SOCKET = RUN_DIR / "docker.sock"
NO_DOCKER_CLI = "the docker CLI is not installed: install Docker Desktop, or `apt-get install docker.io`"
NO_DAEMON = (
    "no Docker daemon is running. Start Docker (Docker Desktop, or `sudo systemctl start docker`),"
    " or run this as root with dockerd installed (Debian: `apt-get install docker.io`) and"
    " make sam-local starts one itself"
)


@dataclass
class Docker:
    """The ``docker`` CLI bound to one daemon (``env`` carries ``DOCKER_HOST``)."""

    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["docker", *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise UserError(f"docker {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def alive(self) -> bool:
        try:
            return self.run("info", "--format", "{{.ServerVersion}}", check=False, timeout=15).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def has_image(self, tag: str) -> bool:
        return self.run("image", "inspect", tag, check=False).returncode == 0


def _ours() -> Docker:
    return Docker(env={**os.environ, "DOCKER_HOST": f"unix://{OWN_SOCKET}"})


def running() -> Docker | None:
    """The running daemon (``DOCKER_HOST`` or the default socket), else another run's of ours."""
    if Docker().alive():
        return Docker()
    if "DOCKER_HOST" not in os.environ and OWN_SOCKET.exists() and _ours().alive():
        return _ours()  # another run's daemon: use it, leave it running
    return None


@contextlib.contextmanager
def daemon() -> Iterator[Docker]:
    """The running daemon, else one started here (as root, with dockerd) and stopped on exit."""
    found = running()
    if found is not None:
        yield found
        return
    RUN_DIR.mkdir(mode=0o700, exist_ok=True)
    if RUN_DIR.is_symlink() or RUN_DIR.stat().st_uid != 0:
        raise UserError(f"{RUN_DIR} is not root's own directory: remove it and run again")
    RUN_DIR.chmod(0o700)
    (CACHE / "docker").mkdir(parents=True, exist_ok=True)
    log = CACHE / "dockerd.log"
    say(f"starting a Docker daemon (data in {CACHE / 'docker'}, log {log})")
    command = ["dockerd", f"--data-root={CACHE / 'docker'}", f"--exec-root={RUN_DIR / 'exec'}"]
    command += [f"--pidfile={RUN_DIR / 'dockerd.pid'}", f"--host=unix://{OWN_SOCKET}"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while not _ours().alive():
            if process.poll() is not None:
                raise UserError(f"dockerd exited with {process.returncode}: see {log}")
            if time.monotonic() > deadline:
                raise UserError(f"dockerd did not answer within 60 s: see {log}")
            time.sleep(0.5)
        yield _ours()
    finally:
        say(f"stopping the Docker daemon this run started (pid {process.pid})")
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
