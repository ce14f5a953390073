"""``python -m tools.cli sessions list|end`` against the table in moto, sessions opened by the real
callback (operators: ASVS 7.4.2 / 7.4.5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from tests.conftest import REGION, Aws
from tests.harness import SESSION, Bff, body, items, signed_in
from tools import cli

ROOT = Path(__file__).resolve().parents[2]

ADA, ALAN = SEEDED_USERS[0], SEEDED_USERS[1]


def run(capsys: pytest.CaptureFixture[str], aws: Aws, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # the handlers' own log and metric lines so far
    code = cli.main(["sessions", *args, "--table", aws.resources.table])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_ids_and_devices_never_secrets(
    bff: Bff, hitkey: Emulator, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = signed_in(bff), signed_in(bff)
    signed_in(bff, ALAN.sub)
    code, out, _ = run(capsys, aws, "list", "--sub", ADA.sub)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 2
    assert all(set(r) == {"id", "device", "created_at", "last_seen_at", "expires_at"} for r in rows)
    for browser in (a, b):
        secret = browser.jar[SESSION].rsplit(".", 1)[1]
        assert secret not in out
    stored = repr(items(aws, "USER#"))
    assert "hkat_" not in out and "hkrt_" not in out and all(r["id"] in stored for r in rows)
    for item in items(aws, "USER#"):  # nor the data key, nor the sealed tokens, nor the sort key hash
        assert str(item["sk"]["S"]).removeprefix("SESSION#") not in out


def test_end_one_by_id(bff: Bff, hitkey: Emulator, aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = signed_in(bff), signed_in(bff)
    _, out, _ = run(capsys, aws, "list", "--sub", ADA.sub)
    first = json.loads(out.splitlines()[0])["id"]
    code, out, err = run(capsys, aws, "end", "--sub", ADA.sub, "--id", first)
    assert code == 0 and json.loads(out)["reason"] == "revoked" and "ended 1" in err
    states = [body(x.call("GET /auth/session"))["authenticated"] for x in (a, b)]
    assert sorted(states) == [False, True]


def test_end_all_of_a_user(bff: Bff, hitkey: Emulator, aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = signed_in(bff), signed_in(bff)
    alan = signed_in(bff, ALAN.sub)
    code, out, _ = run(capsys, aws, "end", "--sub", ADA.sub)
    assert code == 0 and [json.loads(x)["reason"] for x in out.splitlines()] == ["revoked", "revoked"]
    assert body(a.call("GET /auth/session")) == body(b.call("GET /auth/session")) == {"authenticated": False}
    assert body(alan.call("GET /auth/session"))["authenticated"] is True


def test_unknown_id_and_missing_table_say_what_to_do(
    bff: Bff, hitkey: Emulator, aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_in(bff)
    code, _, err = run(capsys, aws, "end", "--sub", ADA.sub, "--id", "A" * 22)
    assert code == cli.EXIT_FAILED and "sessions list" in err
    assert len(items(aws, "USER#")) == 1
    monkeypatch.delenv("SESSION_TABLE", raising=False)
    assert cli.main(["sessions", "list", "--sub", ADA.sub]) == cli.EXIT_USAGE
    assert "SESSION_TABLE" in capsys.readouterr().err


def _no_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """No region anywhere boto3 looks: the variables, nor a config file."""
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    return {k: v for k, v in os.environ.items() if k not in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE")}


def test_no_region_says_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_region(monkeypatch, tmp_path)
    assert cli.main(["sessions", "list", "--sub", ADA.sub, "--table", "t"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "--region" in err and "AWS_DEFAULT_REGION" in err and "Traceback" not in err


def test_no_region_from_the_command_line_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = _no_region(monkeypatch, tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "tools.cli", "sessions", "list", "--sub", ADA.sub, "--table", "t"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == cli.EXIT_USAGE, done.stderr
    assert done.stderr.startswith("error: no AWS region configured") and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_region_flag_reads_the_table_without_a_configured_region(
    bff: Bff,
    hitkey: Emulator,
    aws: Aws,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    signed_in(bff)
    _no_region(monkeypatch, tmp_path)
    capsys.readouterr()
    code = cli.main(["sessions", "list", "--sub", ADA.sub, "--table", aws.resources.table, "--region", REGION])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert len(out.splitlines()) == 1
