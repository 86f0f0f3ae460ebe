"""Count what a boto3 DynamoDB client really does, from botocore's own events.

The meter never asks the service for its counters: it hooks the client that
the service uses (``after-call.dynamodb`` for results, ``before-parameter-build``
for what was sent), so a figure is what went over the wire to DynamoDB.
"""
import threading
from collections import Counter

READ_OPERATIONS = ("Query", "Scan")
WRITE_OPERATIONS = ("PutItem", "BatchWriteItem", "UpdateItem", "DeleteItem", "TransactWriteItems")


class DynamoDBMeter:
    """Calls per operation, ``ScannedCount`` and read units (``ConsumedCapacity``) summed over reads, keys
    looked up, and every item written."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def attach(self, client):
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)
        return self

    def reset(self):
        with self._lock:
            self.calls = Counter()
            self.scanned = 0
            self.read_units = 0
            self.returned = 0
            self.keys_read = 0
            self.written = []

    @property
    def read_calls(self):
        return sum(self.calls[operation] for operation in READ_OPERATIONS)

    @property
    def write_calls(self):
        return sum(self.calls[operation] for operation in WRITE_OPERATIONS)

    def _before(self, params, model, context, **_):
        context["bench_params"] = params
        if model.name in READ_OPERATIONS:
            # Storage reports what a read consumed only when asked, whether or not the service asks.
            params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def _after(self, http_response, parsed, model, context, **_):
        if http_response.status_code >= 300:
            return
        operation = model.name
        params = context.get("bench_params", {})
        with self._lock:
            self.calls[operation] += 1
            if operation in READ_OPERATIONS:
                self.scanned += parsed.get("ScannedCount", 0)
                self.read_units += (parsed.get("ConsumedCapacity") or {}).get("CapacityUnits", 0)
                self.returned += parsed.get("Count", 0)
            elif operation == "PutItem":
                self.written.append((params["TableName"], params["Item"]))
            elif operation == "BatchWriteItem":
                self.written.extend(_stored_puts(params, parsed))
            elif operation == "BatchGetItem":
                self.keys_read += _keys_read(params, parsed)
                # A read's packs fetched by key (the service asks for their capacity; a write's dedupe does not).
                self.read_units += sum(use.get("CapacityUnits", 0) for use in parsed.get("ConsumedCapacity") or [])


def _keys_read(params, parsed):
    """Keys of a BatchGetItem that DynamoDB read (asked for, less those handed back unprocessed)."""
    unprocessed = parsed.get("UnprocessedKeys") or {}
    return sum(len(request["Keys"]) - len(unprocessed.get(table, {}).get("Keys", []))
               for table, request in params["RequestItems"].items())


def _stored_puts(params, parsed):
    """``(table, item)`` for every put of a BatchWriteItem that DynamoDB did not hand back unprocessed."""
    unprocessed = parsed.get("UnprocessedItems") or {}
    for table, requests in params["RequestItems"].items():
        left = [request["PutRequest"]["Item"] for request in unprocessed.get(table, []) if "PutRequest" in request]
        for request in requests:
            item = request.get("PutRequest", {}).get("Item")
            if item is not None and item not in left:
                yield table, item
