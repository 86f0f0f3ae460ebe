"""LogRepository: the only code that knows the table's keys and items.

Data model (one table, three global secondary indexes; see README "Data model"):

* event item    pk = ``S#<service>#<shard>``  sk = log id      (service view)
                tpk = ``T#<shard>``           sk = log id      (GSI ``timeline``)
  and, for WARN, ERROR and FATAL events only (sparse indexes):
                vpk = ``V#<level>#<shard>``            sk = log id   (GSI ``severity``)
                wpk = ``W#<service>#<level>#<shard>``  sk = log id   (GSI ``service_severity``)
* claim item    pk = ``E#<caller>#<service>#<event_id>``  sk = ``E``
                (idempotency for events the server stamps; holds the log id and ``expires_at``)

Every item carries ``expires_at``: the event's time plus the retention, so
nothing outlives the event it belongs to.

Log ids sort by timestamp, so a time window is a key condition on ``sk`` and
"newest first" is a descending Query. Writes spread over ``SERVICE_SHARDS``
partitions per service and ``TIMELINE_SHARDS`` timeline partitions; a read
merges the shards lazily, fetching about ``limit / shards`` items from each
and more only from a shard whose items are being used up.

Idempotency. An event with an ``event_id`` and its own ``timestamp`` has a
log id derived from (caller role, service, event id, full timestamp), keyed
with the stage's shard key: a resend names the same key. An event with an
``event_id`` but no timestamp claims (caller role, service, event id) with a
conditional put of a small claim item. Either way the event is written with a
conditional put, after a consistent read of the keys a resend may have stored
already: a stored event is never written again (events are append-only), two
first sends that race store one event, and a resend whose content differs
from the stored event's is a ``conflict`` that writes nothing.

Order. Events of one request at one full timestamp get increasing log ids in
the order they came (``ids``), random or derived alike.

Retries. botocore retries errors (throttling, 5xx, connections); this module
retries only what botocore cannot see, ``UnprocessedItems`` and
``UnprocessedKeys``, with full-jitter backoff, within the request's deadline
(``aws.Deadline``). What is still unstored then is reported, safe to resend.
"""
import contextvars
import dataclasses
import hashlib
import heapq
import itertools
import json
import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws, ids, settings
from chalicelib import events as ev
from chalicelib.errors import StorageUnavailable

HASH_KEY = "pk"
RANGE_KEY = "sk"
TIMELINE_INDEX = "timeline"
TIMELINE_HASH_KEY = "tpk"
SEVERITY_INDEX = "severity"
SEVERITY_HASH_KEY = "vpk"
SERVICE_SEVERITY_INDEX = "service_severity"
SERVICE_SEVERITY_HASH_KEY = "wpk"
TTL_ATTRIBUTE = "expires_at"
# Events with an event_id carry a digest of their content; a guard holds the log id its identity's event has.
DIGEST = "digest"
GUARD_OF = "guard_of"

BATCH_WRITE_SIZE = 25
BATCH_GET_SIZE = 100
# Calls in flight per request: DynamoDB calls wait on the network, and a
# 1,000-event batch is 40 BatchWriteItem calls (plus 10 key reads for events with an
# event_id and a timestamp, or one claim per event_id the server stamps).
WORKERS = 32
BACKOFF_BASE_S = 0.025
BACKOFF_CAP_S = 1.0
# What one read may examine, whatever its filters: a page stops there, with a cursor. Items
# (ScannedCount) bound the work per request; read units bound what it costs: an eventually
# consistent Query consumes half a unit per started 4 KB of every item it evaluates, the ones a
# filter drops included, rounded up per call. One request reads at most ``READ_UNITS`` units
# (README "Read budget"), or one page of each of its partitions if those alone could cost more.
READ_BUDGET = 5_000
READ_UNITS = 1_000
READ_UNIT_BYTES = 4096
# The largest item the service writes: a message and metadata at their limits, and under 4 KiB of
# keys, names, times, the event id and the caller's ARN (an index entry of it is no larger).
MAX_ITEM_BYTES = ev.MAX_MESSAGE_BYTES + ev.MAX_METADATA_BYTES + 4096
# A Query page stops once it has read 1 MB; the item that crosses that line is read whole.
MAX_QUERY_PAGE_BYTES = 1_048_576 + MAX_ITEM_BYTES

_CLAIM_SK = "E"
_UNSTORED = "storage throttled; resend this event"
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
    """What happened to one event of a request.

    ``stored`` is true when the event is in the table, written now or before
    (``repeat``: an earlier send with the same identity stored it, and this
    one wrote nothing). ``conflict``: an earlier send with the same identity
    stored other content, and this one wrote nothing. ``item`` is the item as
    this request built it, from what this caller sent: a repeat never answers
    with stored content.
    """

    log_id: str | None = None
    stored: bool = False
    repeat: bool = False
    conflict: bool = False
    error: str | None = None
    item: dict | None = None
    # The content digest of the event stored under this identity, when known.
    stored_digest: str | None = None

    @property
    def event(self):
        """The event as the API returns it (built on demand: batches only need log ids)."""
        return LogRepository._to_event(self.item) if self.stored else None


@dataclass(frozen=True)
class Page:
    events: list[dict]
    next_after: str | None
    items_read: int
    units_read: float
    calls: int


def _is_transient(error):
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") in _TRANSIENT_CODES
    return isinstance(error, BotoCoreError)


def _is_backfilling(error):
    """An index added to a live table answers this until DynamoDB has built it (see DEPLOYMENT.md)."""
    return (isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == "ValidationException"
            and "backfilling" in error.response.get("Error", {}).get("Message", "").lower())


def _parallel(function, items):
    """``function`` over ``items``, up to ``WORKERS`` at once, each under the caller's deadline.

    Every worker thread is started before any of them works: a thread started
    while others run Python waits for the interpreter lock before ``start()``
    returns (up to a switch interval each), which a pool that starts a thread
    per submitted call pays on every cold read.
    """
    if len(items) <= 1:
        return [function(item) for item in items]
    results = [None] * len(items)
    failures = []
    positions = itertools.count()
    go = threading.Event()

    def work(context):
        go.wait()
        for index in iter(positions.__next__, None):
            if index >= len(items) or failures:
                return
            try:
                results[index] = context.run(function, items[index])
            except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread below
                failures.append(error)
                return

    workers = [threading.Thread(target=work, args=(contextvars.copy_context(),), daemon=True)
               for _ in range(min(WORKERS, len(items)))]
    for worker in workers:
        worker.start()
    go.set()
    for worker in workers:
        worker.join()
    if failures:
        raise failures[0]
    return results


def _identity(event):
    """What names an event with an ``event_id`` within a request (None without one): a second one is a resend."""
    if event.event_id is None:
        return None
    if event.server_stamped:
        return event.service_name, event.event_id
    return event.service_name, event.event_id, event.timestamp_ms, event.sub_ms_ns


def _digest(item):
    """What a resend must repeat: every field the caller sends but those of its identity (service, event id and,
    where the caller gave it, the timestamp), as sent: metadata compared as its JSON text, key order included."""
    parts = [item["level"]["S"], item["log_type"]["S"], item["message"]["S"], item.get("metadata", {}).get("S", "{}")]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class _Result:
    """What became of an event known by its identity: ``state`` "stored" (written now), "repeat" (the same
    content was there), "conflict" (other content was there) or None with ``error`` (not stored; safe to resend)."""

    item: dict
    state: str | None = None
    error: str | None = None
    stored_digest: str | None = None


@dataclass
class _Identified:
    """An event known by its identity, and the log id of the identity's home key (where a resend looks)."""

    item: dict
    home: str
    unread: bool = False  # the home key is known to be new (a claim this request made)

    @property
    def home_key(self):
        return {HASH_KEY: self.item[HASH_KEY], RANGE_KEY: {"S": self.home}}


def _chunks(pairs, size):
    return [pairs[start:start + size] for start in range(0, len(pairs), size)]


def caller_key(caller_arn):
    """A short, stable token for the caller role behind ``caller_arn`` (idempotency is per role)."""
    role = ids.caller_role(caller_arn)
    return hashlib.sha256(role.encode("utf-8")).hexdigest()[:16]


class LogRepository:
    def __init__(self, client, table_name, retention_days, service_shards, timeline_shards,
                 severity_shards=settings.DEFAULT_SEVERITY_SHARDS, max_attempts=6, sleep=time.sleep, shard_key=b""):
        self._client = client
        # Keys the entropy of derived log ids, and so their shards (the service passes the stage's secret).
        self._shard_key = shard_key
        self._table = table_name
        self._retention_ms = retention_days * ev.DAY_MS
        self._service_shards = service_shards
        self._timeline_shards = timeline_shards
        self._severity_shards = severity_shards
        self._max_attempts = max_attempts
        self._sleep = sleep

    # --- keys and items -----------------------------------------------------

    def _expires_at(self, timestamp_ms):
        return {"N": str((timestamp_ms + self._retention_ms) // 1000)}

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
            TTL_ATTRIBUTE: self._expires_at(event.timestamp_ms),
        }
        if event.level in ev.SEVERE_LEVELS:
            severity_shard = ids.shard_of(log_id, self._severity_shards)
            item[SEVERITY_HASH_KEY] = {"S": f"V#{event.level}#{severity_shard}"}
            item[SERVICE_SEVERITY_HASH_KEY] = {"S": f"W#{event.service_name}#{event.level}#{severity_shard}"}
        if event.metadata is not None:
            item["metadata"] = {"S": event.metadata_json}
        if event.event_id is not None:
            item["event_id"] = {"S": event.event_id}
            item[DIGEST] = {"S": _digest(item)}
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

    @staticmethod
    def _key(item):
        return {HASH_KEY: item[HASH_KEY], RANGE_KEY: item[RANGE_KEY]}

    @staticmethod
    def _item_identity(item):
        return item[HASH_KEY]["S"], item[RANGE_KEY]["S"]

    # --- writes -------------------------------------------------------------

    def put_events(self, events, ingested_by, now_ms):
        """Store events; returns a ``WriteOutcome`` per input position.

        ``events`` may hold None for positions rejected by validation; they are
        skipped. An event whose identity (see the module docstring) was stored
        before with the same content, or repeats one earlier in this request,
        gets the first one's log id and writes nothing; with other content it
        is a ``conflict`` and writes nothing either. An event that could not be
        stored within the request's deadline has ``error`` set and is safe to
        resend. Raises ``StorageUnavailable`` if nothing was stored and storage
        was the reason.
        """
        caller = caller_key(ingested_by)
        outcomes = [WriteOutcome() if event is not None else None for event in events]
        fresh, identified, claims, repeats = {}, {}, {}, {}
        first_of, places = {}, {}
        for index, event in enumerate(events):
            if event is None:
                continue
            identity = _identity(event)
            if identity is not None and identity in first_of:
                repeats[index] = first_of[identity]
                continue
            if identity is not None:
                first_of[identity] = index
            full_time = (event.timestamp_ms, event.sub_ms_ns)
            sequence = places[full_time] = places.get(full_time, -1) + 1
            if identity is not None and not event.server_stamped:
                home = ids.derived_log_id(self._shard_key, event.timestamp_ms, event.sub_ms_ns, 0,
                                          caller, event.service_name, event.event_id)
                identified[index] = _Identified(self._event_item(event, ids.with_sequence(home, sequence), now_ms,
                                                                 ingested_by), home)
            elif identity is not None:
                claims[index] = self._event_item(event, ids.new_log_id(event.timestamp_ms, event.sub_ms_ns, sequence),
                                                 now_ms, ingested_by)
            else:
                fresh[index] = self._event_item(event, ids.new_log_id(event.timestamp_ms, event.sub_ms_ns, sequence),
                                                now_ms, ingested_by)

        claimed = _parallel(lambda pair: (pair[0], self._claim(caller, pair[1], now_ms)), list(claims.items()))
        for index, (log_id, error) in claimed:
            if error is not None:
                outcomes[index].error = error
            elif log_id == claims[index][RANGE_KEY]["S"]:
                identified[index] = _Identified(claims[index], log_id, unread=True)
            else:
                # The event this id was claimed for: its time is the first send's.
                event = dataclasses.replace(events[index], timestamp_ms=ids.time_of(log_id))
                identified[index] = _Identified(self._event_item(event, log_id, now_ms, ingested_by), log_id)

        for index, result in self._store_identified(identified).items():
            outcomes[index] = WriteOutcome(
                log_id=result.item[RANGE_KEY]["S"], stored=result.state in ("stored", "repeat"),
                repeat=result.state == "repeat", conflict=result.state == "conflict", error=result.error,
                item=result.item, stored_digest=result.stored_digest)

        failures = self._write_items(fresh)
        for index, item in fresh.items():
            outcomes[index].log_id = item[RANGE_KEY]["S"]
            outcomes[index].item = item
            outcomes[index].error = failures.get(index)
            outcomes[index].stored = index not in failures

        for index, first in repeats.items():
            # A second copy in one request is judged against what is stored, as a resend would be.
            first_outcome = outcomes[first]
            if first_outcome.stored_digest is None:
                outcomes[index] = first_outcome
                continue
            item = self._event_item(events[index], first_outcome.log_id, now_ms, ingested_by)
            if first_outcome.stored_digest == item[DIGEST]["S"]:
                outcomes[index] = WriteOutcome(first_outcome.log_id, stored=True, repeat=True, item=item,
                                               stored_digest=first_outcome.stored_digest)
            else:
                outcomes[index] = WriteOutcome(first_outcome.log_id, conflict=True,
                                               stored_digest=first_outcome.stored_digest)

        valid = [outcome for outcome in outcomes if outcome is not None]
        if valid and all(outcome.error for outcome in valid if not outcome.stored) and not any(
                outcome.stored for outcome in valid):
            raise StorageUnavailable()
        return outcomes

    def _claim(self, caller, item, now_ms):
        """Claim an event id for the log id in ``item``: ``(log id, None)``, or ``(None, error)``.

        The log id is ``item``'s when the claim is new, or when the earlier
        claim has expired with its event; otherwise the earlier claim's.
        """
        log_id = item[RANGE_KEY]["S"]
        claim = {
            HASH_KEY: {"S": f"E#{caller}#{item['service_name']['S']}#{item['event_id']['S']}"},
            RANGE_KEY: {"S": _CLAIM_SK},
            "log_id": {"S": log_id},
            TTL_ATTRIBUTE: item[TTL_ATTRIBUTE],
        }
        try:
            self._client.put_item(
                TableName=self._table,
                Item=claim,
                ConditionExpression="attribute_not_exists(#pk) OR #ttl <= :now",
                ExpressionAttributeNames={"#pk": HASH_KEY, "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":now": {"N": str(now_ms // 1000)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return log_id, None
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return error.response["Item"]["log_id"]["S"], None
            if not _is_transient(error):
                raise
        except BotoCoreError:
            pass
        return None, _UNSTORED

    def _store_identified(self, identified):
        """Store events known by their identity, each at most once; ``{index: _Result}``.

        Each event's identity has a home key: the event itself when it is the
        first at its full timestamp in its request, else a small guard naming
        its log id. One consistent read of the home keys finds what a resend
        stored, whatever its place in its request; every write is conditional,
        so two sends never both store.
        """
        results = {}
        to_read = {index: entry.home_key for index, entry in identified.items() if not entry.unread}
        found, unchecked = self._read_keys(to_read, (DIGEST, GUARD_OF))
        results.update({index: _Result(identified[index].item, error=_UNSTORED) for index in unchecked})
        pointed = {}
        for index, stored in found.items():
            if GUARD_OF in stored:
                pointed[index] = stored[GUARD_OF]["S"]
            else:
                results[index] = self._compared(identified[index].item, stored)
        # A guard names where its event is: read it there, or write it there if its first send could not.
        for index, log_id in pointed.items():
            identified[index] = _Identified(self._with_log_id(identified[index].item, log_id), log_id, unread=True)
        found, unchecked = self._read_keys({index: identified[index].home_key for index in pointed}, (DIGEST,))
        results.update({index: _Result(identified[index].item, error=_UNSTORED) for index in unchecked})
        results.update({index: self._compared(identified[index].item, stored) for index, stored in found.items()})
        absent = [(index, entry) for index, entry in identified.items() if index not in results]
        results.update(_parallel(lambda pair: (pair[0], self._put_identified(pair[1])), absent))
        return results

    def _put_identified(self, entry):
        """Write an event whose home key was free: its guard first if it has one, each only if still free."""
        item = entry.item
        if entry.home_key != self._key(item):
            guard = {**entry.home_key, GUARD_OF: item[RANGE_KEY], TTL_ATTRIBUTE: item[TTL_ATTRIBUTE]}
            taken, error = self._put_if_absent(guard)
            if error is not None:
                return _Result(item, error=error)
            if taken is not None and taken.get(GUARD_OF) != item[RANGE_KEY]:
                # Another send took the identity first (a guard met again is our own, after a lost answer).
                return self._after_lost_race(item, taken)
        return self._put_event(item)

    def _put_event(self, item):
        taken, error = self._put_if_absent(item)
        if error is not None:
            return _Result(item, error=error)
        if taken is not None:
            return self._after_lost_race(item, taken)
        return _Result(item, "stored", stored_digest=item[DIGEST]["S"])

    def _after_lost_race(self, item, taken):
        """What to answer when another send stored an identity's home key between our read and our write."""
        if GUARD_OF not in taken:
            return self._compared(item, taken)
        mine = self._with_log_id(item, taken[GUARD_OF]["S"])
        found, unchecked = self._read_keys({0: self._key(mine)}, (DIGEST,))
        if unchecked:
            return _Result(mine, error=_UNSTORED)
        # The guard's event may not be written yet (its send is still under way, or died): write it, at most
        # once (a guard's event has a place above 0, where no guard can be, so this ends here).
        return self._compared(mine, found[0]) if 0 in found else self._put_event(mine)

    def _compared(self, item, stored):
        """This send's event against the event ``stored`` under its identity: a repeat or a conflict, answered
        under that event's log id."""
        item = self._with_log_id(item, stored[RANGE_KEY]["S"])
        if DIGEST in stored:
            theirs = stored[DIGEST]["S"]
        else:  # stored before events carried a digest: read the whole event once
            found, unchecked = self._read_keys({0: self._key(stored)}, None)
            if unchecked or 0 not in found:
                return _Result(item, error=_UNSTORED)
            theirs = _digest(found[0])
        return _Result(item, "repeat" if theirs == item[DIGEST]["S"] else "conflict", stored_digest=theirs)

    @staticmethod
    def _with_log_id(item, log_id):
        """``item`` under another log id of the same identity: ids of one identity share their entropy, and so
        every shard, so only the sort key moves."""
        return {**item, RANGE_KEY: {"S": log_id}}

    def _put_if_absent(self, item):
        """``(None, None)`` when written now, ``(the item there, None)`` when the key was taken, else
        ``(None, error)``."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": HASH_KEY},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return None, None
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                if "Item" in error.response:
                    return error.response["Item"], None
                return None, _UNSTORED  # refused without saying what is there: let a resend find out
            if not _is_transient(error):
                raise
        except BotoCoreError:
            pass
        return None, _UNSTORED

    def _read_keys(self, keys, attributes):
        """``({index: item}, indexes unchecked)`` for ``{index: key}``: consistent BatchGetItems of the keys and
        ``attributes`` (every attribute when None), so that a resend never downloads what it sent."""
        by_identity = {self._item_identity(key): index for index, key in keys.items()}
        present, unchecked = {}, set()
        for found, left in _parallel(lambda chunk: self._get_chunk(chunk, attributes),
                                     _chunks(list(keys.values()), BATCH_GET_SIZE)):
            present.update((by_identity[self._item_identity(item)], item) for item in found)
            unchecked.update(by_identity[identity] for identity in left)
        return present, unchecked

    def _get_chunk(self, keys, attributes):
        """``(items found, identities unchecked)`` for up to 100 keys."""
        found = []
        request = {"ConsistentRead": True}
        if attributes is not None:
            names = {f"#a{number}": name for number, name in enumerate((HASH_KEY, RANGE_KEY, *attributes))}
            request.update(ProjectionExpression=", ".join(names), ExpressionAttributeNames=names)

        def send(pending):
            response = self._client.batch_get_item(RequestItems={self._table: {**request, "Keys": pending}})
            found.extend(response.get("Responses", {}).get(self._table, []))
            return response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])

        left = self._until_processed(send, keys)
        return found, {self._item_identity(key) for key in left}

    def _write_items(self, items):
        """BatchWriteItem in chunks, in parallel; returns ``{index: error}`` for unstored ones."""
        failures = {}
        for chunk_failures in _parallel(self._write_chunk, _chunks(list(items.items()), BATCH_WRITE_SIZE)):
            failures.update(chunk_failures)
        return failures

    def _write_chunk(self, chunk):
        def send(pending):
            requests = [{"PutRequest": {"Item": item}} for item in pending.values()]
            response = self._client.batch_write_item(RequestItems={self._table: requests})
            unprocessed = response.get("UnprocessedItems", {}).get(self._table, [])
            left = {self._item_identity(request["PutRequest"]["Item"]) for request in unprocessed}
            return {index: item for index, item in pending.items() if self._item_identity(item) in left}

        return {index: _UNSTORED for index in self._until_processed(send, dict(chunk))}

    def _until_processed(self, send, pending):
        """``send(pending)`` again with what DynamoDB handed back, while attempts and the deadline allow.

        Returns what is still pending: handed back every time, or not sent
        because botocore gave up on an error (it retries errors itself).
        """
        for attempt in self._attempts():
            try:
                pending = send(pending)
            except (ClientError, BotoCoreError) as error:
                if not _is_transient(error):
                    raise
                break
            if not pending:
                break
            self._backoff(attempt)
        return pending

    def _attempts(self):
        """Attempt numbers for work DynamoDB handed back, while the request's deadline allows."""
        deadline = aws.current_deadline()
        for attempt in range(self._max_attempts):
            if attempt and deadline.expired:
                return
            yield attempt

    def _backoff(self, attempt):
        if attempt + 1 < self._max_attempts:
            pause = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt))
            self._sleep(min(pause, aws.current_deadline().remaining_s()))

    # --- reads --------------------------------------------------------------

    def recent(self, query, now_ms, after=None, budget=READ_BUDGET, units=READ_UNITS, fits=None):
        """The newest events matching ``query``, newest first, strictly before log id ``after``.

        Expired events are never returned, even before DynamoDB deletes them.
        At most ``budget`` items and ``units`` read units are read (see
        ``READ_UNITS``), and no new call starts once the request's deadline has
        come: when either stops the read first, the page holds what was found
        so far. ``fits(event)``, if given, is asked about each event in turn
        (it takes the first of a page); the page stops before the first it refuses. Then
        ``next_after`` says where to resume, so a page may hold fewer than
        ``query.limit`` events while more exist. ``next_after`` is None only
        when nothing is left.
        """
        low = ids.lowest_id_at(max(query.since_ms, now_ms - self._retention_ms))
        high = ids.highest_id_at(query.until_ms)
        if after is not None:
            before_after = ids.predecessor(after)
            if before_after is None:
                return Page([], None, 0, 0, 0)
            high = min(high, before_after)
        if low > high:
            return Page([], None, 0, 0, 0)

        index, hash_key, partitions, level_filter = self._view(query)
        # A shard's share of the page, plus one so that a shard holding a
        # little more than its share rarely needs a second call.
        page_size = math.ceil(query.limit / len(partitions)) + 1
        reads = _ReadBudget(budget, units)
        streams = [
            _ShardStream(self._client, self._query_request(index, hash_key, partition, low, high, query, now_ms,
                                                           level_filter), page_size, reads)
            for partition in partitions
        ]
        _prefetch(streams, reads)

        merged = heapq.merge(*(stream.entries() for stream in streams), key=_newest_first, reverse=True)
        found, next_after = [], None
        for entry in merged:
            if isinstance(entry, _Resume):
                next_after = entry.log_id
                break
            if len(found) == query.limit:
                next_after = found[-1]["log_id"]
                break
            event = self._to_event(entry)
            if fits is not None and not fits(event):
                next_after = found[-1]["log_id"]
                break
            found.append(event)
        return Page(
            events=found,
            next_after=next_after,
            items_read=reads.items_spent,
            units_read=reads.units_spent,
            calls=sum(stream.calls for stream in streams),
        )

    def _view(self, query):
        """``(index, hash key, partitions, levels to filter on)`` for a query.

        WARN, ERROR and FATAL events are also in the sparse indexes, keyed by
        level: ``level`` or ``min_level`` at those levels is a key condition.
        ``level`` at TRACE, DEBUG or INFO stays a filter on the general views.
        """
        if query.level is None and query.min_level is None:
            return self._general_view(query, None)
        levels = ev.levels_at_least(query.min_level) if query.min_level else (query.level,)
        if not set(levels) <= set(ev.SEVERE_LEVELS):
            return self._general_view(query, levels)
        shards = range(self._severity_shards)
        if query.service_name is not None:
            partitions = [f"W#{query.service_name}#{level}#{shard}" for level in levels for shard in shards]
            return SERVICE_SEVERITY_INDEX, SERVICE_SEVERITY_HASH_KEY, partitions, None
        return SEVERITY_INDEX, SEVERITY_HASH_KEY, [f"V#{level}#{shard}" for level in levels for shard in shards], None

    def _general_view(self, query, levels):
        """The service's or the timeline's shards, filtering on ``levels`` if given."""
        if query.service_name is not None:
            partitions = [f"S#{query.service_name}#{shard}" for shard in range(self._service_shards)]
            return None, HASH_KEY, partitions, levels
        return TIMELINE_INDEX, TIMELINE_HASH_KEY, [f"T#{shard}" for shard in range(self._timeline_shards)], levels

    def _query_request(self, index, hash_key, partition, low, high, query, now_ms, levels):
        names = {"#h": hash_key, "#r": RANGE_KEY, "#ttl": TTL_ATTRIBUTE}
        values = {":h": {"S": partition}, ":low": {"S": low}, ":high": {"S": high},
                  ":now": {"N": str(now_ms // 1000)}}
        filters = ["#ttl > :now"]
        if index is None:  # the service view's partitions also hold identity guards, which are no events
            names["#guard"] = GUARD_OF
            filters.append("attribute_not_exists(#guard)")
        if levels:
            names["#level"] = "level"
            values.update({f":level{number}": {"S": level} for number, level in enumerate(levels)})
            filters.append("#level IN (" + ", ".join(f":level{number}" for number in range(len(levels))) + ")")
        if query.log_type is not None:
            names["#log_type"] = "log_type"
            values[":log_type"] = {"S": query.log_type}
            filters.append("#log_type = :log_type")
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


@dataclass(frozen=True)
class _Resume:
    """Where a shard stopped when the read budget or the deadline ran out: every item of it newer than
    ``log_id`` is known."""

    log_id: str


def _newest_first(entry):
    # A shard's resume point sorts just after its last examined item, which comes first.
    if isinstance(entry, _Resume):
        return entry.log_id, 0
    return entry[RANGE_KEY]["S"], 1


def _worst_units(limit):
    """The most read units a Query with ``limit`` can consume, whatever the items it meets."""
    return math.ceil(min(limit * MAX_ITEM_BYTES, MAX_QUERY_PAGE_BYTES) / READ_UNIT_BYTES) / 2


def _most_items_within(units):
    """The largest Limit whose worst case is within ``units`` (0 if none is)."""
    return int(units * 2 * READ_UNIT_BYTES // MAX_ITEM_BYTES)


class _ReadBudget:
    """What one request may still read, shared by its shards: items examined, and read units.

    A fetch reserves its Limit in items and its worst case in read units
    before it starts, and settles with what DynamoDB reports after, so fetches
    in flight together never pass the budget, whatever items they meet.
    """

    def __init__(self, items, units):
        # Both reserved by fetches in flight, so neither is passed however they overlap.
        self.items_left = items
        self.units_left = units
        self.items_spent = 0
        self.units_spent = 0
        self._lock = threading.Lock()

    def share(self, limit, ways):
        """A Limit for each of ``ways`` fetches made at once: at most ``limit``, and at least 1 (so a read
        always learns every shard's newest item), within the budget between them if it can be."""
        with self._lock:
            each = self.units_left / ways
        return max(1, min(limit, self.items_left, _most_items_within(each)))

    def reserve(self, limit, forced=False):
        """``(Limit, units reserved)`` for a fetch of up to ``limit`` items, or None if none fits."""
        with self._lock:
            if not forced:
                if _worst_units(limit) > self.units_left:
                    limit = _most_items_within(self.units_left)
                limit = min(limit, self.items_left)
                if limit < 1:
                    return None
            units = _worst_units(limit)
            self.units_left -= units
            self.items_left -= limit
            return limit, units

    def settle(self, reservation, consumed, items):
        """Give back what ``reservation`` held beyond what the fetch read: ``consumed`` units, ``items`` items."""
        limit, units = reservation
        with self._lock:
            self.units_left += units - consumed
            self.units_spent += consumed
            self.items_left += limit - items
            self.items_spent += items


def _prefetch(streams, budget):
    """Every shard's first page at once, then each shard topped up to its share of the page, as many
    at once as the budget's worst cases allow; what is still missing is fetched as the merge needs it."""
    first = budget.share(streams[0].page_size, len(streams))
    _parallel(lambda stream: stream.fetch(budget.reserve(first, forced=True)), streams)
    wanting = [stream for stream in streams if stream.wants_more()]
    while wanting and not aws.current_deadline().expired:
        batch = []
        for stream in wanting:
            reservation = budget.reserve(stream.page_size - stream.buffered)
            if reservation is None:
                break
            batch.append((stream, reservation))
        if not batch:
            return
        _parallel(lambda pair: pair[0].fetch(pair[1], late=True), batch)
        wanting = wanting[len(batch):]


class _ShardStream:
    """One shard's matching items, newest first, fetched a page at a time on demand."""

    def __init__(self, client, request, page_size, budget):
        self._client = client
        self._request = dict(request, ReturnConsumedCapacity="TOTAL")
        self.page_size = page_size
        self._budget = budget
        self._start_key = None
        self._buffer = deque()
        self._more = True
        self._stopped = False
        self.calls = 0

    @property
    def buffered(self):
        return len(self._buffer)

    def wants_more(self):
        return self._more and not self._stopped and self.buffered < self.page_size

    def fetch(self, reservation, late=False):
        """Read the next page within ``reservation`` (``(Limit, units)``), and settle its cost.

        A ``late`` fetch (not a shard's first) that the request's deadline cuts
        short stops the shard instead of failing the request: the page found so
        far is answered, with a cursor.
        """
        request = dict(self._request, Limit=reservation[0])
        if self._start_key is not None:
            request["ExclusiveStartKey"] = self._start_key
        try:
            response = self._client.query(**request)
        except aws.DeadlineExceeded:
            self._budget.settle(reservation, 0, 0)
            if not late:
                raise StorageUnavailable() from None
            self._stopped = True
            return
        except (ClientError, BotoCoreError) as error:
            self._budget.settle(reservation, 0, 0)
            if _is_transient(error) or _is_backfilling(error):
                raise StorageUnavailable() from error
            raise
        self.calls += 1
        # Without a figure from storage (an emulator may give none), the worst case counts as spent.
        consumed = response.get("ConsumedCapacity", {}).get("CapacityUnits", reservation[1])
        self._budget.settle(reservation, consumed, response.get("ScannedCount", 0))
        self._buffer.extend(response.get("Items", []))
        self._start_key = response.get("LastEvaluatedKey")
        self._more = self._start_key is not None
        if response.get("Count", 0) < response.get("ScannedCount", 0):
            # A filter dropped items: read further ahead next time.
            self.page_size = min(1000, self.page_size * 4)

    def entries(self):
        """Items newest first; a ``_Resume`` last if the budget or the deadline ran out before the shard did."""
        while True:
            while self._buffer:
                yield self._buffer.popleft()
            if not self._more:
                return
            reservation = None if aws.current_deadline().expired else self._budget.reserve(self.page_size)
            if reservation is not None:
                self.fetch(reservation, late=True)
            if self._stopped or reservation is None:
                yield _Resume(self._start_key[RANGE_KEY]["S"])
                return
