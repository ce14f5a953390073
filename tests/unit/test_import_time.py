"""Import-time budget of each Lambda handler, as module names and counts (no clock).

What a function imports before its first event is cold-start time paid on every new instance.
Each function's ``app`` is imported in a fresh ``python -X importtime`` with only
``functions/<name>`` and ``layers/bff`` on ``sys.path`` (as Lambda does); the test reads which
modules were imported and guards three things:

* the session function (login, session, sessions, logout: they never talk to HitKey or decrypt
  tokens) does not pull in ``httpx`` or ``cryptography``; no function imports them at import time
  at all, but for the token function's httpx (:data:`ALLOWED_AT_IMPORT`);
* with tracing off (the template's default) no handler imports ``aws_xray_sdk``;
* the number of modules in ``sys.modules`` after the import stays under a ceiling: today's count
  plus a margin. A new top-level import of a heavy package (pydantic, ...) blows it.

Counts, not seconds: a count is stable across machines and runs, a timing assert is not.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from testkit.functions import FUNCTIONS_DIR, LAYER_DIR

FUNCTIONS = sorted(p.name for p in FUNCTIONS_DIR.iterdir() if (p / "app.py").is_file())
# Measured on CPython 3.11/3.12 with tracing off: 195-200 modules (the interpreter's own ~30
# included). The margin absorbs a stdlib version's differences, not a new dependency.
MODULE_CEILING = 240
MODULE_CEILINGS = {"token": 330}  # httpx and its stack (anyio, httpcore, h11, idna, certifi): 290 today
NEVER_AT_IMPORT = ("httpx", "cryptography", "boto3")
# Every route of the token function calls HitKey or an upstream over httpx on its first request
# (the API proxy imports it with its module): importing it in the init phase (which Lambda runs at
# full CPU) costs nothing a first request would not pay anyway.
ALLOWED_AT_IMPORT = {"token": {"httpx"}}


def _import(function: str, *, tracing: bool) -> tuple[set[str], int]:
    """The modules ``-X importtime`` reports for ``import app``, and ``len(sys.modules)`` after."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(FUNCTIONS_DIR / function), str(LAYER_DIR)]),
        "AWS_DEFAULT_REGION": "us-east-1",
        "TRACING": "true" if tracing else "false",
    }
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sys, app; print(len(sys.modules))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    modules: set[str] = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                modules.add(name)
    return modules, int(proc.stdout.strip())


def _top(modules: set[str]) -> set[str]:
    return {m.split(".", 1)[0] for m in modules}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handler_import_stays_light(function: str) -> None:
    modules, count = _import(function, tracing=False)
    assert "hitkey_bff" in _top(modules), "the measurement did not import the layer"
    heavy = _top(modules) & set(NEVER_AT_IMPORT) - ALLOWED_AT_IMPORT.get(function, set())
    assert not heavy, f"{function} imports {sorted(heavy)} at import time: import it where it is used"
    assert "aws_xray_sdk" not in _top(modules), f"{function} imports the X-Ray SDK with tracing off"
    ceiling = MODULE_CEILINGS.get(function, MODULE_CEILING)
    assert count <= ceiling, f"{function} leaves {count} modules in sys.modules (ceiling {ceiling})"


def test_tracing_on_does_import_xray() -> None:
    """The counter-check: the measurement sees aws_xray_sdk when tracing is on, so its absence above means something."""
    modules, _ = _import("session", tracing=True)
    assert "aws_xray_sdk" in _top(modules)


def test_function_list_is_complete() -> None:
    assert set(FUNCTIONS) == {"authorizer", "session", "token"}
