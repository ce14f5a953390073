"""A command the tests start in its own process group (``start_new_session=True``), as ``make run``
is: its pipes read while it runs, so a full pipe never stalls it, and Ctrl-C to the whole group to
stop it, as a user stops it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import weakref
from typing import IO, Any

_drained: weakref.WeakSet[subprocess.Popen[Any]] = weakref.WeakSet()  # their pipes belong to drain()


def _read(stream: IO[str], into: list[str]) -> None:
    for line in iter(stream.readline, ""):
        into.append(line)


def drain(process: subprocess.Popen[str], into: list[str]) -> None:
    """Append each line ``process`` writes on its stdout and stderr pipes to ``into`` as it comes,
    on daemon threads, so a test can read its log while it runs."""
    _drained.add(process)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            threading.Thread(target=_read, args=(stream, into), daemon=True).start()


def stop_group(process: subprocess.Popen[Any], timeout: float = 20) -> str:
    """Ctrl-C (SIGINT) to the process group of ``process``, then wait for it while reading its pipes;
    if it has not ended within ``timeout`` seconds, SIGKILL the group and raise ``TimeoutExpired``.

    Returns what it wrote on a stderr pipe from here on ("" when :func:`drain` reads its pipes or
    stderr is not a pipe)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
    try:
        if process in _drained:
            process.wait(timeout=timeout)
            return ""
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
        raise
    return err if isinstance(err, str) else ""
