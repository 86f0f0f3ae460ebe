"""Packs: the events of one request that share a service, a level class and a second of event time, stored
compressed in one item (README "Data model", docs/ARCHITECTURE.md "Packs").

A pack holds the events of one service and one level class (TRACE, DEBUG and INFO together; WARN, ERROR and
FATAL each alone, so that a severe pack sits in the severity views and holds nothing else), oldest first, cut
when the next event would make it span more than ``PACK_SPAN_MS`` of event time, hold more than
``MAX_PACK_EVENTS`` events or more than ``MAX_PACK_TEXT_BYTES`` of JSON text. Its item carries the same index
keys an event item does, taken from its newest event's log id, and expires with that event, so no byte of it
outlives its events' retention by more than ``PACK_SPAN_MS``.

The payload is the zlib (level 6) of a JSON array with one array per event:
``[log_id, level, log_type, message, metadata or null, event_id or null]``; metadata is kept as the JSON text
the event was stored with. Service, ingestion time and caller are the pack's (one request's) own attributes.
"""
import hashlib
import json
import zlib
from dataclasses import dataclass

from chalicelib import events as ev
from chalicelib import ids, search
from chalicelib.repository import keys
from chalicelib.repository.items import expires_at
from chalicelib.repository.keys import OLDEST, RANGE_KEY, TTL_ATTRIBUTE

# How much event time one pack spans at most: a pack expires with its newest event, so its oldest one's bytes
# outlive their retention by at most this; and a read that stops at a point reads the packs keyed up to this
# much above it, to find the ones that reach below it (see ``reads``).
PACK_SPAN_MS = 1_000
# Events decoded to show one of them: a read opens whole packs.
MAX_PACK_EVENTS = 100
# Bounds a pack's item under DynamoDB's 400 KB whatever the events: zlib never grows text by more than a few
# bytes per 16 KiB, and one larger event (at most 256 KiB of message and 16 KiB of metadata, whose JSON escapes
# compress) is a pack of its own.
MAX_PACK_TEXT_BYTES = 128 * 1024
ZLIB_LEVEL = 6

PAYLOAD = "pack"
COUNT = "n"
LEVELS = "levels"
LOG_TYPES = "log_types"
# The payload's length: what a read reserves in read units before it fetches the pack.
PAYLOAD_BYTES = "z"
# The filter of the pack's text (``search.text_filter``): a search skips a pack it rules out without reading it.
FILTER = "f"
# What GSI ``pack_timeline`` projects of a pack besides its keys (infra/table_schema.json; a test checks): what
# a read filters on and names in a cursor, not the payload, which it fetches from the table for the packs it opens.
STUB_ATTRIBUTES = ("service_name", TTL_ATTRIBUTE, OLDEST, COUNT, LEVELS, LOG_TYPES, PAYLOAD_BYTES, FILTER)
# A pack's item beside its payload: keys, service name, caller, times and counts, in at most this many bytes.
MAX_ATTRIBUTE_BYTES = 4096
_GENERAL = ""


@dataclass(frozen=True)
class Member:
    """An event of the request going into a pack: its position in the request, and its row as JSON bytes."""

    index: int
    event: ev.LogEvent
    log_id: str
    row: bytes


def content_text(event):
    """The row of ``event`` after its log id: what its content digest is taken over, and what is stored."""
    return ",".join((
        json.dumps(event.level), json.dumps(event.log_type), json.dumps(event.message, ensure_ascii=False),
        event.metadata_json if event.metadata is not None else "null",
        json.dumps(event.event_id) if event.event_id is not None else "null",
    ))


def member(index, event, log_id, content):
    """``event`` as a pack member: ``content`` is its ``content_text``, encoded."""
    return Member(index, event, log_id, b'["' + log_id.encode("ascii") + b'",' + content + b"]")


def is_pack(item):
    return COUNT in item


def is_stub(item):
    """A pack as GSI ``pack_timeline`` holds it: without its payload."""
    return PAYLOAD not in item


def item_bytes_at_most(item):
    """An upper bound on the size of pack ``item`` in the table, from its stub."""
    return int(item[PAYLOAD_BYTES]["N"]) + MAX_ATTRIBUTE_BYTES


def groups(members):
    """The packs ``members`` go in, each oldest first: by service and level class, cut at the pack's limits."""
    classes = {}
    for entry in members:
        level = entry.event.level
        classes.setdefault((entry.event.service_name, level if level in ev.SEVERE_LEVELS else _GENERAL),
                           []).append(entry)
    for entries in classes.values():
        entries.sort(key=lambda entry: entry.log_id)
        pack, size, start_ms = [], 0, 0
        for entry in entries:
            time_ms = ids.time_of(entry.log_id)
            if pack and (len(pack) == MAX_PACK_EVENTS or size + len(entry.row) > MAX_PACK_TEXT_BYTES
                         or time_ms - start_ms > PACK_SPAN_MS):
                yield pack
                pack, size = [], 0
            if not pack:
                start_ms = time_ms
            pack.append(entry)
            size += len(entry.row)
        yield pack


def items(pack, ingested_at_ms, ingested_by, shards, retention_ms):
    """``[(members, item)]`` for a pack: its one item."""
    body = b"[" + b",".join(entry.row for entry in pack) + b"]"
    payload = zlib.compress(body, ZLIB_LEVEL)
    newest, level = pack[-1], pack[-1].event.level
    item = {
        **keys.partitions(newest.log_id, newest.event.service_name, level, shards, level in ev.SEVERE_LEVELS,
                         pack=True),
        RANGE_KEY: {"S": newest.log_id + "." + hashlib.sha256(body).hexdigest()[:8]},
        OLDEST: {"S": pack[0].log_id},
        COUNT: {"N": str(len(pack))},
        LEVELS: {"SS": sorted({entry.event.level for entry in pack})},
        LOG_TYPES: {"SS": sorted({entry.event.log_type for entry in pack})},
        "service_name": {"S": newest.event.service_name},
        "ingested_at": {"N": str(ingested_at_ms)},
        TTL_ATTRIBUTE: expires_at(ids.time_of(newest.log_id), retention_ms),
        PAYLOAD: {"B": payload},
        PAYLOAD_BYTES: {"N": str(len(payload))},
        # What a search tests before it reads the payload: what it may find in the events.
        FILTER: {"B": search.text_filter(search.searchable((entry.event.message, entry.event.metadata)
                                                           for entry in pack))},
    }
    if ingested_by:
        item["ingested_by"] = {"S": ingested_by}
    return [(pack, item)]


def rows(item, wanted=None):
    """A pack's events as stored rows, oldest first (``[log_id, level, log_type, message, metadata, event_id]``);
    none if its text shows that none matches search ``wanted`` (then nothing is decoded)."""
    text = zlib.decompress(item[PAYLOAD]["B"]).decode("utf-8", "surrogatepass")
    if wanted is not None and not wanted.may_match_text(text):
        return []
    return json.loads(text)


def ruled_out(item, wanted):
    """Whether pack ``item``'s filter shows that no event of it matches search ``wanted`` (packs written before
    filters have none: never ruled out by it)."""
    return wanted is not None and FILTER in item and not wanted.may_match_filter(item[FILTER]["B"])


def to_event(row, item):
    """A stored row of pack ``item`` as the API returns the event."""
    return {
        "log_id": row[0],
        "service_name": item["service_name"]["S"],
        "level": row[1],
        "log_type": row[2],
        "message": row[3],
        "timestamp": ev.format_time(ids.time_of(row[0])),
        "metadata": row[4] if row[4] is not None else {},
        "event_id": row[5],
        "ingested_at": ev.format_time(int(item["ingested_at"]["N"])),
        "ingested_by": item["ingested_by"]["S"] if "ingested_by" in item else None,
    }


def sent_event(event, log_id, ingested_at_ms, ingested_by):
    """``event`` as the API returns it once stored in a pack under ``log_id``, built from what was sent."""
    return {
        "log_id": log_id,
        "service_name": event.service_name,
        "level": event.level,
        "log_type": event.log_type,
        "message": event.message,
        "timestamp": ev.format_time(event.timestamp_ms),
        "metadata": json.loads(event.metadata_json) if event.metadata is not None else {},
        "event_id": event.event_id,
        "ingested_at": ev.format_time(ingested_at_ms),
        "ingested_by": ingested_by or None,
    }
