"""``python -m tools.cli register-client``: HitKey (the emulator, over real HTTP) to Secrets Manager (moto)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from local.emulator import Emulator
from tools import cli

pytestmark = pytest.mark.integration

ADMIN = "cli-test-admin-token"
REDIRECT = "https://app.example.com/auth/callback"
SECRET_NAME = "hitkey-bff/client-secret"
REGION = "eu-west-1"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, a region, no endpoint override (mock_aws ignores one) and no config files."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("HITKEY_API_URL", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HITKEY_TOKEN", ADMIN)


@pytest.fixture
def hitkey() -> Iterator[Emulator]:
    emulator = Emulator(admin_token=ADMIN)
    emulator.start("127.0.0.1", 0)
    yield emulator
    emulator.stop()


@pytest.fixture
def secretsmanager() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def run(hitkey: Emulator, *extra: str, secret_id: str = SECRET_NAME, aws: Any = None) -> int:
    argv = ["register-client", "--name", "Demo App", "--redirect-uri", REDIRECT]
    return cli.main([*argv, "--api-url", hitkey.base_url, "--secret-id", secret_id, *extra], aws=aws)


def stored_secret(secretsmanager: Any, secret_id: str = SECRET_NAME) -> str:
    value: str = json.loads(secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"])["client_secret"]
    return value


def printed(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)


def authenticates(hitkey: Emulator, client_id: str, client_secret: str) -> bool:
    """Whether HitKey accepts these client credentials (a bogus code then fails as invalid_grant)."""
    grant = {
        "grant_type": "authorization_code",
        "code": "hkac_bogus",
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": REDIRECT,
    }
    error = httpx.post(hitkey.base_url + "/oauth/token", json=grant, timeout=5).json()["error"]
    return bool(error == "invalid_grant")


def assert_one_line_error(err: str, *phrases: str) -> None:
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in err


def no_secrets(secretsmanager: Any) -> bool:
    return not secretsmanager.list_secrets()["SecretList"]


# -- success ---------------------------------------------------------------------------------


def test_creates_the_secret_and_never_prints_it(
    hitkey: Emulator, secretsmanager: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(hitkey) == 0

    out, err = capsys.readouterr()
    fields = printed(out)
    secret = stored_secret(secretsmanager)
    assert authenticates(hitkey, fields["client_id"], secret)
    assert fields["redirect_uri"] == REDIRECT
    assert fields["secret_arn"] == secretsmanager.describe_secret(SecretId=SECRET_NAME)["ARN"]
    assert "client_secret" not in fields
    assert secret not in out + err
    assert hitkey.counters["clients"] == 1


def test_updates_an_existing_secret_by_arn(
    hitkey: Emulator, secretsmanager: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = secretsmanager.create_secret(Name="stack-client-secret", SecretString='{"client_secret": ""}')["ARN"]

    assert run(hitkey, secret_id=arn) == 0

    out, err = capsys.readouterr()
    secret = stored_secret(secretsmanager, arn)
    assert printed(out)["secret_arn"] == arn
    assert authenticates(hitkey, printed(out)["client_id"], secret)
    assert len(secretsmanager.list_secrets()["SecretList"]) == 1
    assert secret not in out + err


def test_show_secret_prints_it(hitkey: Emulator, secretsmanager: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(hitkey, "--show-secret") == 0

    assert printed(capsys.readouterr().out)["client_secret"] == stored_secret(secretsmanager)


def test_api_url_defaults_to_hitkey_api_url(
    hitkey: Emulator, secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HITKEY_API_URL", hitkey.base_url + "/")
    argv = ["register-client", "--name", "Demo", "--redirect-uri", REDIRECT, "--secret-id", SECRET_NAME]

    assert cli.main(argv) == 0

    assert hitkey.counters["clients"] == 1


# -- usage and configuration -----------------------------------------------------------------


def test_missing_hitkey_token_is_a_usage_error(
    hitkey: Emulator, secretsmanager: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HITKEY_TOKEN")

    assert run(hitkey) == 2

    assert_one_line_error(capsys.readouterr().err, "HITKEY_TOKEN", "export")
    assert hitkey.counters["clients"] == 0
    assert no_secrets(secretsmanager)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["register-client", "--name", "X", "--redirect-uri", REDIRECT],
        ["register-client", "--name", "X", "--redirect-uri", "/auth/callback", "--secret-id", "s"],
        ["register-client", "--name", "X", "--redirect-uri", REDIRECT, "--secret-id", "s", "--api-url", "ftp://h"],
        ["register-client", "--name", " ", "--redirect-uri", REDIRECT, "--secret-id", "s"],
    ],
)
def test_usage_errors_exit_2_without_calling_anything(
    hitkey: Emulator, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2

    assert "Traceback" not in capsys.readouterr().err
    assert hitkey.counters["clients"] == 0


def test_missing_aws_credentials_fail_before_registering(
    hitkey: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    assert run(hitkey) == 2

    assert_one_line_error(capsys.readouterr().err, "AWS credentials")
    assert hitkey.counters["clients"] == 0


def test_missing_aws_region_fails_before_registering(
    hitkey: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)

    assert run(hitkey) == 2

    assert_one_line_error(capsys.readouterr().err, "AWS_REGION")
    assert hitkey.counters["clients"] == 0


def test_unknown_secret_arn_fails_before_registering(
    hitkey: Emulator, secretsmanager: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:nope-AbCdEf"

    assert run(hitkey, secret_id=arn) == 2

    assert_one_line_error(capsys.readouterr().err, arn)
    assert hitkey.counters["clients"] == 0


def test_secret_scheduled_for_deletion_fails_before_registering(
    hitkey: Emulator, secretsmanager: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    secretsmanager.create_secret(Name=SECRET_NAME, SecretString="{}")
    secretsmanager.delete_secret(SecretId=SECRET_NAME, RecoveryWindowInDays=7)

    assert run(hitkey) == 1

    assert_one_line_error(capsys.readouterr().err, "restore-secret")
    assert hitkey.counters["clients"] == 0


# -- HitKey failures -------------------------------------------------------------------------


def test_rejected_token(
    hitkey: Emulator, secretsmanager: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HITKEY_TOKEN", "expired-token")

    assert run(hitkey) == 1

    err = capsys.readouterr().err
    assert_one_line_error(err, "HITKEY_TOKEN", "HTTP 401")
    assert "expired-token" not in err
    assert no_secrets(secretsmanager)


@pytest.mark.parametrize(
    ("kind", "phrase"),
    [
        ("error500", "HTTP 500"),
        ("html", "HTTP 502"),
        ("malformed", "unexpected body"),
        ("invalid_grant", "HTTP 400: invalid_grant"),
    ],
)
def test_hitkey_failures_exit_1_and_store_nothing(
    hitkey: Emulator, secretsmanager: Any, capsys: pytest.CaptureFixture[str], kind: str, phrase: str
) -> None:
    hitkey.inject_fault("clients", kind)

    assert run(hitkey) == 1

    assert_one_line_error(capsys.readouterr().err, phrase)
    assert no_secrets(secretsmanager)


def test_hitkey_timeout(hitkey: Emulator, secretsmanager: Any, capsys: pytest.CaptureFixture[str]) -> None:
    hitkey.inject_fault("clients", "hang", seconds=1)

    assert run(hitkey, "--timeout", "0.3") == 1

    assert_one_line_error(capsys.readouterr().err, "did not answer within 0.3 s")
    assert no_secrets(secretsmanager)


def test_unreachable_hitkey(secretsmanager: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["register-client", "--name", "X", "--redirect-uri", REDIRECT, "--secret-id", SECRET_NAME]

    assert cli.main([*argv, "--api-url", f"http://127.0.0.1:{port}"]) == 1

    assert_one_line_error(capsys.readouterr().err, "could not reach HitKey", "--api-url")


# -- AWS failure after registering -----------------------------------------------------------


@pytest.fixture
def put_denied(secretsmanager: Any) -> boto3.session.Session:
    """moto's Secrets Manager, but writes answer AccessDeniedException (reads still work)."""

    def deny(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        parsed = {
            "Error": {"Code": "AccessDeniedException", "Message": "not authorized"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return AWSResponse("", 400, {}, None), parsed

    session = boto3.session.Session()
    for operation in ("PutSecretValue", "CreateSecret"):
        session.events.register(f"before-call.secrets-manager.{operation}", deny)
    return session


@pytest.mark.parametrize("show_secret", [False, True])
def test_store_failure_names_the_client_to_clean_up(
    hitkey: Emulator,
    secretsmanager: Any,
    put_denied: boto3.session.Session,
    capsys: pytest.CaptureFixture[str],
    show_secret: bool,
) -> None:
    assert run(hitkey, *(["--show-secret"] if show_secret else []), aws=put_denied) == 1

    out, err = capsys.readouterr()
    [client] = hitkey.clients
    assert_one_line_error(err, client["client_id"], "AccessDeniedException", "delete that client")
    assert (client["client_secret"] in out) is show_secret
    assert client["client_secret"] not in err
    assert no_secrets(secretsmanager)


# -- entry point -----------------------------------------------------------------------------


def test_runs_as_a_module() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "layers" / "bff"), str(REPO_ROOT)])}

    result = subprocess.run(
        [sys.executable, "-m", "tools.cli", "register-client", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0
    assert "--secret-id" in result.stdout
    assert "--show-secret" in result.stdout


# -- refusals ---------------------------------------------------------------------------------


def test_refuses_to_overwrite_a_stored_secret_without_force(
    hitkey: Emulator, secretsmanager: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A re-run would swap a live client's secret: refused before HitKey is called."""
    live = '{"client_secret": "live-secret"}'
    arn = secretsmanager.create_secret(Name="stack-client-secret", SecretString=live)["ARN"]
    hitkey.reset_counters()
    assert run(hitkey, secret_id=arn) == 1
    assert_one_line_error(capsys.readouterr().err, "--force")
    assert secretsmanager.get_secret_value(SecretId=arn)["SecretString"] == live
    assert hitkey.counters.get("clients", 0) == 0
    assert run(hitkey, "--force", secret_id=arn) == 0
    assert stored_secret(secretsmanager, arn) != "live-secret"


@pytest.mark.parametrize(
    ("option", "url"),
    [
        ("--api-url", "http://api.hitkey.example"),
        ("--redirect-uri", "http://app.example.com/auth/callback"),
    ],
)
def test_refuses_plain_http_unless_loopback(
    hitkey: Emulator, secretsmanager: Any, capsys: pytest.CaptureFixture[str], option: str, url: str
) -> None:
    argv = ["register-client", "--name", "Demo App", "--secret-id", SECRET_NAME]
    args = {"--redirect-uri": REDIRECT, "--api-url": hitkey.base_url, option: url}
    hitkey.reset_counters()
    assert cli.main([*argv, *(x for pair in args.items() for x in pair)]) == 2
    assert_one_line_error(capsys.readouterr().err, "https://")
    assert hitkey.counters.get("clients", 0) == 0 and no_secrets(secretsmanager)


def test_plain_http_to_loopback_is_allowed(hitkey: Emulator, secretsmanager: Any) -> None:
    argv = ["register-client", "--name", "Demo App", "--redirect-uri", "http://localhost:4500/auth/callback"]
    assert cli.main([*argv, "--api-url", hitkey.base_url, "--secret-id", SECRET_NAME]) == 0
