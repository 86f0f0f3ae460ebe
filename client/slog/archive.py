"""``slog archive get``: the archived events of one service and time window, read straight from the S3 archive.

The archive (written by the stage's ``archive`` function from the table's stream) holds gzip NDJSON objects,
one event per line as the API answers it, under
``events/service=<quoted service>/dt=YYYY-MM-DD/hour=HH/`` by the event's UTC hour. A read lists the
prefixes of the window's hours, one after another, oldest first, and reads every object of an hour before
answering that hour's events in the API's order (by ``log_id``: full timestamp, then place in the request),
oldest first, each log id once: the archive may hold an event twice (the same log id stored by two requests),
and an event always lies in the partition of its own hour, so each hour is complete on its own.

A read is bounded: an hour whose objects would take the bytes read past ``max_bytes`` is not read (the read
stops before it and says where to continue), and a window is at most ``MAX_WINDOW`` long.
"""
import gzip
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from slog.errors import SlogError
from slog.render import count

MAX_WINDOW = timedelta(days=31)
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
HOUR = timedelta(hours=1)
_MS = timedelta(milliseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The contract's levels, least severe first, and the aliases it reads (the client ships without the service's code).
LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
LEVEL_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def partition_prefix(service, hour):
    """The key prefix of ``service``'s events in the UTC hour starting at ``hour``."""
    return f"events/service={quote(service, safe='')}/dt={hour:%Y-%m-%d}/hour={hour:%H}/"


def window_hours(since, until):
    """The UTC hours (their starts) that hold a moment of ``[since, until]``, oldest first."""
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour <= until:
        hours.append(hour)
        hour += HOUR
    return hours


def check_window(since, until):
    if since >= until:
        raise SlogError("--since must be before --until")
    if until - since > MAX_WINDOW:
        raise SlogError(f"the window is {(until - since) / timedelta(days=1):.1f} days long: at most "
                        f"{MAX_WINDOW.days} days a read (split it, or ask Athena)")


def levels(level=None, min_level=None):
    """The levels an event may have to be answered: ``level`` exactly, or ``min_level`` and the more severe ones
    (the API's rules and aliases); ``None``: every level."""
    if level and min_level:
        raise SlogError("give --level or --min-level, not both")
    if min_level:
        return frozenset(LEVELS[LEVELS.index(_level("--min-level", min_level)):])
    if level:
        return frozenset({_level("--level", level)})
    return None


def _level(option, value):
    name = value.upper() if value.isascii() else value
    name = LEVEL_ALIASES.get(name, name)
    if name not in LEVELS:
        raise SlogError(f"{option} {value!r} is not a level: one of {', '.join(LEVELS)}")
    return name


def _epoch_ms(moment):
    return (moment - _EPOCH) // _MS


@dataclass
class Reading:
    """What a read took from S3, and why it stopped early (``None``: it read the whole window)."""

    hours: int = 0
    objects: int = 0
    bytes: int = 0
    events: int = 0
    stopped_at: datetime = None
    stopped_bytes: int = 0

    def describe(self):
        read = (f"{count(self.events, 'event')} from {count(self.objects, 'object')} ({self.bytes:,} bytes) "
                f"in {count(self.hours, 'hour')} of the archive")
        if self.stopped_at is None:
            return read
        resume = self.stopped_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return (f"{read}; stopped at --max-bytes: the hour from {resume} holds {self.stopped_bytes:,} bytes, "
                f"more than are left, so events from then on were not read (continue with --since {resume}, "
                "or raise --max-bytes)")


def read_events(s3, bucket, service, since, until, levels=None, max_bytes=DEFAULT_MAX_BYTES, reading=None):
    """Yield the archived events of ``service`` with ``since <= timestamp <= until`` (to the millisecond, as the
    API's window) and a level in ``levels`` (``None``: any), oldest first, each log id once. ``reading`` (a
    ``Reading``) counts what was read and says where the read stopped."""
    reading = reading if reading is not None else Reading()
    low, high = _epoch_ms(since), _epoch_ms(until)
    for hour in window_hours(since, until):
        objects = _list(s3, bucket, partition_prefix(service, hour))
        size = sum(item["Size"] for item in objects)
        if reading.bytes + size > max_bytes:
            reading.stopped_at, reading.stopped_bytes = hour, size
            return
        reading.hours += 1
        found = {}
        for item in objects:
            for moment, log_id, event in _events(s3, bucket, item["Key"], reading):
                if low <= moment <= high and (levels is None or event.get("level") in levels):
                    found.setdefault(log_id, event)
        for log_id in sorted(found):
            reading.events += 1
            yield found[log_id]


def _list(s3, bucket, prefix):
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item for page in pages for item in page.get("Contents", ())]
    except (ClientError, BotoCoreError) as error:
        raise _s3_error(f"cannot list s3://{bucket}/{prefix}", error) from None


def _events(s3, bucket, key, reading):
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as error:
        raise _s3_error(f"cannot read s3://{bucket}/{key}", error) from None
    reading.objects += 1
    reading.bytes += len(body)
    try:
        events = [json.loads(line) for line in gzip.decompress(body).splitlines() if line.strip()]
        # The API writes timestamps to the millisecond, which the window is compared at.
        return [(_epoch_ms(datetime.fromisoformat(event["timestamp"])), str(event["log_id"]), event)
                for event in events]
    except (OSError, EOFError, zlib.error, ValueError, TypeError, KeyError):
        raise SlogError(f"s3://{bucket}/{key} is not an archive object (gzip NDJSON of events)") from None


def _s3_error(doing, error):
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return SlogError(f"{doing}: {detail.get('Code')}: {detail.get('Message')}")
    return SlogError(f"{doing}: {error}")
