"""``make sam-local``: ``sam build`` + ``sam local start-api`` against moto and the emulator.

Environment (optional): ``PORT`` (default 3000) for the API, ``HITKEY_EMULATOR_PORT`` (default: a
free one) for the emulator's sign-in page, ``SAM_LOCAL_PULL=1`` to pull the public Lambda image
instead of building a stand-in, ``SAM_LOCAL_PYTHON`` for the CPython 3.12 the stand-in copies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from types import FrameType

from local.console import UserError, ensure_free, port_from_env, say
from local.samlocal.stack import redact, stack
from local.template import ROOT


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)  # SAM removes its own containers on SIGINT
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _relay(process: subprocess.Popen[str]) -> None:
    """SAM's output to stderr, with the OAuth code and state its request log shows blanked out."""
    assert process.stdout is not None
    for line in process.stdout:
        sys.stderr.write(redact(line))
    sys.stderr.flush()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run() -> int:
    port = port_from_env("PORT", 3000)
    emulator_port = port_from_env("HITKEY_EMULATOR_PORT", 0)
    ensure_free(port, "PORT")
    ensure_free(emulator_port, "HITKEY_EMULATOR_PORT")
    signal.signal(signal.SIGTERM, _interrupt)
    with stack(port, emulator_port=emulator_port) as local:
        template = local.build()
        say(f"sam local start-api on {local.app} (each function's first request builds its container)")
        api = subprocess.Popen(
            local.start_api_command(template),
            cwd=ROOT,
            env=local.sam_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=_relay, args=(api,), daemon=True).start()
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and api.poll() is None:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", local.port), timeout=1):
                    break
                time.sleep(0.5)
            if api.poll() is not None:
                raise UserError(f"sam local start-api exited with {api.returncode}: see its output above")
            print(
                f"sam-local ready: {local.app} - sign in at {local.app}/auth/login"
                f" (HitKey emulator {local.hitkey}); Ctrl-C stops everything",
                flush=True,
            )
            api.wait()
            raise UserError(f"sam local start-api exited with {api.returncode}: see its output above")
        finally:
            _stop(api)


def main() -> int:
    try:
        return run()
    except KeyboardInterrupt:
        say("stopped")
        return 130
    except UserError as error:
        print(f"sam-local: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
