"""The table's key layout: attribute names, index names and the partitions each view reads.

Both layouts share it (README "Data model"):

* an event item (events with a caller-chosen ``event_id``, and everything written before packs) and a pack item
  (the events of one request that share a service, a level class and a second of event time) have
  ``pk = S#<service>#<shard>`` (the service view); an event item ``tpk = T#<shard>`` (GSI ``timeline``, which
  projects whole items), a pack ``ppk = P#<shard>`` instead (GSI ``pack_timeline``, which projects what a read
  filters and merges on but not the payload: a read of the all-services view fetches the payloads of the packs
  it opens from the table, rather than every pack being written and stored twice); WARN, ERROR and FATAL ones
  also ``vpk = V#<level>#<shard>`` (GSI ``severity``) and ``wpk = W#<service>#<level>#<shard>``
  (GSI ``service_severity``). The sort key ``sk`` is the event's log id, or for a pack its newest event's log id
  followed by ``.`` and a digest of the pack, which sorts just above that event and below any newer one;
* a claim item ``pk = E#<caller>#<service>#<event_id>``, ``sk = E`` (idempotency for events the server stamps),
  and an identity guard ``pk = S#<service>#<shard>``, ``sk`` = the identity's home log id (no index keys).
"""
from chalicelib import ids

HASH_KEY = "pk"
RANGE_KEY = "sk"
TIMELINE_INDEX = "timeline"
TIMELINE_HASH_KEY = "tpk"
PACK_TIMELINE_INDEX = "pack_timeline"
PACK_TIMELINE_HASH_KEY = "ppk"
SEVERITY_INDEX = "severity"
SEVERITY_HASH_KEY = "vpk"
SERVICE_SEVERITY_INDEX = "service_severity"
SERVICE_SEVERITY_HASH_KEY = "wpk"
TTL_ATTRIBUTE = "expires_at"
# Events with an event_id carry a digest of their content; a guard holds the log id its identity's event has.
DIGEST = "digest"
GUARD_OF = "guard_of"
# A pack's oldest event's log id: what a read above the pack's key checks to know the pack reaches below it.
OLDEST = "lo"
CLAIM_SK = "E"


def service_partition(service_name, shard):
    return f"S#{service_name}#{shard}"


def service_of_partition(partition):
    """The service whose partition ``service_partition`` named (service names hold no ``#``)."""
    return partition.split("#")[1]


def timeline_partition(shard):
    return f"T#{shard}"


def pack_timeline_partition(shard):
    return f"P#{shard}"


def severity_partition(level, shard):
    return f"V#{level}#{shard}"


def service_severity_partition(service_name, level, shard):
    return f"W#{service_name}#{level}#{shard}"


def claim_partition(caller, service_name, event_id):
    return f"E#{caller}#{service_name}#{event_id}"


def partitions(log_id, service_name, level, shards, severe, pack=False):
    """The index keys of an item (a ``pack`` or an event item) whose sort key starts with ``log_id`` (which picks
    its shards)."""
    service_shards, timeline_shards, severity_shards = shards
    timeline_shard = ids.shard_of(log_id, timeline_shards)
    keys = {
        HASH_KEY: {"S": service_partition(service_name, ids.shard_of(log_id, service_shards))},
        **({PACK_TIMELINE_HASH_KEY: {"S": pack_timeline_partition(timeline_shard)}} if pack else
           {TIMELINE_HASH_KEY: {"S": timeline_partition(timeline_shard)}}),
    }
    if severe:
        severity_shard = ids.shard_of(log_id, severity_shards)
        keys[SEVERITY_HASH_KEY] = {"S": severity_partition(level, severity_shard)}
        keys[SERVICE_SEVERITY_HASH_KEY] = {"S": service_severity_partition(service_name, level, severity_shard)}
    return keys


def just_below(key):
    """A bound above every sort key this service writes that sorts strictly before ``key`` (a log id or a
    pack's key), and below ``key``: keys use characters below ``~`` only, so lowering the last character and
    appending ``~`` is it. (A log id's predecessor would not do: a pack keyed just above it sorts after it.)"""
    return key[:-1] + chr(ord(key[-1]) - 1) + "~"
