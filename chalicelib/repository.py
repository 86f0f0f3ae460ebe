"""LogRepository: the only code that knows the table's keys and items.

Data model (one table, one global secondary index; see README "Data model"):

* event item    pk = ``S#<service>#<shard>``  sk = log id      (service view)
                tpk = ``T#<shard>``           sk = log id      (GSI ``timeline``)
* claim item    pk = ``E#<service>#<event_id>``  sk = ``E``    (idempotency)

Log ids sort by timestamp, so a time window is a key condition on ``sk`` and
"newest first" is a descending Query. Writes spread over ``SERVICE_SHARDS``
partitions per service and ``TIMELINE_SHARDS`` timeline partitions; a read
merges the shards lazily, fetching about ``limit / shards`` items from each
and more only from a shard whose items are being used up.
"""
import json
import math
import random
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import events as ev
from chalicelib import ids
from chalicelib.errors import StorageUnavailable

HASH_KEY = "pk"
RANGE_KEY = "sk"
TIMELINE_INDEX = "timeline"
TIMELINE_HASH_KEY = "tpk"
TTL_ATTRIBUTE = "expires_at"

BATCH_WRITE_SIZE = 25
# Calls in flight per request: DynamoDB calls wait on the network, and a
# 1,000-event batch is 40 BatchWriteItem calls (plus one claim per event_id).
WORKERS = 32
BACKOFF_BASE_S = 0.025
BACKOFF_CAP_S = 1.0

_CLAIM_SK = "E"
_TRANSIENT_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
    "TransactionConflictException",
}


@dataclass
class WriteOutcome:
    """What happened to one event of a request."""

    log_id: str | None = None
    stored: bool = False
    error: str | None = None
    item: dict | None = None

    @property
    def event(self):
        """The stored event as the API returns it (built on demand: batches only need log ids)."""
        return LogRepository._to_event(self.item) if self.stored else None


@dataclass(frozen=True)
class Page:
    events: list[dict]
    next_after: str | None
    items_read: int
    calls: int


def _is_transient(error):
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") in _TRANSIENT_CODES
    return isinstance(error, BotoCoreError)


def _parallel(function, items):
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(items))) as pool:
        return list(pool.map(function, items))


class LogRepository:
    def __init__(self, client, table_name, retention_days, service_shards, timeline_shards,
                 max_attempts=6, sleep=time.sleep):
        self._client = client
        self._table = table_name
        self._retention_ms = retention_days * ev.DAY_MS
        self._service_shards = service_shards
        self._timeline_shards = timeline_shards
        self._max_attempts = max_attempts
        self._sleep = sleep

    # --- keys and items -----------------------------------------------------

    def _event_item(self, event, log_id, ingested_at_ms, ingested_by):
        shard = ids.shard_of(log_id, self._service_shards)
        timeline_shard = ids.shard_of(log_id, self._timeline_shards)
        item = {
            HASH_KEY: {"S": f"S#{event.service_name}#{shard}"},
            RANGE_KEY: {"S": log_id},
            TIMELINE_HASH_KEY: {"S": f"T#{timeline_shard}"},
            "service_name": {"S": event.service_name},
            "level": {"S": event.level},
            "log_type": {"S": event.log_type},
            "message": {"S": event.message},
            "ts": {"N": str(event.timestamp_ms)},
            "ingested_at": {"N": str(ingested_at_ms)},
            TTL_ATTRIBUTE: {"N": str((event.timestamp_ms + self._retention_ms) // 1000)},
        }
        if event.metadata is not None:
            item["metadata"] = {"S": ev.serialize_metadata(event.metadata)}
        if event.event_id is not None:
            item["event_id"] = {"S": event.event_id}
        if ingested_by:
            item["ingested_by"] = {"S": ingested_by}
        return item

    @staticmethod
    def _to_event(item):
        return {
            "log_id": item[RANGE_KEY]["S"],
            "service_name": item["service_name"]["S"],
            "level": item["level"]["S"],
            "log_type": item["log_type"]["S"],
            "message": item["message"]["S"],
            "timestamp": ev.format_time(int(item["ts"]["N"])),
            "metadata": json.loads(item["metadata"]["S"]) if "metadata" in item else {},
            "event_id": item["event_id"]["S"] if "event_id" in item else None,
            "ingested_at": ev.format_time(int(item["ingested_at"]["N"])),
            "ingested_by": item["ingested_by"]["S"] if "ingested_by" in item else None,
        }

    # --- writes -------------------------------------------------------------

    def put_events(self, events, ingested_by, now_ms):
        """Store events; returns a ``WriteOutcome`` per input position.

        ``events`` may hold None for positions rejected by validation; they are
        skipped. An event with an ``event_id`` already stored (or repeated in
        this request) gets the first one's log id and is not stored twice. An
        event that could not be stored after retries has ``error`` set and is
        safe to resend. Raises ``StorageUnavailable`` if nothing could be
        stored and storage was the reason.
        """
        outcomes = [WriteOutcome() if event is not None else None for event in events]
        items = {}
        claims = {}
        first_of = {}
        last_id_at = {}
        for index, event in enumerate(events):
            if event is None:
                continue
            if event.event_id is not None:
                identity = (event.service_name, event.event_id)
                if identity in first_of:
                    continue
                first_of[identity] = index
            previous = last_id_at.get(event.timestamp_ms)
            log_id = ids.successor(previous) if previous else ids.new_log_id(event.timestamp_ms)
            last_id_at[event.timestamp_ms] = log_id
            item = self._event_item(event, log_id, now_ms, ingested_by)
            if event.event_id is None:
                outcomes[index].log_id = log_id
                items[index] = item
            else:
                claims[index] = item

        claimed = _parallel(lambda pair: (pair[0], self._claim(pair[1])), list(claims.items()))
        for index, (item, error) in claimed:
            if error is not None:
                outcomes[index].error = error
            else:
                outcomes[index].log_id = item[RANGE_KEY]["S"]
                items[index] = item

        for index, error in self._write_items(items).items():
            outcomes[index].error = error
        for index, item in items.items():
            if outcomes[index].error is None:
                outcomes[index].stored = True
                outcomes[index].item = item

        for index, event in enumerate(events):
            if event is not None and event.event_id is not None:
                first = first_of[(event.service_name, event.event_id)]
                if first != index:
                    outcomes[index] = outcomes[first]

        valid = [outcome for outcome in outcomes if outcome is not None]
        if valid and not any(outcome.stored for outcome in valid):
            raise StorageUnavailable()
        return outcomes

    def _claim(self, item):
        """Claim an event id; returns ``(event item to write, error)``.

        The claim holds a copy of the event item. If the id was claimed before,
        the earlier copy is written again (same key, same content), which also
        completes an earlier request that claimed the id but failed to store
        the event.
        """
        claim = {**self._claim_key(item), "event": {"M": item}}
        for attempt in range(self._max_attempts):
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=claim,
                    ConditionExpression="attribute_not_exists(#pk)",
                    ExpressionAttributeNames={"#pk": HASH_KEY},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return item, None
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    return error.response["Item"]["event"]["M"], None
                if not _is_transient(error):
                    raise
            except BotoCoreError:
                pass
            self._backoff(attempt)
        return None, "storage throttled; resend this event"

    @staticmethod
    def _claim_key(item):
        service = item["service_name"]["S"]
        event_id = item["event_id"]["S"]
        return {HASH_KEY: {"S": f"E#{service}#{event_id}"}, RANGE_KEY: {"S": _CLAIM_SK}}

    def _write_items(self, items):
        """BatchWriteItem in chunks, in parallel; returns ``{index: error}`` for unstored ones."""
        indexed = list(items.items())
        chunks = [indexed[start:start + BATCH_WRITE_SIZE] for start in range(0, len(indexed), BATCH_WRITE_SIZE)]
        failures = {}
        for chunk_failures in _parallel(self._write_chunk, chunks):
            failures.update(chunk_failures)
        return failures

    def _write_chunk(self, chunk):
        pending = dict(chunk)
        for attempt in range(self._max_attempts):
            requests = [{"PutRequest": {"Item": item}} for item in pending.values()]
            try:
                response = self._client.batch_write_item(RequestItems={self._table: requests})
            except (ClientError, BotoCoreError) as error:
                if not _is_transient(error):
                    raise
            else:
                unprocessed = response.get("UnprocessedItems", {}).get(self._table, [])
                left = {self._item_identity(request["PutRequest"]["Item"]) for request in unprocessed}
                pending = {index: item for index, item in pending.items() if self._item_identity(item) in left}
                if not pending:
                    return {}
            self._backoff(attempt)
        return {index: "storage throttled; resend this event" for index in pending}

    @staticmethod
    def _item_identity(item):
        return item[HASH_KEY]["S"], item[RANGE_KEY]["S"]

    def _backoff(self, attempt):
        if attempt + 1 < self._max_attempts:
            self._sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt)))

    # --- reads --------------------------------------------------------------

    def recent(self, query, now_ms, after=None):
        """The newest events matching ``query``, newest first, strictly before log id ``after``.

        Expired events are never returned, even before DynamoDB deletes them.
        """
        low = ids.lowest_id_at(max(query.since_ms, now_ms - self._retention_ms))
        high = ids.highest_id_at(query.until_ms)
        if after is not None:
            before_after = ids.predecessor(after)
            if before_after is None:
                return Page([], None, 0, 0)
            high = min(high, before_after)
        if low > high:
            return Page([], None, 0, 0)

        if query.service_name is not None:
            partitions = [f"S#{query.service_name}#{shard}" for shard in range(self._service_shards)]
            index, hash_key = None, HASH_KEY
        else:
            partitions = [f"T#{shard}" for shard in range(self._timeline_shards)]
            index, hash_key = TIMELINE_INDEX, TIMELINE_HASH_KEY
        # A shard's share of the page, plus one so that a shard holding a
        # little more than its share rarely needs a second call.
        page_size = math.ceil(query.limit / len(partitions)) + 1
        streams = [
            _ShardStream(self._client, self._query_request(index, hash_key, partition, low, high, query, now_ms),
                         page_size)
            for partition in partitions
        ]
        _parallel(lambda stream: stream.fill(), streams)

        found = []
        while len(found) < query.limit:
            for stream in streams:
                stream.fill()
            live = [stream for stream in streams if stream.buffer]
            if not live:
                break
            newest = max(live, key=lambda stream: stream.buffer[0][RANGE_KEY]["S"])
            found.append(newest.buffer.popleft())
        more = len(found) == query.limit and any(stream.buffer or stream.has_more for stream in streams)
        return Page(
            events=[self._to_event(item) for item in found],
            next_after=found[-1][RANGE_KEY]["S"] if more else None,
            items_read=sum(stream.scanned for stream in streams),
            calls=sum(stream.calls for stream in streams),
        )

    def _query_request(self, index, hash_key, partition, low, high, query, now_ms):
        names = {"#h": hash_key, "#r": RANGE_KEY, "#ttl": TTL_ATTRIBUTE}
        values = {":h": {"S": partition}, ":low": {"S": low}, ":high": {"S": high},
                  ":now": {"N": str(now_ms // 1000)}}
        filters = ["#ttl > :now"]
        for field, value in (("level", query.level), ("log_type", query.log_type)):
            if value is not None:
                names[f"#{field}"] = field
                values[f":{field}"] = {"S": value}
                filters.append(f"#{field} = :{field}")
        request = {
            "TableName": self._table,
            "KeyConditionExpression": "#h = :h AND #r BETWEEN :low AND :high",
            "FilterExpression": " AND ".join(filters),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        if index is not None:
            request["IndexName"] = index
        return request


class _ShardStream:
    """One shard's items, newest first, fetched a page at a time on demand."""

    def __init__(self, client, request, page_size):
        self._client = client
        self._request = request
        self._page_size = page_size
        self._start_key = None
        self.buffer = deque()
        self.has_more = True
        self.scanned = 0
        self.calls = 0

    def fill(self):
        """Fetch until the buffer has an item or the shard is exhausted."""
        while not self.buffer and self.has_more:
            request = dict(self._request, Limit=self._page_size)
            if self._start_key is not None:
                request["ExclusiveStartKey"] = self._start_key
            try:
                response = self._client.query(**request)
            except (ClientError, BotoCoreError) as error:
                if _is_transient(error):
                    raise StorageUnavailable() from error
                raise
            self.calls += 1
            self.scanned += response.get("ScannedCount", 0)
            self.buffer.extend(response.get("Items", []))
            self._start_key = response.get("LastEvaluatedKey")
            self.has_more = self._start_key is not None
            if response.get("Count", 0) < response.get("ScannedCount", 0):
                # A filter dropped items: read further ahead next time.
                self._page_size = min(1000, self._page_size * 4)
