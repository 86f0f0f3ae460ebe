"""The log event: validation and normalization. Pure functions, no I/O.

Every rule of the contract's event table lives here (``strict_json`` decodes
request bodies, ``query`` reads ``GET /logs/recent`` parameters). Errors are
``ValidationError(field, problem)`` so the caller's message always starts with
the field at fault.
"""
import functools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib.errors import ValidationError
from chalicelib.ids import NS_PER_MS

MAX_BODY_BYTES = 1_048_576
MAX_BATCH = 1000
MAX_MESSAGE_BYTES = 256 * 1024
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 8
MAX_FUTURE_MS = 2 * 3600 * 1000
DAY_MS = 24 * 3600 * 1000

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
LEVEL_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL"}
# The levels people page on: ``min_level`` takes these, and only they are in the sparse severity indexes.
SEVERE_LEVELS = LEVELS[LEVELS.index("WARN"):]
DEFAULT_LOG_TYPE = "application"

EVENT_FIELDS = ("service_name", "level", "message", "log_type", "timestamp", "metadata", "event_id")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]*\Z")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+\Z")


@dataclass(frozen=True)
class LogEvent:
    """A validated, normalized event, ready to be stored."""

    service_name: str
    level: str
    message: str
    log_type: str
    timestamp_ms: int
    metadata: dict | None = None
    event_id: str | None = None
    # True when the event came without a timestamp and carries its time of receipt.
    server_stamped: bool = False
    # The nanoseconds within ``timestamp_ms`` the sender gave (OTLP's nanoseconds, ISO 8601's microseconds).
    sub_ms_ns: int = 0

    @functools.cached_property
    def metadata_json(self):
        """``metadata`` as it is stored and measured: compact JSON, UTF-8 kept (None without metadata)."""
        return None if self.metadata is None else json.dumps(self.metadata, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class EpochNanos:
    """A timestamp in nanoseconds since the epoch, as OTLP gives it (JSON bodies cannot carry one)."""

    nanos: int


@dataclass(frozen=True)
class Refused:
    """A raw event its decoder already knows the rules refuse (``message`` says why, field first)."""

    message: str


@dataclass(frozen=True)
class Rejection:
    """An event of a batch that was not stored: invalid, (``retryable``) valid but not stored in time, or
    (``conflict``) a resend of a known ``event_id`` with other content."""

    index: int
    message: str
    retryable: bool
    conflict: bool = False


# --- request bodies ---------------------------------------------------------

def split_body(body):
    """``(events, is_batch)`` from a parsed body: one event or ``{"logs": [...]}``."""
    if not isinstance(body, dict):
        raise ValidationError("body", "must be a JSON object: one event or {\"logs\": [...]}")
    if "logs" not in body:
        return [body], False
    extra = sorted(key for key in body if key != "logs")
    if extra:
        raise ValidationError(extra[0], "unknown field; a batch holds only \"logs\"")
    logs = body["logs"]
    if not isinstance(logs, list):
        raise ValidationError("logs", "must be an array of events")
    if not 1 <= len(logs) <= MAX_BATCH:
        raise ValidationError("logs", f"must hold 1 to {MAX_BATCH} events, got {len(logs)}")
    return logs, True


# --- fields -----------------------------------------------------------------

def name(field, value, max_length):
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    if not 1 <= len(value) <= max_length:
        raise ValidationError(field, f"must be 1 to {max_length} characters")
    if not _NAME.match(value):
        raise ValidationError(field, "must start with a letter or digit, then letters, digits or . _ : / -")
    return value


def levels_at_least(level):
    """``level`` and every more severe level, least severe first."""
    return LEVELS[LEVELS.index(level):]


def normalize_level(field, value):
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    if not value.isascii():
        # str.upper() maps "ı" (dotless i) to "I" and "ſ" to "S": only ASCII letters name a level.
        raise ValidationError(field, "must be one of " + ", ".join(LEVELS) + " in ASCII letters")
    level = value.upper()
    level = LEVEL_ALIASES.get(level, level)
    if level not in LEVELS:
        raise ValidationError(field, "must be one of " + ", ".join(LEVELS))
    return level


def _utf8_size(field, text):
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError(field, "is not valid Unicode (lone surrogate)") from None


def _message(value):
    if not isinstance(value, str):
        raise ValidationError("message", "must be a string")
    if not value:
        raise ValidationError("message", "must not be empty")
    size = _utf8_size("message", value)
    if size > MAX_MESSAGE_BYTES:
        raise ValidationError("message", f"is {size} bytes as UTF-8, over the limit of {MAX_MESSAGE_BYTES}")
    return value


def _deeper_than(value, limit):
    """Whether objects and arrays in ``value`` nest more than ``limit`` deep: level by level, no recursion."""
    level = [value]
    for _ in range(limit):
        level = [child for item in level for child in (item.values() if type(item) is dict else item)
                 if type(child) in (dict, list)]
        if not level:
            return False
    return True


def _metadata(value):
    if not isinstance(value, dict):
        raise ValidationError("metadata", "must be a JSON object")
    if _deeper_than(value, MAX_METADATA_DEPTH):
        raise ValidationError("metadata", f"is nested more than {MAX_METADATA_DEPTH} levels deep")
    return value


def _metadata_size(event):
    size = _utf8_size("metadata", event.metadata_json)
    if size > MAX_METADATA_BYTES:
        raise ValidationError("metadata", f"is {size} bytes serialized, over the limit of {MAX_METADATA_BYTES}")


def _event_id(value):
    if not isinstance(value, str):
        raise ValidationError("event_id", "must be a string")
    if not 1 <= len(value) <= 128 or not _PRINTABLE_ASCII.match(value):
        raise ValidationError("event_id", "must be 1 to 128 printable ASCII characters")
    return value


def parse_time(field, value):
    """Epoch milliseconds from a JSON value: an ISO 8601 string with a zone, or an integer of ms."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValidationError(field, "must be an ISO 8601 string with a time zone or integer epoch milliseconds")
    if isinstance(value, int):
        if value < 0:
            raise ValidationError(field, "epoch milliseconds must not be negative")
        return value
    return parse_iso(field, value.strip())


def _iso_moment(field, text):
    """``(epoch milliseconds, nanoseconds within it)`` of an ISO 8601 date-time with a time zone."""
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text) if len(text) <= 64 else None
    except ValueError:
        moment = None
    if moment is None:
        raise ValidationError(field, "is not an ISO 8601 date-time, e.g. 2026-11-28T10:30:45.123Z")
    if moment.tzinfo is None:
        raise ValidationError(field, "needs a time zone (Z or +hh:mm)")
    epoch_ms = int(moment.replace(microsecond=0).timestamp()) * 1000 + moment.microsecond // 1000
    return epoch_ms, moment.microsecond % 1000 * 1000


def parse_iso(field, text):
    """Epoch milliseconds of an ISO 8601 date-time with a time zone."""
    return _iso_moment(field, text)[0]


def format_time(epoch_ms):
    """ISO 8601 UTC with milliseconds: ``2026-11-28T10:30:45.123Z``."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{epoch_ms % 1000:03d}Z"


def _event_time(value):
    """``(epoch milliseconds, nanoseconds within it)`` of an event's ``timestamp``, as precise as it was sent."""
    if isinstance(value, EpochNanos):
        return divmod(value.nanos, NS_PER_MS)
    if isinstance(value, str):
        return _iso_moment("timestamp", value.strip())
    return parse_time("timestamp", value), 0


def _timestamp(value, now_ms, retention_days):
    timestamp_ms, sub_ms_ns = _event_time(value)
    if timestamp_ms > now_ms + MAX_FUTURE_MS:
        raise ValidationError("timestamp", "is more than 2 hours in the future")
    if timestamp_ms < now_ms - retention_days * DAY_MS:
        raise ValidationError("timestamp", f"is older than the retention period of {retention_days} days")
    return timestamp_ms, sub_ms_ns


# --- events -----------------------------------------------------------------

def normalize_event(raw, now_ms, retention_days):
    """A ``LogEvent`` from one decoded JSON value, or ``ValidationError``."""
    if not isinstance(raw, dict):
        raise ValidationError("event", "must be a JSON object")
    unknown = sorted(key for key in raw if key not in EVENT_FIELDS)
    if unknown:
        raise ValidationError(unknown[0], "unknown field")
    for field in ("service_name", "level", "message"):
        if field not in raw:
            raise ValidationError(field, "is required")
    timestamp_ms, sub_ms_ns = (now_ms, 0) if "timestamp" not in raw else _timestamp(raw["timestamp"], now_ms,
                                                                                     retention_days)
    event = LogEvent(
        service_name=name("service_name", raw["service_name"], 128),
        level=normalize_level("level", raw["level"]),
        message=_message(raw["message"]),
        log_type=name("log_type", raw["log_type"], 64) if "log_type" in raw else DEFAULT_LOG_TYPE,
        timestamp_ms=timestamp_ms,
        metadata=_metadata(raw["metadata"]) if "metadata" in raw else None,
        event_id=_event_id(raw["event_id"]) if "event_id" in raw else None,
        server_stamped="timestamp" not in raw,
        sub_ms_ns=sub_ms_ns,
    )
    if event.metadata is not None:
        _metadata_size(event)
    return event


def validate_batch(raws, now_ms, retention_days):
    """``(events, rejections)``: events holds a ``LogEvent`` or None per index."""
    events, rejections = [], []
    for index, raw in enumerate(raws):
        if isinstance(raw, Refused):
            events.append(None)
            rejections.append(Rejection(index, raw.message, False))
            continue
        try:
            events.append(normalize_event(raw, now_ms, retention_days))
        except ValidationError as error:
            events.append(None)
            rejections.append(Rejection(index, str(error), False))
    return events, rejections
