"""The original design, re-implemented faithfully for comparison. Benchmarks only.

Source: the original Simple Log Service (github.com/pmguzumbi/simple-log-service):
``terraform/dynamodb.tf`` keys the table by ``service_name`` (partition) and a
numeric ``timestamp`` (sort), with one index ``TimestampIndex`` keyed by
``log_type`` and ``timestamp`` projecting ALL; ``lambda/ingest/index.py``
writes one ``put_item`` per HTTP request, one event per request, through a
boto3 ``Table`` resource; ``lambda/read_recent/index.py`` answers "recent" with
a single ``scan(Limit=limit, FilterExpression=...)``, sorts what that one page
returned and cuts it to ``limit``.

A Scan has no order, so that single page is an arbitrary sample, not the
newest events. ``recent_full_scan`` is what the Scan design must do to be
correct: read every page of the table, then sort.
"""
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from boto3.dynamodb.conditions import Attr

SCHEMA = {
    "hash_key": "service_name",
    "range_key": "timestamp",
    "attributes": [
        {"name": "service_name", "type": "S"},
        {"name": "timestamp", "type": "N"},
        {"name": "log_type", "type": "S"},
    ],
    "global_secondary_indexes": [
        {"name": "TimestampIndex", "hash_key": "log_type", "range_key": "timestamp", "projection_type": "ALL"},
    ],
}
REQUIRED_FIELDS = ("service_name", "log_type", "message")


def create_table(client, table_name):
    client.create_table(
        TableName=table_name,
        AttributeDefinitions=[{"AttributeName": a["name"], "AttributeType": a["type"]} for a in SCHEMA["attributes"]],
        KeySchema=[{"AttributeName": SCHEMA["hash_key"], "KeyType": "HASH"},
                   {"AttributeName": SCHEMA["range_key"], "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {"IndexName": index["name"],
             "KeySchema": [{"AttributeName": index["hash_key"], "KeyType": "HASH"},
                           {"AttributeName": index["range_key"], "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": index["projection_type"]}}
            for index in SCHEMA["global_secondary_indexes"]
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def log_entry(body, timestamp_s=None):
    """The item the original ingest function builds from one request body."""
    for field in REQUIRED_FIELDS:
        if field not in body:
            raise ValueError(f"Missing required field: {field}")
    if timestamp_s is None:
        timestamp_s = datetime.now(UTC).timestamp()
    return {
        "log_id": str(uuid.uuid4()),
        "service_name": body["service_name"],
        "log_type": body["log_type"],
        "timestamp": Decimal(str(timestamp_s)),
        "level": body.get("level", "INFO"),
        "message": body["message"],
        "metadata": body.get("metadata", {}),
    }


def ingest(table, body, timestamp_s=None):
    """One HTTP request of the original: one event, one PutItem."""
    entry = log_entry(body, timestamp_s)
    table.put_item(Item=entry)
    return entry["log_id"]


def _filter(cutoff_s, service_name):
    condition = Attr("timestamp").gte(Decimal(str(cutoff_s)))
    if service_name is not None:
        condition &= Attr("service_name").eq(service_name)
    return condition


def _newest(items, limit):
    return sorted(items, key=lambda item: item["timestamp"], reverse=True)[:limit]


def recent_single_scan(table, limit, cutoff_s, service_name=None):
    """Exactly the original read: one Scan page of ``limit`` items, filtered, sorted."""
    response = table.scan(Limit=limit, FilterExpression=_filter(cutoff_s, service_name))
    return _newest(response.get("Items", []), limit)


def recent_full_scan(table, limit, cutoff_s, service_name=None):
    """The Scan design made correct: every page of the table, then the newest ``limit``."""
    items = []
    request = {"FilterExpression": _filter(cutoff_s, service_name)}
    while True:
        response = table.scan(**request)
        items.extend(response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return _newest(items, limit)
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def partition_keys(entry):
    """``[(where, partition key value)]`` an item's write lands on: the table and each index."""
    keys = [("table", entry[SCHEMA["hash_key"]])]
    for index in SCHEMA["global_secondary_indexes"]:
        keys.append((index["name"], entry[index["hash_key"]]))
    return keys
