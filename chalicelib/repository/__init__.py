"""LogRepository: the only code that knows the table's keys and items.

A small package whose modules name its parts:

* ``keys``: the key layout, attribute and index names (one table, four global secondary indexes);
* ``packs``: the pack codec (the events of one request, one service, one level class and one second,
  compressed in one item);
* ``items``: the one-item-per-event layout (events with a caller-chosen ``event_id``, and everything written
  before packs), with its idempotency;
* ``writes``: ``put_events`` over both; ``reads``: ``recent`` and the merge of both layouts, in order;
* ``calls``: DynamoDB calls in parallel, under the request's deadline, with retries;
* ``images``: the events of an item's image in the table's stream (what the archive writes).

Every item carries ``expires_at``: the (newest) event's time plus the retention, so nothing outlives the
events it holds by more than a pack's span.
"""
import time

from chalicelib import events as ev
from chalicelib import settings
from chalicelib.repository.calls import BACKOFF_BASE_S, WORKERS, Calls
from chalicelib.repository.images import events_of_image
from chalicelib.repository.items import ItemLayout
from chalicelib.repository.keys import (
    HASH_KEY,
    PACK_TIMELINE_HASH_KEY,
    PACK_TIMELINE_INDEX,
    RANGE_KEY,
    SERVICE_SEVERITY_HASH_KEY,
    SERVICE_SEVERITY_INDEX,
    SEVERITY_HASH_KEY,
    SEVERITY_INDEX,
    TIMELINE_HASH_KEY,
    TIMELINE_INDEX,
    TTL_ATTRIBUTE,
)
from chalicelib.repository.packs import STUB_ATTRIBUTES as PACK_STUB_ATTRIBUTES
from chalicelib.repository.reads import (
    DECODE_BUDGET,
    MAX_ITEM_BYTES,
    READ_BUDGET,
    READ_UNIT_BYTES,
    READ_UNITS,
    Page,
    Reads,
)
from chalicelib.repository.writes import WriteOutcome, Writes, caller_key

__all__ = [
    "BACKOFF_BASE_S", "DECODE_BUDGET", "HASH_KEY", "MAX_ITEM_BYTES", "PACK_STUB_ATTRIBUTES",
    "PACK_TIMELINE_HASH_KEY", "PACK_TIMELINE_INDEX", "RANGE_KEY", "READ_BUDGET", "READ_UNITS",
    "READ_UNIT_BYTES", "SERVICE_SEVERITY_HASH_KEY", "SERVICE_SEVERITY_INDEX", "SEVERITY_HASH_KEY",
    "SEVERITY_INDEX", "TIMELINE_HASH_KEY", "TIMELINE_INDEX", "TTL_ATTRIBUTE", "WORKERS", "LogRepository", "Page",
    "WriteOutcome", "caller_key", "events_of_image",
]


class LogRepository:
    """Events in and out of one table. ``packed=False`` writes every event in an item of its own, as the
    service did before packs (the upgrade tests and the benchmarks compare the two)."""

    def __init__(self, client, table_name, retention_days, service_shards, timeline_shards,
                 severity_shards=settings.DEFAULT_SEVERITY_SHARDS, max_attempts=6, sleep=time.sleep, shard_key=b"",
                 packed=True):
        calls = Calls(client, table_name, max_attempts, sleep)
        retention_ms = retention_days * ev.DAY_MS
        shards = (service_shards, timeline_shards, severity_shards)
        # The shard key keys the entropy of derived log ids, and so their shards (the service passes the
        # stage's secret).
        items = ItemLayout(calls, shard_key, retention_ms, shards)
        self._writes = Writes(calls, items, shard_key, retention_ms, shards, packed)
        self._reads = Reads(calls, retention_ms, shards)

    def put_events(self, events, ingested_by, now_ms, content_ids=False):
        return self._writes.put_events(events, ingested_by, now_ms, content_ids)

    put_events.__doc__ = Writes.put_events.__doc__

    def recent(self, query, now_ms, after=None, budget=READ_BUDGET, units=READ_UNITS, fits=None,
               decoded=DECODE_BUDGET):
        return self._reads.recent(query, now_ms, after, budget, units, fits, decoded)

    recent.__doc__ = Reads.recent.__doc__
