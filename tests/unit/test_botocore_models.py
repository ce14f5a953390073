"""The layer's botocore data folder: generated from botocore's, read by every client the layer
creates, and resolving endpoints exactly as botocore's own data does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest
from botocore.config import Config

from hitkey_bff.aws import MIN_BOTOCORE, OPERATIONS, AwsClients, data_loader, reads_layer_models
from tools import botocore_models


def test_the_folder_is_what_the_generator_gives() -> None:
    diff = botocore_models.differences()
    assert not diff, (
        f"layers/bff/hitkey_bff/botocore_data differs from botocore {botocore.__version__}'s "
        f"({', '.join(diff)}): run `python -m tools.botocore_models`"
    )


def test_writing_gives_a_folder_the_check_accepts_and_drops_stale_files(tmp_path: Path) -> None:
    (tmp_path / "sqs" / "2012-11-05").mkdir(parents=True)
    (tmp_path / "sqs" / "2012-11-05" / "service-2.json").write_text("{}")
    (tmp_path / "endpoints.json").write_text("{}")
    assert botocore_models.differences(tmp_path)[:2] == ["sqs/2012-11-05/service-2.json: extra", "_retry.json: missing"]

    written = botocore_models.write(tmp_path)

    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == written
    assert botocore_models.differences(tmp_path) == []
    assert not (tmp_path / "sqs").exists()


@pytest.mark.parametrize("service", sorted(OPERATIONS))
def test_the_layers_clients_have_only_the_operations_it_calls(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = getattr(AwsClients(), service)()
    names = set(client.meta.service_model.operation_names)
    discovery = {"DescribeEndpoints"} if service == "dynamodb" else set()
    assert names == set(OPERATIONS[service]) | discovery
    # every error of the full model is still a class of its own (client.exceptions unchanged)
    full = botocore.session.get_session().create_client(service, region_name="us-east-1")
    assert set(client.exceptions._code_to_exception) == set(full.exceptions._code_to_exception)


def _endpoint(session: Any, service: str, region: str, **config: Any) -> tuple[object, ...]:
    client = session.create_client(service, region_name=region, config=Config(**config))
    operation = client.meta.service_model.operation_model(OPERATIONS[service][0])
    params = {"TableName": "sessions", "KeyId": "alias/k", "SecretId": "s", "Key": {}, "CiphertextBlob": b"x"}
    resolved = client._ruleset_resolver.construct_endpoint(operation, params, {})
    return client.meta.endpoint_url, client.meta.region_name, resolved.url, resolved.properties


@pytest.mark.parametrize("service", sorted(OPERATIONS))
@pytest.mark.parametrize("region", ["us-east-1", "eu-central-1", "cn-north-1", "us-gov-west-1"])
@pytest.mark.parametrize("config", [{}, {"use_fips_endpoint": True}, {"use_dualstack_endpoint": True}])
def test_endpoints_resolve_as_with_botocores_own_data(
    service: str, region: str, config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ACCOUNT_ID", "123456789012")  # DynamoDB's account-based endpoints
    ours = botocore.session.get_session()
    ours.register_component("data_loader", data_loader())
    assert _endpoint(ours, service, region, **config) == _endpoint(
        botocore.session.get_session(), service, region, **config
    )


@pytest.mark.parametrize(
    ("version", "reads"),
    [
        ("1.35.77", True),
        ("1.35.76", False),
        ("1.36.0", True),
        ("1.34.162", False),
        ("2.0.0", True),
        ("1.35.80rc1", True),
        ("unknown", False),
    ],
)
def test_which_botocore_reads_the_layers_models(version: str, reads: bool) -> None:
    assert reads_layer_models(version) is reads


def test_the_installed_botocore_reads_them_and_the_docs_name_the_oldest_that_does() -> None:
    assert reads_layer_models(botocore.__version__)
    floor = ".".join(map(str, MIN_BOTOCORE))
    performance = (Path(__file__).resolve().parents[2] / "docs" / "performance.md").read_text(encoding="utf-8")
    assert f"botocore {floor} (December 2024) and later read it" in " ".join(performance.split())
