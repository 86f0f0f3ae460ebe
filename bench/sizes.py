"""Item sizes and write request units by DynamoDB's published rules.

Source: "DynamoDB item sizes and formats" (Amazon DynamoDB Developer Guide,
CapacityUnitCalculations): an item's size is the sum of its attribute names'
and values' UTF-8 lengths; a number is 1 byte per two significant digits plus
1; binary is its raw length; null and boolean are 1 byte; a list or map costs
3 bytes plus its elements, each element 1 byte more. One standard write
request unit writes up to 1 KB; a larger item takes one unit per started KB.
Every global secondary index whose key attributes the item carries takes a
write of the projected item as well ("Global secondary indexes: provisioned
throughput considerations"). Storage is billed on each item's size plus 100
bytes of overhead, in the table and again in every index that holds it
("Amazon DynamoDB pricing", data storage; "Storage considerations for global
secondary indexes").
"""
import base64
import math

WRITE_UNIT_BYTES = 1024
STORAGE_OVERHEAD_BYTES = 100


def _number_size(text):
    digits = text.lstrip("+-").lower().split("e")[0].replace(".", "").strip("0")
    return math.ceil(max(1, len(digits)) / 2) + 1


def value_size(value):
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode("utf-8"))
    if kind == "N":
        return _number_size(data)
    if kind == "B":
        return len(data if isinstance(data, bytes) else base64.b64decode(data))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(member.encode("utf-8")) for member in data)
    if kind == "NS":
        return sum(_number_size(member) for member in data)
    if kind == "BS":
        return sum(value_size({"B": member}) for member in data)
    if kind == "L":
        return 3 + sum(value_size(member) + 1 for member in data)
    if kind == "M":
        return 3 + sum(len(name.encode("utf-8")) + value_size(member) + 1 for name, member in data.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item):
    """Bytes of an item in DynamoDB's wire format (``{"name": {"S": "..."}}``)."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size_bytes):
    return max(1, math.ceil(size_bytes / WRITE_UNIT_BYTES))


def index_entry(item, index, schema):
    """The item as a global secondary index stores it, or None if it lacks the index's keys."""
    keys = [index["hash_key"]] + ([index["range_key"]] if index.get("range_key") else [])
    if any(key not in item for key in keys):
        return None
    if index["projection_type"] == "ALL":
        return item
    table_keys = [schema["hash_key"]] + ([schema["range_key"]] if schema.get("range_key") else [])
    projected = set(keys) | set(table_keys) | set(index.get("non_key_attributes", []))
    return {name: value for name, value in item.items() if name in projected}


def write_units_by_place(item, schema):
    """``{"table": units, index name: units, ...}`` that putting ``item`` new consumes, for each index holding it."""
    units = {"table": write_units(item_size(item))}
    for index in schema.get("global_secondary_indexes", []):
        entry = index_entry(item, index, schema)
        if entry is not None:
            units[index["name"]] = write_units(item_size(entry))
    return units


def put_write_units(item, schema):
    """``(table units, index units)`` that putting ``item`` new into a table with ``schema`` consumes."""
    units = write_units_by_place(item, schema)
    table_units = units.pop("table")
    return table_units, sum(units.values())


def stored_bytes(item, schema):
    """Billed storage bytes of ``item`` in a table with ``schema``: the table's copy and every index's."""
    entries = [item] + [index_entry(item, index, schema) for index in schema.get("global_secondary_indexes", [])]
    return sum(item_size(entry) + STORAGE_OVERHEAD_BYTES for entry in entries if entry is not None)
