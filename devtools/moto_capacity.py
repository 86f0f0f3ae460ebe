"""moto's DynamoDB Query and BatchGetItem, charging read units as DynamoDB does.

moto answers ``ReturnConsumedCapacity`` with 1.0 unit for every Query, whatever
it read, and one unit a key for a BatchGetItem. DynamoDB charges a Query for every item it evaluates, the ones its
filter drops included: the items' sizes summed, rounded up to the next 4 KB,
one unit per 4 KB read consistently and half a unit otherwise ("Read
consumption for Query", Amazon DynamoDB Developer Guide). The service's read
budget settles on that figure, and the benchmarks count it from the wire, so
``make_faithful()`` makes moto report it, for the tests (moto in-process) and
the benchmarks alike. A BatchGetItem reads each item separately: each key is
charged its whole item's size (whatever the projection) rounded up to 4 KB, at
least one 4 KB, found or not.
"""
import functools
import inspect
import math
import threading

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler

from chalicelib.repository import READ_UNIT_BYTES

_charged = threading.local()


def _charging(query):
    """The backend's Query, evaluating without the filter first so that every evaluated item is charged."""
    signature = inspect.signature(query)

    @functools.wraps(query)
    def charged(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()
        given = dict(call.arguments)
        call.arguments.update(filter_expression=None, projection_expressions=None)
        evaluated, scanned, last_key = query(*call.args, **call.kwargs)
        size = sum(item.size() for item in evaluated)
        _charged.units = math.ceil(size / READ_UNIT_BYTES) / (1 if given["consistent_read"] else 2)
        kept = evaluated
        if given["filter_expression"]:
            condition = get_filter_expression(given["filter_expression"], given["expr_names"], given["expr_values"])
            kept = [item for item in evaluated if condition.expr(item)]
        if given["projection_expressions"]:
            kept = [item.project(given["projection_expressions"]) for item in kept]
        return kept, scanned, last_key

    charged.charged = True
    return charged


def _reporting(handler):
    """The Query handler, answering ``ConsumedCapacity`` with what the backend charged."""

    @functools.wraps(handler)
    def reported(self):
        _charged.units = None
        result = handler(self)
        capacity = result.result.get("ConsumedCapacity")
        if capacity is not None and _charged.units is not None:
            capacity["CapacityUnits"] = _charged.units
            if "Table" in capacity:
                capacity["Table"]["CapacityUnits"] = _charged.units
        return result

    reported.charged = True
    return reported


def _charging_batch_get(handler):
    """The BatchGetItem handler, answering ``ConsumedCapacity`` with DynamoDB's units for the keys it read."""

    @functools.wraps(handler)
    def reported(self):
        result = handler(self)
        for use in result.result.get("ConsumedCapacity", []):
            name, read = use["TableName"], self.body["RequestItems"][use["TableName"]]
            left = result.result.get("UnprocessedKeys", {}).get(name, {}).get("Keys", [])
            sizes = [self.dynamodb_backend.get_item(name, key) for key in read["Keys"] if key not in left]
            use["CapacityUnits"] = sum(max(1, math.ceil((item.size() if item else 0) / READ_UNIT_BYTES))
                                       for item in sizes) / (1 if read.get("ConsistentRead") else 2)
        return result

    reported.charged = True
    return reported


def make_faithful():
    """Make moto's Query and BatchGetItem report DynamoDB's read units in this process (idempotent)."""
    if not getattr(DynamoDBBackend.query, "charged", False):
        DynamoDBBackend.query = _charging(DynamoDBBackend.query)
    if not getattr(DynamoHandler.query, "charged", False):
        DynamoHandler.query = _reporting(DynamoHandler.query)
    if not getattr(DynamoHandler.batch_get_item, "charged", False):
        DynamoHandler.batch_get_item = _charging_batch_get(DynamoHandler.batch_get_item)
