"""Create the stack's stateful resources - the session table, the KMS key, the client secret -
as ``template.yaml`` declares them, in whatever AWS endpoint boto3 is pointed at (moto).

The table's key schema, attribute definitions, billing mode and TTL are read from the template,
not restated here, so the local stack and the tests cannot drift from what deploys.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from local.template import load_template, resource_properties


class LocalResources(NamedTuple):
    """Names of what :func:`create_resources` made."""

    table: str
    key_id: str
    secret_id: str


def create_resources(session: Any, client_secret: str, *, prefix: str = "hitkey-bff-local") -> LocalResources:
    """Create the table (the template's key schema, billing mode and TTL), the key (+ alias) and the
    secret through a ``boto3.Session``; returns their ids."""
    template = load_template()
    table, alias = f"{prefix}-sessions", f"alias/{prefix}-tokens"
    props = resource_properties(template, "AWS::DynamoDB::Table")
    dynamodb = session.client("dynamodb")
    billing = props.get("BillingMode", "PAY_PER_REQUEST")
    schema = {name: props[name] for name in ("KeySchema", "AttributeDefinitions")}
    dynamodb.create_table(TableName=table, BillingMode=billing, **schema)
    dynamodb.get_waiter("table_exists").wait(TableName=table)
    if (ttl := props.get("TimeToLiveSpecification") or {}).get("Enabled"):
        dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=ttl)
    kms = session.client("kms")
    description = resource_properties(template, "AWS::KMS::Key").get("Description", "hitkey-bff")
    key_id = kms.create_key(Description=description)["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    secret = session.client("secretsmanager").create_secret(
        Name=f"{prefix}/hitkey-client-secret", SecretString=json.dumps({"client_secret": client_secret})
    )
    return LocalResources(table, alias, secret["ARN"])
