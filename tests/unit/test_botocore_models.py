"""The layer's botocore data folder: generated from botocore's, read by every client the layer
creates, and resolving endpoints exactly as botocore's own data does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest
from botocore.config import Config

from hitkey_bff.aws import OPERATIONS, AwsClients, data_loader
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
