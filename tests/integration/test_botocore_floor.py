"""The layer on an older botocore than the one it was built with: the Lambda runtime brings its own.

The layer's clients read models trimmed from the dev environment's botocore
(``hitkey_bff/botocore_data``). At ``hitkey_bff.aws.MIN_BOTOCORE`` they read them; one release
older cannot (DynamoDB's endpoint rules take a parameter type it refuses, so no client could be
created), and the clients read that botocore's own models instead. Each case is a fresh process
with that botocore first on its path, signing in and using the session against moto's server and
the HitKey emulator - every AWS operation the BFF makes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hitkey_bff.aws import MIN_BOTOCORE
from tests.integration.test_refresh_race import moto_server

pytestmark = pytest.mark.integration
__all__ = ["moto_server"]
ROOT = Path(__file__).resolve().parents[2]
FLOOR = ".".join(map(str, MIN_BOTOCORE))
BELOW = "1.35.76"  # the release before MIN_BOTOCORE

CHILD = r"""
import json, os, sys
import botocore
from hitkey_bff.aws import AwsClients
from hitkey_bff.config import settings_from
from tests.harness import Bff, signed_in
bff = Bff(settings_from(dict(os.environ)))
browser = signed_in(bff)
routes = ["GET /auth/session", "GET /auth/userinfo", "POST /auth/refresh", "GET /auth/userinfo", "POST /auth/logout"]
statuses = [browser.call(route)["statusCode"] for route in routes]
clients = AwsClients()
encrypted = clients.kms().encrypt(KeyId=os.environ["KMS_KEY_ID"], Plaintext=b"x")["CiphertextBlob"]
print(json.dumps({
    "botocore": botocore.__version__,
    "botocore_path": botocore.__file__,
    "statuses": statuses,
    "encrypted": bool(encrypted),
    "layer_models": not hasattr(clients.dynamodb(), "create_table"),
}))
"""


@pytest.fixture(scope="module")
def botocore_at(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A folder holding boto3 and botocore ``version`` with their dependencies, as a Lambda runtime
    ships them (from PyPI, through pip's cache)."""

    def install(version: str) -> Path:
        target = tmp_path_factory.mktemp(f"botocore-{version}")
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]
        subprocess.run([*pip, f"boto3=={version}", f"botocore=={version}"], check=True, timeout=300)
        return target

    return install


def run_child(site: Path, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    child_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=child_env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    *logs, last = done.stdout.strip().splitlines()
    return json.loads(last), "\n".join(logs)


@pytest.mark.parametrize(("version", "layer_models"), [(FLOOR, True), (BELOW, False)])
def test_the_bff_works_on_the_oldest_botocore_and_older(
    botocore_at: Callable[[str], Path], moto_server: dict[str, str], version: str, layer_models: bool
) -> None:
    site = botocore_at(version)
    result, logs = run_child(site, moto_server)
    assert result["botocore"] == version and result["botocore_path"].startswith(str(site))
    assert result["statuses"] == [200, 200, 200, 200, 204]
    assert result["encrypted"] is True
    assert result["layer_models"] is layer_models
    warned = [json.loads(line) for line in logs.splitlines() if "older than the layer's models" in line]
    if layer_models:
        assert warned == []
    else:
        # once per set of clients: the BFF's, and the one made above for Encrypt
        assert [(w["level"], w["botocore"], w["needed"]) for w in warned] == [("WARNING", BELOW, FLOOR)] * 2
