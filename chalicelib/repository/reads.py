"""Reads: the newest events of a view, newest first, from event items and packs alike, within a budget.

Log ids sort by timestamp, so a time window is a key condition on ``sk`` and "newest first" is a descending
Query. Writes spread over ``SERVICE_SHARDS`` partitions per service and ``TIMELINE_SHARDS`` timeline
partitions; a read merges the shards lazily, fetching about ``limit / shards`` items from each and more only
from a shard whose items are being used up.

A pack is keyed just above its newest event, so one max-heap of every shard's next item and of the events of
the packs opened so far gives the exact order: a pack is opened (decoded) only when its key is the greatest
left, and its events then wait in the heap for their turn. A read whose window stops below the newest events
(a cursor, or ``until``) also reads the packs keyed up to ``PACK_SPAN_MS`` above that point whose oldest event
is below it: a filter keeps only those there, and only their events below the point are used.

The all-services view merges two indexes: ``timeline`` (event items, whole) and ``pack_timeline`` (packs
without their payload); a pack met there is fetched from the table when the merge opens it, together with the
other packs at the heads of the shards that the page may still need (one ``BatchGetItem``).
"""
import heapq
import itertools
import math
import threading
from collections import deque
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws, ids
from chalicelib import events as ev
from chalicelib.errors import StorageUnavailable
from chalicelib.repository import items as item_layout
from chalicelib.repository import keys, packs
from chalicelib.repository.calls import is_backfilling, is_transient, parallel
from chalicelib.repository.keys import GUARD_OF, OLDEST, RANGE_KEY, TTL_ATTRIBUTE
from chalicelib.search import Search

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
# Events decoded by one request, whatever its filters: a page stops before a pack that would pass it, with a
# cursor. Packs that reach below where the request starts are decoded even past it (the page could not move
# on otherwise); there are as many as requests wrote that service's events in the same second.
DECODE_BUDGET = 10_000
# Packs fetched by one BatchGetItem at most (DynamoDB's limit).
MAX_FETCH = 100


@dataclass(frozen=True)
class Page:
    events: list[dict]
    next_after: str | None
    items_read: int
    units_read: float
    calls: int
    events_decoded: int = 0
    # Events examined (in every pack opened, and every event item met in the window) and their bytes as stored
    # (a pack's compressed payload, an item's message and metadata): what a search cost (``scanned``).
    scanned_events: int = 0
    scanned_bytes: int = 0

@dataclass(frozen=True)
class _Resume:
    """Where a shard stopped when the read budget or the deadline ran out: every item of it newer than
    ``log_id`` is known."""

    log_id: str


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

    def __init__(self, items, units, decoded):
        # Both reserved by fetches in flight, so neither is passed however they overlap.
        self.items_left = items
        self.units_left = units
        # The span above the window may take half of each; the window itself always has the rest.
        self._span_items = items / 2
        self._span_units = units / 2
        self.span_left = False  # a shard left the span above the window unread
        self.items_spent = 0
        self.units_spent = 0
        # Events decoded from packs (only the merge decodes, in the request's thread).
        self.decode_left = decoded
        self.decoded = 0
        self.scanned_events = 0
        self.scanned_bytes = 0
        # BatchGetItem calls (packs read by key: the merge makes them, in the request's thread).
        self.key_reads = 0
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

    def reserve_exactly(self, items, units, forced=False):
        """``(items, units)`` reserved for a read whose cost is known before it starts, or None if it does not
        fit (``forced``: reserved whatever is left)."""
        with self._lock:
            if not forced and (units > self.units_left or items > self.items_left):
                return None
            self.units_left -= units
            self.items_left -= items
            return items, units

    def span_allows(self):
        """Whether a shard may read further in the span above the window."""
        with self._lock:
            return self.items_spent < self._span_items and self.units_spent < self._span_units

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
    parallel(lambda stream: stream.fetch(budget.reserve(first, forced=True)), streams)
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
        parallel(lambda pair: pair[0].fetch(pair[1], late=True), batch)
        wanting = wanting[len(batch):]


class _ShardStream:
    """One shard's matching items, newest first, fetched a page at a time on demand."""

    def __init__(self, client, request, page_size, budget, floor, searching=False):
        self._client = client
        # A search drops in the merge what does not match: its shard reads further ahead at every call.
        self._searching = searching
        # Items keyed above this (the window's top) are the span above it: read while half the budget
        # allows, and then left, so that a span crowded with packs (a sender may key any number of them
        # into one second) can neither stall nor overspend a read: the packs left unread there are missed.
        self._floor = floor
        self._request = dict(request, ReturnConsumedCapacity="TOTAL")
        self.page_size = page_size
        self._budget = budget
        self._start_key = None
        self._buffer = deque()
        self._more = True
        self._stopped = False
        self.calls = 0

    def _leave_span(self):
        """Read on from the window's top, leaving the rest of the span above it."""
        values = dict(self._request["ExpressionAttributeValues"], **{":top": {"S": self._floor}})
        self._request = dict(self._request, ExpressionAttributeValues=values)
        self._start_key = None
        self._budget.span_left = True

    @property
    def buffered(self):
        return len(self._buffer)

    def read_ahead(self):
        """The items read and not yet taken, newest first."""
        return self._buffer

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
            if is_transient(error) or is_backfilling(error):
                raise StorageUnavailable() from error
            raise
        self.calls += 1
        # Without a figure from storage (an emulator may give none), the worst case counts as spent.
        consumed = response.get("ConsumedCapacity", {}).get("CapacityUnits", reservation[1])
        self._budget.settle(reservation, consumed, response.get("ScannedCount", 0))
        self._buffer.extend(response.get("Items", []))
        self._start_key = response.get("LastEvaluatedKey")
        self._more = self._start_key is not None
        if self._searching or response.get("Count", 0) < response.get("ScannedCount", 0):
            # A filter dropped items (or a search may): read further ahead next time.
            self.page_size = min(1000, self.page_size * 4)

    def entries(self):
        """Items newest first; a ``_Resume`` last if the budget or the deadline ran out before the shard did."""
        while True:
            while self._buffer:
                yield self._buffer.popleft()
            if not self._more:
                return
            if self._start_key[RANGE_KEY]["S"] > self._floor and not self._budget.span_allows():
                self._leave_span()
            reservation = None if aws.current_deadline().expired else self._budget.reserve(self.page_size)
            if reservation is not None:
                self.fetch(reservation, late=True)
            if self._stopped or reservation is None:
                # Stopped in the span above the window (or having left it with nothing read below): every item
                # the window needs above its top is what was read, so a page may stop at the top.
                known = self._start_key[RANGE_KEY]["S"] if self._start_key is not None else self._floor
                yield _Resume(min(known, self._floor))
                return


# heapq pops the smallest entry; the merge wants the greatest key. Keys use characters from ``!`` to ``~``:
# mirrored, and ended with a character above every mirrored one, they sort in reverse, a prefix included
# ("X.d" before "X").
_REVERSED = {code: 0x21 + 0x7E - code for code in range(0x21, 0x7F)}
_END = "\x7f"
_ITEM, _ROW, _RESUME = 0, 1, 2


def _newest_first_key(key):
    return key.translate(_REVERSED) + _END


class Reads:
    """``recent`` over both layouts (``calls``: a ``Calls``)."""

    def __init__(self, calls, retention_ms, shards):
        self._calls = calls
        self._retention_ms = retention_ms
        self._service_shards, self._timeline_shards, self._severity_shards = shards

    def recent(self, query, now_ms, after=None, budget=READ_BUDGET, units=READ_UNITS, fits=None,
               decoded=DECODE_BUDGET):
        """The newest events matching ``query``, newest first, strictly before position ``after``.

        Expired events are never returned, even before DynamoDB deletes them.
        At most ``budget`` items and ``units`` read units are read (see
        ``READ_UNITS``), at most ``decoded`` events decoded from packs (see
        ``DECODE_BUDGET``), and no new call starts once the request's deadline
        has come: when any stops the read first, the page holds what was found
        so far. ``fits(event)``, if given, is asked about each event in turn
        (it takes the first of a page); the page stops before the first it
        refuses. Then ``next_after`` says where to resume (a log id, or a
        pack's key), so a page may hold fewer than ``query.limit`` events while
        more exist. ``next_after`` is None only when nothing is left.
        """
        low = ids.lowest_id_at(max(query.since_ms, now_ms - self._retention_ms))
        high = ids.highest_id_at(query.until_ms)
        resume = _Position.parse(after) if after is not None else None
        if resume is not None:
            high = min(high, keys.just_below(resume.key))
        if low > high:
            return Page([], None, 0, 0, 0)
        # Packs keyed up to a span above the window may reach into it: those a cursor names are read by key,
        # and the span is read too (within half the budget), for packs written since, or too many to name;
        # not again after a page that had to leave it, so that the next one spends its budget below.
        top = high
        if resume is None or not resume.past_span:
            top = ids.highest_id_at(min(ids.MAX_TIME_MS, ids.time_of(high) + packs.PACK_SPAN_MS)) + "~"

        indexes, levels = self._view(query)
        reads = _ReadBudget(budget, units, decoded)
        streams = [
            # A shard's share of the page, plus one so that a shard holding a
            # little more than its share rarely needs a second call.
            _ShardStream(self._calls.client,
                         self._query_request(index, hash_key, partition, (low, high, top), query, now_ms, levels),
                         math.ceil(query.limit / len(partitions)) + 1, reads, high, query.search is not None)
            for index, hash_key, partitions in indexes for partition in partitions
        ]
        _prefetch(streams, reads)
        if resume is not None and resume.refs:
            streams.append(_Fixed(self._read_refs(resume.refs, reads)))
        found, stop = _merge(streams, _RowFilter(low, high, levels, query.log_type, query.search), query.limit, fits,
                             reads,
                             lambda stubs, forced: self._payloads(stubs, reads, forced))
        return Page(
            events=found,
            next_after=stop.encode() if stop is not None else None,
            items_read=reads.items_spent,
            units_read=reads.units_spent,
            calls=sum(stream.calls for stream in streams) + reads.key_reads,
            events_decoded=reads.decoded,
            scanned_events=reads.scanned_events,
            scanned_bytes=reads.scanned_bytes,
        )

    def _read_refs(self, refs, reads):
        """The packs a cursor names (they reach below where it stopped), read whatever the budget."""
        found = self._get({(service_name, sort_key): {keys.HASH_KEY: {"S": keys.service_partition(
            service_name, ids.shard_of(sort_key[:ids.LENGTH], self._service_shards))}, RANGE_KEY: {"S": sort_key}}
            for service_name, sort_key in refs}, None, False, reads)
        return sorted(found.values(), key=lambda item: item[RANGE_KEY]["S"], reverse=True)

    def _payloads(self, stubs, reads, forced):
        """``{sort key: pack}`` for packs met in GSI ``pack_timeline`` (``stubs``): what the table adds to them,
        or None if the read budget cannot pay for it or the deadline has come (``forced``: read whatever
        the budget). Eventually consistent, then strongly for any pack that read missed: a pack the index
        shows is in the table (written before its index entry), unless its retention deleted it since."""
        if not forced and aws.current_deadline().expired:
            return None
        reservation = reads.reserve_exactly(len(stubs), _fetch_units(stubs), forced)
        if reservation is None:
            return None
        wanted = {stub[RANGE_KEY]["S"]: {keys.HASH_KEY: stub[keys.HASH_KEY], RANGE_KEY: stub[RANGE_KEY]}
                  for stub in stubs}
        attributes = (packs.PAYLOAD, "service_name", "ingested_at", "ingested_by")
        found = self._get(wanted, attributes, False, reads, reservation)
        missing = {sort_key: key for sort_key, key in wanted.items() if sort_key not in found}
        if missing:
            found.update(self._get(missing, attributes, True, reads))
        return {sort_key: {**stub, **found[sort_key]} for sort_key, stub in zip(wanted, stubs, strict=True)
                if sort_key in found}

    def _get(self, wanted, attributes, consistent, reads, reservation=None):
        """``{name: item}`` of the items ``wanted`` (``{name: key}``) that exist, counted in the budget against
        ``reservation`` (by default, whatever the budget)."""
        consumed, found, unchecked = [], {}, ()
        reservation = reservation or reads.reserve(len(wanted), forced=True)
        try:
            found, unchecked = self._calls.read_keys(wanted, attributes, consistent=consistent, spent=consumed)
        finally:
            reads.settle(reservation, sum(consumed), len(found))
            reads.key_reads += len(consumed)  # each answer reports the capacity it consumed once
        if unchecked:
            raise StorageUnavailable()
        return found

    def _view(self, query):
        """``([(index, hash key, partitions), ...], levels to filter on)`` for a query.

        WARN, ERROR and FATAL events (and packs) are also in the sparse indexes, keyed by
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
            partitions = [keys.service_severity_partition(query.service_name, level, shard)
                          for level in levels for shard in shards]
            return [(keys.SERVICE_SEVERITY_INDEX, keys.SERVICE_SEVERITY_HASH_KEY, partitions)], None
        partitions = [keys.severity_partition(level, shard) for level in levels for shard in shards]
        return [(keys.SEVERITY_INDEX, keys.SEVERITY_HASH_KEY, partitions)], None

    def _general_view(self, query, levels):
        """The service's shards, or both timelines' (event items and packs), filtering on ``levels`` if given."""
        if query.service_name is not None:
            partitions = [keys.service_partition(query.service_name, shard) for shard in range(self._service_shards)]
            return [(None, keys.HASH_KEY, partitions)], levels
        shards = range(self._timeline_shards)
        return [(keys.TIMELINE_INDEX, keys.TIMELINE_HASH_KEY, [keys.timeline_partition(shard) for shard in shards]),
                (keys.PACK_TIMELINE_INDEX, keys.PACK_TIMELINE_HASH_KEY,
                 [keys.pack_timeline_partition(shard) for shard in shards])], levels

    def _query_request(self, index, hash_key, partition, bounds, query, now_ms, levels):
        low, high, top = bounds
        names = {"#h": hash_key, "#r": RANGE_KEY, "#ttl": TTL_ATTRIBUTE, "#lo": OLDEST}
        values = {":h": {"S": partition}, ":low": {"S": low}, ":top": {"S": top}, ":high": {"S": high},
                  ":now": {"N": str(now_ms // 1000)}}
        # Above ``high`` only packs that reach below it: event items there are dropped by the merge.
        filters = ["#ttl > :now", "(attribute_not_exists(#lo) OR #lo <= :high)"]
        if index is None:  # the service view's partitions also hold identity guards, which are no events
            names["#guard"] = GUARD_OF
            filters.append("attribute_not_exists(#guard)")
        if levels:
            names.update({"#level": "level", "#levels": packs.LEVELS})
            values.update({f":level{number}": {"S": level} for number, level in enumerate(levels)})
            named = [f":level{number}" for number in range(len(levels))]
            filters.append("(#level IN (" + ", ".join(named) + ")"
                           + "".join(f" OR contains(#levels, {value})" for value in named) + ")")
        if query.log_type is not None:
            names.update({"#log_type": "log_type", "#log_types": packs.LOG_TYPES})
            values[":log_type"] = {"S": query.log_type}
            filters.append("(#log_type = :log_type OR contains(#log_types, :log_type))")
        request = {
            "TableName": self._calls.table,
            "KeyConditionExpression": "#h = :h AND #r BETWEEN :low AND :top",
            "FilterExpression": " AND ".join(filters),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        if index is not None:
            request["IndexName"] = index
        if index == keys.PACK_TIMELINE_INDEX:
            # Only what the merge reads of a stub (which pack, its events, size and filter; its partition names its
            # service): parsing an answer costs CPU per attribute, and a search may meet thousands of stubs. The
            # read units are the same.
            names.update({"#p": keys.HASH_KEY, "#n": packs.COUNT, "#z": packs.PAYLOAD_BYTES, "#f": packs.FILTER})
            request["ProjectionExpression"] = "#p, #r, #n, #z, #f"
        return request


@dataclass(frozen=True)
class _RowFilter:
    """What a pack's rows must be to be answered: in the window, at the levels and log type asked for, and
    matching the search if any (which event items are checked against too, once the Query has read them)."""

    low: str
    high: str
    levels: tuple | None
    log_type: str | None
    search: Search | None = None

    @property
    def narrows(self):
        """Whether some rows of a pack the Query returned may not be answered (besides the window's edges)."""
        return self.levels is not None or self.log_type is not None or self.search is not None

    def rows_of(self, pack):
        return [row for row in packs.rows(pack, self.search) if self.low <= row[0] <= self.high
                and (self.levels is None or row[1] in self.levels)
                and (self.log_type is None or row[2] == self.log_type)
                and (self.search is None or self.search.matches(row[3], row[4] or {}))]

    def takes(self, event):
        return self.search is None or self.search.matches(event["message"], event["metadata"])


# A cursor names at most this many packs that reach below where it stopped, in at most this many characters
# (service names run to 128): with more, the next page finds them by reading the span above that point.
MAX_REFS = 32
MAX_REFS_CHARS = 2_400


@dataclass(frozen=True)
class _Position:
    """Where a page stopped: events below ``key`` are left, and the packs ``refs`` ((service, key) each), keyed
    above it, hold some of them (None: too many to name). ``past_span``: the page left the span above its
    window unread, and the next one does not read it again.

    Encoded ``key``, then ``|*`` or ``|service,pack key`` per pack, then ``|!`` if ``past_span``: service
    names hold neither ``|`` nor ``,``.
    """

    key: str
    refs: tuple | None
    past_span: bool = False

    def encode(self):
        named = ("*",) if self.refs is None else tuple(f"{service},{sort_key}" for service, sort_key in self.refs)
        return "|".join((self.key, *named, *("!",) * self.past_span))

    @classmethod
    def parse(cls, text):
        key, *rest = text.split("|")
        past_span = rest[-1:] == ["!"]
        rest = rest[:-1] if past_span else rest
        if rest == ["*"]:
            return cls(key, None, past_span)
        return cls(key, tuple(tuple(ref.split(",", 1)) for ref in rest), past_span)


def _stop(key, heap, budget, opened=None):
    """The position at ``key``, naming the opened packs keyed at or above it whose events below it were not
    answered yet (the next page's Queries find those keyed below it)."""
    packs_left = {source[RANGE_KEY]["S"]: source for _, _, _, kind, _, source in heap
                  if kind == _ROW and source[RANGE_KEY]["S"] >= key}
    if opened is not None:
        packs_left[opened[RANGE_KEY]["S"]] = opened
    if len(packs_left) > MAX_REFS:
        return _Position(key, None, budget.span_left)
    named = tuple(sorted((keys.service_of_partition(item[keys.HASH_KEY]["S"]), sort_key)
                         for sort_key, item in packs_left.items()))
    if sum(len(service) + len(sort_key) + 2 for service, sort_key in named) > MAX_REFS_CHARS:
        return _Position(key, None, budget.span_left)
    return _Position(key, named, budget.span_left)


def _fetch_units(stubs):
    """The most read units an eventually consistent read of the packs of ``stubs`` consumes (half a unit per 4 KB
    of each item, its size rounded up)."""
    return sum(math.ceil(packs.item_bytes_at_most(stub) / READ_UNIT_BYTES) for stub in stubs) / 2


def _stubs_to_fetch(stub, heap, streams, fetched, wanted, budget, search):
    """``stub``, and the other packs without payload at the heads of the shards or read ahead in them (not
    ``fetched`` yet), newest first, while the events of those before may not cover the ``wanted`` events still to
    find, and within the decode and read budgets and one ``BatchGetItem``; not those ``search`` rules out by
    their filter."""
    waiting = itertools.chain((value for _, _, _, kind, value, _ in heap if kind == _ITEM),
                              *(stream.read_ahead() for stream in streams))
    heads = sorted((value for value in waiting if packs.is_pack(value) and packs.is_stub(value)
                    and value[RANGE_KEY]["S"] not in fetched and value is not stub
                    and not packs.ruled_out(value, search)),
                   key=lambda item: item[RANGE_KEY]["S"], reverse=True)[:MAX_FETCH - 1]
    chosen, events = [stub], int(stub[packs.COUNT]["N"])
    for head in heads:
        count = int(head[packs.COUNT]["N"])
        if (events >= wanted or events + count > budget.decode_left
                or _fetch_units([*chosen, head]) > budget.units_left or len(chosen) + 1 > budget.items_left):
            break
        chosen.append(head)
        events += count
    return chosen


def _merge(streams, row_filter, limit, fits, budget, payloads):
    """``(events, stop)``: the newest ``limit`` events of ``streams`` that ``fits`` takes, newest first, and
    where they stopped (a ``_Position``, None if nothing is left). ``payloads(stubs, forced)`` completes packs
    met without their payload (``{sort key: pack}``; a pack missing there was deleted), or is None if the read
    budget or the deadline does not allow it."""
    heap, order, fetched = [], itertools.count(), {}

    found, opened = [], set()

    def next_of(entries):
        for entry in entries:
            if isinstance(entry, _Resume):
                heapq.heappush(heap, (_newest_first_key(entry.log_id), 1, next(order), _RESUME, entry.log_id, None))
                return
            if packs.ruled_out(entry, row_filter.search):
                # Examined by its filter alone: neither read nor decoded, so outside the decode budget; and never
                # ordered, since it adds nothing (a search may meet thousands).
                key = entry[RANGE_KEY]["S"]
                if key not in opened:  # a pack the cursor named is met again in the span above the window
                    opened.add(key)
                    budget.scanned_events += int(entry[packs.COUNT]["N"])
                    budget.scanned_bytes += len(entry[packs.FILTER]["B"])
                continue
            heapq.heappush(heap, (_newest_first_key(entry[RANGE_KEY]["S"]), 0, next(order), _ITEM, entry, entries))
            return

    for stream in streams:
        next_of(stream.entries())
    while heap:
        _, _, _, kind, value, source = heapq.heappop(heap)
        if kind == _RESUME:
            return found, _stop(value, heap, budget)
        if kind == _ITEM:
            next_of(source)
            key = value[RANGE_KEY]["S"]
            if packs.is_pack(value):
                if key in opened:  # named by the cursor and met again in the span above the window
                    continue
                opened.add(key)
                count = int(value[packs.COUNT]["N"])
                if key <= row_filter.high and count > budget.decode_left:
                    return found, _stop(key, heap, budget, opened=value)
                if packs.is_stub(value):
                    if key not in fetched:
                        # Within the read budget, but whatever it in the span above the window, like the decode.
                        # When rows are filtered, a pack's count says nothing of how many events it adds: read
                        # ahead what the budgets allow, so that packs yielding nothing cost one call per batch,
                        # not one each.
                        wanted = budget.decode_left if row_filter.narrows else limit - len(found)
                        more = payloads(_stubs_to_fetch(value, heap, streams, fetched, wanted, budget,
                                                        row_filter.search),
                                        key > row_filter.high)
                        if more is None:
                            return found, _stop(key, heap, budget, opened=value)
                        fetched.update(more)
                    value = fetched.pop(key, None)
                    if value is None:  # deleted when its retention ended
                        continue
                budget.decode_left -= count
                budget.decoded += count
                budget.scanned_events += count
                budget.scanned_bytes += len(value[packs.PAYLOAD]["B"])
                for row in row_filter.rows_of(value):
                    heapq.heappush(heap, (_newest_first_key(row[0]), 0, next(order), _ROW, row, value))
                continue
            if key > row_filter.high:
                continue
            budget.scanned_events += 1
            budget.scanned_bytes += item_layout.stored_bytes(value)
            event = item_layout.to_event(value)
            if not row_filter.takes(event):
                continue
        else:
            event = packs.to_event(value, source)
        if found and event["log_id"] == found[-1]["log_id"]:
            # The same event in two packs (part of a request sent again in another): its id derives from its
            # content, time and caller, so it is that event again; it is answered once.
            continue
        if len(found) == limit or (fits is not None and not fits(event)):
            # This event is left for the next page: its pack, if any, is named with the others.
            heapq.heappush(heap, (_newest_first_key(event["log_id"]), 0, next(order), kind, value, source))
            return found, _stop(found[-1]["log_id"], heap, budget)
        found.append(event)
    return found, None


class _Fixed:
    """Items already read (by key: the budget counts the calls), as a stream: newest first."""

    calls = 0

    def __init__(self, items):
        self._items = items

    @staticmethod
    def read_ahead():
        return ()

    def entries(self):
        yield from self._items
