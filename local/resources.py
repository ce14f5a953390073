"""Create the stack's stateful resources - the session table, the KMS key, the client secret -
as ``template.yaml`` declares them, in whatever AWS endpoint boto3 is pointed at (moto).

The table's key schema, attribute definitions, billing mode and TTL are read from the template,
not restated here, so the local stack and the tests cannot drift from what deploys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.template import TEMPLATE, load_template, resource_properties


@dataclass(frozen=True)
class LocalResources:
    """Names of what :func:`create_resources` made."""

    table: str
    key_id: str
    secret_id: str


def create_table(dynamodb: Any, name: str, template: dict[str, Any]) -> None:
    """Create the session table with the template's key schema, billing mode and TTL."""
    props = resource_properties(template, "AWS::DynamoDB::Table")
    dynamodb.create_table(
        TableName=name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
    )
    dynamodb.get_waiter("table_exists").wait(TableName=name)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )


def create_resources(
    session: Any, client_secret: str, *, prefix: str = "hitkey-bff-local", template_path: Path = TEMPLATE
) -> LocalResources:
    """Create table, key (+ alias) and secret through a ``boto3.Session``; returns their ids."""
    template = load_template(template_path)
    table = f"{prefix}-sessions"
    create_table(session.client("dynamodb"), table, template)
    kms = session.client("kms")
    key_props = resource_properties(template, "AWS::KMS::Key")
    key_id = kms.create_key(Description=key_props.get("Description", "hitkey-bff"))["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=f"alias/{prefix}-tokens", TargetKeyId=key_id)
    secret_arn = session.client("secretsmanager").create_secret(
        Name=f"{prefix}/hitkey-client-secret", SecretString=json.dumps({"client_secret": client_secret})
    )["ARN"]
    return LocalResources(table=table, key_id=f"alias/{prefix}-tokens", secret_id=secret_arn)
