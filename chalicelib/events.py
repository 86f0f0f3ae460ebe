"""The log event: parsing, validation and normalization. Pure functions, no I/O.

Every rule of the contract's event table and of the ``GET /logs/recent``
parameters lives here. Errors are ``ValidationError(field, problem)`` so the
caller's message always starts with the field at fault.
"""
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib.errors import PayloadTooLarge, ValidationError

MAX_BODY_BYTES = 1_048_576
MAX_BATCH = 1000
MAX_MESSAGE_BYTES = 256 * 1024
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 8
MAX_FUTURE_MS = 2 * 3600 * 1000
DAY_MS = 24 * 3600 * 1000
HOUR_MS = 3600 * 1000
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_WINDOW_HOURS = 24

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
LEVEL_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL"}
DEFAULT_LOG_TYPE = "application"

EVENT_FIELDS = ("service_name", "level", "message", "log_type", "timestamp", "metadata", "event_id")
QUERY_PARAMETERS = ("limit", "service_name", "level", "log_type", "since", "until", "hours", "cursor")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]*\Z")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+\Z")
_DIGITS = re.compile(r"[0-9]+\Z")
# chalice local decodes "+" in a query string to a space: "...T10:00:00 01:00".
_SPACED_OFFSET = re.compile(r"(T[0-9:.,]+) ([0-9]{2}(:?[0-9]{2})?)\Z")


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


@dataclass(frozen=True)
class Rejection:
    """An event of a batch that was not stored: invalid, or (``retryable``) valid but not stored in time."""

    index: int
    message: str
    retryable: bool


@dataclass(frozen=True)
class RecentQuery:
    """A resolved ``GET /logs/recent`` request.

    ``fingerprint`` holds the filter and window parameters as the caller gave
    them (normalized); a cursor is bound to it.
    """

    limit: int
    service_name: str | None
    level: str | None
    log_type: str | None
    since_ms: int
    until_ms: int
    cursor: str | None
    fingerprint: tuple


# --- request bodies ---------------------------------------------------------

class _Refused:
    """Stands in, while parsing, for a value strict JSON refuses, so the error can name where it was."""

    def __init__(self, problem, key=None):
        self.problem = problem
        self.key = key


class _StrictJson:
    """json.loads hooks that mark NaN/Infinity, overflowing numbers and duplicate keys."""

    def __init__(self):
        self.refused = False

    def _refuse(self, problem, key=None):
        self.refused = True
        return _Refused(problem, key)

    def constant(self, name):
        return self._refuse(f"{name} is not valid JSON")

    def number(self, text):
        value = float(text)
        if math.isinf(value):
            return self._refuse(f"the number {text[:40]} is out of range for a double")
        return value

    def object(self, pairs):
        result = {}
        for key, value in pairs:
            if key in result:
                return self._refuse("duplicate key", key)
            result[key] = value
        return result


def _first_refused(value, path):
    """``(path, _Refused)`` of the first refused value in document order, or None."""
    if isinstance(value, _Refused):
        return path, value
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found = _first_refused(child, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else key)
        if found:
            return found
    return None


def parse_json_body(raw):
    """Strict JSON: UTF-8, no NaN/Infinity, no duplicate keys, at most 1 MiB.

    A refused value is reported under its path, e.g. ``metadata.retries`` or
    ``logs[3].message``, not just as the body.
    """
    if raw is None:
        raw = b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body: {len(raw)} bytes is over the limit of {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise ValidationError("body", "is empty; expected a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("body", "is not valid UTF-8") from None
    strict = _StrictJson()
    try:
        document = json.loads(text, object_pairs_hook=strict.object, parse_constant=strict.constant,
                              parse_float=strict.number)
    except RecursionError:
        raise ValidationError("body", "is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise ValidationError("body", f"malformed JSON ({error.msg} at character {error.pos})") from None
    except ValueError:
        # int() refuses integers of more than 4,300 digits.
        raise ValidationError("body", "holds an integer with too many digits") from None
    if strict.refused:
        path, refused = _first_refused(document, "")
        if refused.key is not None:
            path = f"{path}.{refused.key}" if path else refused.key
        raise ValidationError(path or "body", refused.problem)
    return document


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

def _name(field, value, max_length):
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    if not 1 <= len(value) <= max_length:
        raise ValidationError(field, f"must be 1 to {max_length} characters")
    if not _NAME.match(value):
        raise ValidationError(field, "must start with a letter or digit, then letters, digits or . _ : / -")
    return value


def normalize_level(field, value):
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
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


def _depth(value):
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    return 0


def _metadata(value):
    if not isinstance(value, dict):
        raise ValidationError("metadata", "must be a JSON object")
    depth = _depth(value)
    if depth > MAX_METADATA_DEPTH:
        raise ValidationError("metadata", f"is nested {depth} levels deep, over the limit of {MAX_METADATA_DEPTH}")
    size = _utf8_size("metadata", serialize_metadata(value))
    if size > MAX_METADATA_BYTES:
        raise ValidationError("metadata", f"is {size} bytes serialized, over the limit of {MAX_METADATA_BYTES}")
    return value


def serialize_metadata(metadata):
    return json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)


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
    return _parse_iso(field, value.strip())


def parse_query_time(field, text):
    """Epoch milliseconds from a query parameter: digits of epoch ms, or ISO 8601 with a zone.

    ``chalice local`` decodes a raw ``+`` in a query string to a space, so an
    offset written ``+01:00`` without URL-encoding arrives as `` 01:00``.
    """
    text = text.strip()
    if _DIGITS.match(text):
        return int(text)
    return _parse_iso(field, _SPACED_OFFSET.sub(r"\1+\2", text))


def _parse_iso(field, text):
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
    return int(moment.replace(microsecond=0).timestamp()) * 1000 + moment.microsecond // 1000


def format_time(epoch_ms):
    """ISO 8601 UTC with milliseconds: ``2026-11-28T10:30:45.123Z``."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{epoch_ms % 1000:03d}Z"


def _timestamp(value, now_ms, retention_days):
    timestamp_ms = parse_time("timestamp", value)
    if timestamp_ms > now_ms + MAX_FUTURE_MS:
        raise ValidationError("timestamp", "is more than 2 hours in the future")
    if timestamp_ms < now_ms - retention_days * DAY_MS:
        raise ValidationError("timestamp", f"is older than the retention period of {retention_days} days")
    return timestamp_ms


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
    return LogEvent(
        service_name=_name("service_name", raw["service_name"], 128),
        level=normalize_level("level", raw["level"]),
        message=_message(raw["message"]),
        log_type=_name("log_type", raw["log_type"], 64) if "log_type" in raw else DEFAULT_LOG_TYPE,
        timestamp_ms=_timestamp(raw["timestamp"], now_ms, retention_days) if "timestamp" in raw else now_ms,
        metadata=_metadata(raw["metadata"]) if "metadata" in raw else None,
        event_id=_event_id(raw["event_id"]) if "event_id" in raw else None,
        server_stamped="timestamp" not in raw,
    )


def validate_batch(raws, now_ms, retention_days):
    """``(events, rejections)``: events holds a ``LogEvent`` or None per index."""
    events, rejections = [], []
    for index, raw in enumerate(raws):
        try:
            events.append(normalize_event(raw, now_ms, retention_days))
        except ValidationError as error:
            events.append(None)
            rejections.append(Rejection(index, str(error), False))
    return events, rejections


# --- GET /logs/recent parameters --------------------------------------------

def _single(params, name):
    values = params.get(name) or []
    if len(values) > 1:
        raise ValidationError(name, "given more than once")
    return values[0] if values else None


def _bounded_int(name, text, low, high):
    if not _DIGITS.match(text.strip()):
        raise ValidationError(name, f"must be an integer from {low} to {high}")
    value = int(text.strip())
    if not low <= value <= high:
        raise ValidationError(name, f"must be an integer from {low} to {high}")
    return value


def parse_recent_query(params, now_ms, retention_days):
    """A ``RecentQuery`` from query parameters given as ``{name: [values]}``."""
    unknown = sorted(name for name in params if name not in QUERY_PARAMETERS)
    if unknown:
        raise ValidationError(unknown[0], "unknown query parameter")
    given = {name: _single(params, name) for name in QUERY_PARAMETERS}

    limit = _bounded_int("limit", given["limit"], 1, MAX_LIMIT) if given["limit"] is not None else DEFAULT_LIMIT
    service_name = _name("service_name", given["service_name"], 128) if given["service_name"] is not None else None
    level = normalize_level("level", given["level"]) if given["level"] is not None else None
    log_type = _name("log_type", given["log_type"], 64) if given["log_type"] is not None else None

    max_hours = retention_days * 24
    hours = _bounded_int("hours", given["hours"], 1, max_hours) if given["hours"] is not None else None
    if hours is not None and given["since"] is not None:
        raise ValidationError("hours", "cannot be combined with since")
    until_ms = parse_query_time("until", given["until"]) if given["until"] is not None else now_ms
    if given["since"] is not None:
        since_ms = parse_query_time("since", given["since"])
    else:
        since_ms = now_ms - (hours or DEFAULT_WINDOW_HOURS) * HOUR_MS
    if since_ms >= until_ms:
        if given["since"] is None:
            raise ValidationError("until", "must be after since (since defaults to now minus hours, 24 by default)")
        raise ValidationError("since", "must be before until")

    cursor = given["cursor"]
    if cursor is not None and not cursor:
        raise ValidationError("cursor", "must not be empty")
    fingerprint = (
        service_name,
        level,
        log_type,
        since_ms if given["since"] is not None else None,
        until_ms if given["until"] is not None else None,
        hours,
    )
    return RecentQuery(limit, service_name, level, log_type, since_ms, until_ms, cursor, fingerprint)
