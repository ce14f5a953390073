"""``python -m tools.cli sessions list|end`` against the table in moto, sessions opened by the real
callback (operators: ASVS 7.4.2 / 7.4.5)."""

from __future__ import annotations

import json

import pytest

from local.emulator import SEEDED_USERS, Emulator
from tests.conftest import Aws
from tests.harness import SESSION, body, items, signed_in
from tools import cli

ADA, ALAN = SEEDED_USERS[0], SEEDED_USERS[1]


def run(capsys: pytest.CaptureFixture[str], aws: Aws, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # the handlers' own log and metric lines so far
    code = cli.main(["sessions", *args, "--table", aws.resources.table])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_ids_and_devices_never_secrets(
    hitkey: Emulator, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = signed_in(), signed_in()
    signed_in(ALAN.sub)
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


def test_end_one_by_id(hitkey: Emulator, aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = signed_in(), signed_in()
    _, out, _ = run(capsys, aws, "list", "--sub", ADA.sub)
    first = json.loads(out.splitlines()[0])["id"]
    code, out, err = run(capsys, aws, "end", "--sub", ADA.sub, "--id", first)
    assert code == 0 and json.loads(out)["reason"] == "revoked" and "ended 1" in err
    states = [body(x.call("GET /auth/session"))["authenticated"] for x in (a, b)]
    assert sorted(states) == [False, True]


def test_end_all_of_a_user(hitkey: Emulator, aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = signed_in(), signed_in()
    alan = signed_in(ALAN.sub)
    code, out, _ = run(capsys, aws, "end", "--sub", ADA.sub)
    assert code == 0 and [json.loads(x)["reason"] for x in out.splitlines()] == ["revoked", "revoked"]
    assert body(a.call("GET /auth/session")) == body(b.call("GET /auth/session")) == {"authenticated": False}
    assert body(alan.call("GET /auth/session"))["authenticated"] is True


def test_unknown_id_and_missing_table_say_what_to_do(
    hitkey: Emulator, aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_in()
    code, _, err = run(capsys, aws, "end", "--sub", ADA.sub, "--id", "A" * 22)
    assert code == cli.EXIT_FAILED and "sessions list" in err
    assert len(items(aws, "USER#")) == 1
    monkeypatch.delenv("SESSION_TABLE", raising=False)
    assert cli.main(["sessions", "list", "--sub", ADA.sub]) == cli.EXIT_USAGE
    assert "SESSION_TABLE" in capsys.readouterr().err
