"""Create the log table from infra/table_schema.json, the one definition of its keys."""
import json
from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "infra" / "table_schema.json"


def load_schema():
    return json.loads(SCHEMA_PATH.read_text())


def create_table(client, table_name, stream=False):
    """Create the table (on-demand) with its index and TTL; wait until it exists.

    ``stream``: with the stream the archive reads (new images, as infra/dynamodb.tf enables it)."""
    schema = load_schema()
    key_schema = [{"AttributeName": schema["hash_key"], "KeyType": "HASH"},
                  {"AttributeName": schema["range_key"], "KeyType": "RANGE"}]
    indexes = [
        {
            "IndexName": index["name"],
            "KeySchema": [{"AttributeName": index["hash_key"], "KeyType": "HASH"},
                          {"AttributeName": index["range_key"], "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": index["projection_type"],
                           **({"NonKeyAttributes": index["non_key_attributes"]} if "non_key_attributes" in index
                              else {})},
        }
        for index in schema["global_secondary_indexes"]
    ]
    client.create_table(
        TableName=table_name,
        AttributeDefinitions=[{"AttributeName": a["name"], "AttributeType": a["type"]} for a in schema["attributes"]],
        KeySchema=key_schema,
        GlobalSecondaryIndexes=indexes,
        BillingMode="PAY_PER_REQUEST",
        **({"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}} if stream else {}),
    )
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": schema["ttl_attribute"]},
    )
