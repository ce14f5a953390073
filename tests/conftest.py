"""Shared fixtures: an isolated environment, AWS in moto (in-process), the HitKey emulator, and
the BFF under test (the ``bff`` fixture, a :class:`tests.harness.Bff`: its ``Deps`` built here,
directly)."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from hypothesis import settings as hypothesis_settings
from moto import mock_aws

from hitkey_bff.config import Settings
from local.emulator import Emulator
from local.resources import create_resources
from testkit.aws import Aws

if TYPE_CHECKING:
    from tests.harness import Bff

APP_ORIGIN = "https://app.example.com"
REDIRECT_URI = f"{APP_ORIGIN}/auth/callback"
CLIENT_ID = "3f1c2b7a9d8e4f60a1b2c3d4e5f60718"
CLIENT_SECRET = "s3cr3t-client-" + "9" * 40
REGION = "us-east-1"

# Fuzz volume: a quick `dev` profile by default, the full `ci` one where CI=true (1,700 examples
# per fuzz test: over 10,000 events across the six routes). HYPOTHESIS_PROFILE picks one by name.
hypothesis_settings.register_profile("dev", max_examples=100)
hypothesis_settings.register_profile("ci", max_examples=1700)
_PROFILE = "ci" if os.environ.get("CI") == "true" else "dev"
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or _PROFILE)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No real AWS, no endpoint override (mock_aws does not intercept when one is set)."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "HITKEY_")) or name in (
            "REDIRECT_URI",
            "APP_ORIGIN",
            "SESSION_TABLE",
            "KMS_KEY_ID",
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "HitKeyBffTest")
    yield


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto with table, key and secret; the BFF's AWS settings point at them."""
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        resources = create_resources(session, CLIENT_SECRET)
        monkeypatch.setenv("SESSION_TABLE", resources.table)
        monkeypatch.setenv("KMS_KEY_ID", resources.key_id)
        monkeypatch.setenv("HITKEY_CLIENT_SECRET_ARN", resources.secret_id)
        yield Aws(session, resources)


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, aws: Aws) -> Aws:
    """Every required setting, for a HitKey at the default URLs (override HITKEY_* per test)."""
    monkeypatch.setenv("HITKEY_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("REDIRECT_URI", REDIRECT_URI)
    monkeypatch.setenv("APP_ORIGIN", APP_ORIGIN)
    return aws


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """The HitKey emulator over real HTTP on loopback, with the app's client registered."""
    emu = Emulator()
    emu.start("127.0.0.1", 0)
    emu.register_client(
        name="hitkey-bff tests", redirect_uri=REDIRECT_URI, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
    yield emu
    emu.stop()


def settings_for(aws: Aws, emulator: Emulator) -> Settings:
    """The BFF's settings for moto's resources and the emulator (the rest: Settings' defaults)."""
    return Settings(
        client_id=CLIENT_ID,
        client_secret_id=aws.resources.secret_id,
        redirect_uri=REDIRECT_URI,
        app_origin=APP_ORIGIN,
        session_table=aws.resources.table,
        kms_key_id=aws.resources.key_id,
        authorize_url=emulator.authorize_url,
        api_url=emulator.base_url,
    )


@pytest.fixture
def bff(emulator: Emulator, app_env: Aws, monkeypatch: pytest.MonkeyPatch) -> Bff:
    """The BFF under test against moto and the emulator: ``bff.deps``, ``bff.invoke(...)``,
    ``bff.configure(...)``, ``bff.cold()``; the emulator's counters and faults start clean. The
    environment says the same, for tests of ``Deps.from_env``."""
    from tests.harness import Bff

    emulator.reset()
    emulator.access_token_ttl = 3600
    monkeypatch.setenv("HITKEY_AUTHORIZE_URL", emulator.authorize_url)
    monkeypatch.setenv("HITKEY_API_URL", emulator.base_url)
    return Bff(settings_for(app_env, emulator))


@pytest.fixture
def hitkey(emulator: Emulator, bff: Bff) -> Emulator:
    """The HitKey emulator the ``bff`` fixture's BFF signs in with (that BFF is made first)."""
    return emulator


@pytest.fixture
def bff_logs() -> Iterator[io.StringIO]:
    """Every line the BFF's Powertools logger writes, formatted as in Lambda (JSON), whatever
    stream the logger's own handler was bound to when it was first imported."""
    from hitkey_bff.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    target = logging.getLogger(logger.name)
    target.addHandler(handler)
    yield stream
    target.removeHandler(handler)
