"""The archive: every event the table stores, in gzip NDJSON objects in S3 under Hive-style partitions, written
by the ``archive`` function from the table's stream (docs/ARCHITECTURE.md "Archive").

A batch of stream records becomes one object per (service, UTC date, UTC hour of the event's time) it has
events in, at ``events/service=<service, URL-quoted>/dt=YYYY-MM-DD/hour=HH/<N>.json.gz``: every event of the
batch in that partition, sorted by log id, one line each, as ``GET /logs/recent`` answers it. Only ``INSERT``
records of packs and event items hold events; identity guards, claims, ``REMOVE`` (TTL) and ``MODIFY`` records
are skipped.

Each event once. ``<N>`` names the first record of the batch that has an event in the partition (its sequence
number, zero-padded, and its event id). Delivery is at least once: Lambda hands a failed batch again whole or
split in two (bisect), so every later attempt at its records covers a sub-range of it, and it moves past a record
only once an attempt holding it succeeded (or went to the dead-letter queue). Take an object a failed attempt
wrote for partition P, named after record f, the first P-record of its range R. The attempt that finally
succeeds with f covers a sub-range S of R that holds f, so f is S's first P-record too: it writes the same name,
with the P-events of S, and no attempt after it holds f, so that is the object's last content. Successful ranges
are disjoint, and so are their first P-records: every event of a successful range is in exactly one object (its
range's), whatever the failed attempts wrote. ``tests/test_archiving.py`` checks it over failure schedules.

What it does not cover: a range sent to the dead-letter queue after an attempt wrote some of its objects. Its
objects may then hold events of records that succeeded in another range (archived twice) and some of its own
(archived though dead-lettered). It takes a failure after a write that persists through every retry: a record the
handler cannot decode fails every attempt before any write (batches are decoded whole first). And an event sent
in two requests is two items, archived twice. Readers answer a log id once.

Bounded work: Lambda hands at most 6 MB of records; their events are held as JSON lines (about the size of
their text) while the batch is sorted into partitions, and each object is compressed as it is written, one at
a time.
"""
import gzip
import io
import json
import logging
import urllib.parse

from chalicelib import answer, aws, settings
from chalicelib.repository import events_of_image

GZIP_LEVEL = 6
PREFIX = "events/"
SEQUENCE_DIGITS = 40
INSERT = "INSERT"

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


def handle(event):
    """Archive the events of a batch of stream records (``{"Records": [...]}``, as Lambda hands it).

    Raises if any object could not be written: Lambda then retries or bisects the batch; no partial-batch
    response (an object written by a failed attempt is named so that a retry overwrites it).
    """
    records = event["Records"]
    partitions = _partitions(records)  # decoded whole before any write
    s3, bucket = aws.client("s3"), settings.archive_bucket()
    archived = {"records": len(records), "events": 0, "objects": 0, "bytes": 0}
    for key in sorted(partitions):
        lines = partitions.pop(key)
        lines.sort()
        body = _gzipped(line for _, line in lines)
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/gzip")
        archived["events"] += len(lines)
        archived["objects"] += 1
        archived["bytes"] += len(body)
    logger.info(json.dumps({"archived": archived}, separators=(",", ":")))


def partition(event):
    """``(service, UTC date, UTC hour)`` of an event as the API answers it (its timestamp ISO, in UTC)."""
    date, _, time_of_day = event["timestamp"].partition("T")
    return event["service_name"], date, time_of_day[:2]


def object_key(event_partition, record):
    """The key of the object of ``event_partition``'s events that a batch whose first record with such an event
    is stream ``record`` writes."""
    service_name, date, hour = event_partition
    name = f"{record['dynamodb']['SequenceNumber'].zfill(SEQUENCE_DIGITS)}-{record['eventID']}"
    return f"{PREFIX}service={urllib.parse.quote(service_name, safe='')}/dt={date}/hour={hour}/{name}.json.gz"


def _partitions(records):
    """``{object key: [(log id, JSON line)]}`` for the events of ``records``, each object named after the first
    record with an event in its partition."""
    keys, partitions = {}, {}
    for record in records:
        image = record["dynamodb"].get("NewImage")
        if record["eventName"] != INSERT or image is None:
            continue
        for event in events_of_image(image):
            event_partition = partition(event)
            key = keys.get(event_partition)
            if key is None:
                key = keys[event_partition] = object_key(event_partition, record)
                partitions[key] = []
            partitions[key].append((event["log_id"], answer.dumps(event).encode("utf-8")))
    return partitions


def _gzipped(lines):
    """Gzip (mtime 0: a retry writes the same bytes) of ``lines``, one per line, compressed as they come."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as stream:
        for line in lines:
            stream.write(line)
            stream.write(b"\n")
    return buffer.getvalue()
