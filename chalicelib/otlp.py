"""OpenTelemetry logs in (OTLP/HTTP): decode an export, turn its records into events, encode the answers.

Decoding uses the official schema (``opentelemetry-proto``, ``protobuf``'s
own JSON support, ``google.rpc.Status`` from ``googleapis-common-protos``).
Those modules are imported on first use, so the other routes' cold start does
not pay for them.

A record becomes the raw event the event rules then check
(``events.normalize_event``), with ``metadata`` laid out flat:

* ``otel.trace_id``, ``otel.span_id`` (hex), ``otel.trace_flags``,
  ``otel.severity_number``, ``otel.severity_text``, ``otel.event_name``,
  ``otel.dropped_attributes_count`` — each only when set;
* ``resource.<key>`` for each resource attribute (``service.name`` included);
* ``scope.name``, ``scope.version``, ``scope.attributes.<key>``;
* ``attributes.<key>`` for each record attribute.

Values keep their JSON type (bytes become base64, arrays lists, key-value lists
objects; a value nested too deep for the metadata depth limit is kept as its
JSON text). Of each resource, scope and record, the first ``MAX_ATTRIBUTES``
attributes are kept, less any whose encoding passes ``MAX_ATTRIBUTE_BYTES``
(it would take the whole metadata limit); when the whole would pass the
16 KiB metadata limit, keys are kept in that order (otel, attributes, scope,
resource) while they fit. ``otel.truncated_keys`` counts the attributes left
out either way: a record is never refused for its attributes alone.

A resource's and a scope's part of the metadata, and of the identity below,
is built once, whatever the number of records under it, and the limits are
checked before anything is built: the work is linear in the export.

An export whose records would store more than ``STORED_PER_BYTE`` times the
decompressed export plus ``STORED_PER_RECORD`` a record (each record carries
its resource's and scope's attributes) is refused whole, before anything is
stored: a small export must not fill the table.

Each record's ``event_id`` is a digest of its resource, scope and record
(their deterministic protobuf encoding, the same for an export sent as JSON
or protobuf, gzip or not), so a retried export names the same keys and
stores nothing twice.
"""
import base64
import dataclasses
import functools
import hashlib
import json
import math
import zlib

from chalicelib import events as ev
from chalicelib.errors import PayloadTooLarge, StorageUnavailable, UnsupportedMediaType, ValidationError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# What one export may hold, as received and after decompression: fits Lambda's
# 6 MB request payload once API Gateway has base64-encoded a binary body.
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_RECORDS = 10_000
# resourceLogs entries, and scopeLogs entries, per export: each one that is not empty holds a record.
MAX_GROUPS = MAX_RECORDS
# Attributes kept of each resource, scope and record: the OpenTelemetry SDKs' default attribute count limit.
MAX_ATTRIBUTES = 128
# An attribute whose encoding (key and value) is larger would take about the whole metadata limit, or more.
MAX_ATTRIBUTE_BYTES = ev.MAX_METADATA_BYTES
# What an export may store: per byte of the decompressed export, and per record (the event's own fields).
STORED_PER_BYTE = 16
STORED_PER_RECORD = 1024
# JSON objects and arrays an OTLP JSON export may hold per byte (a real export holds one per 25 bytes or more):
# protobuf's JSON parser spends microseconds on each, so an export of empty objects would cost seconds.
JSON_BYTES_PER_OBJECT = 16
MIN_JSON_OBJECTS = 10_000
UNKNOWN_SERVICE = "unknown_service"
SEVERITY_LEVELS = ((4, "TRACE"), (8, "DEBUG"), (12, "INFO"), (16, "WARN"), (20, "ERROR"), (24, "FATAL"))
TRUNCATED_KEY = "otel.truncated_keys"
_ID_FIELDS = {"traceId": 16, "spanId": 8}
# Values deeper than this inside metadata["key"] would pass the metadata depth limit.
_MAX_VALUE_DEPTH = ev.MAX_METADATA_DEPTH - 1
_GZIP_MAGIC = b"\x1f\x8b"
# Room for the marker: no export leaves out more attributes than it has bytes.
_MARKER_BYTES = len(f',"{TRUNCATED_KEY}":{MAX_BODY_BYTES}')


@functools.cache
def _schema():
    from google.protobuf import json_format, message
    from google.rpc import status_pb2
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    return logs_service_pb2, status_pb2, json_format, message.DecodeError


def media_type(content_type):
    """The media type of a Content-Type header, lower case, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


# --- decoding ------------------------------------------------------------------------

def _gunzip(body):
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, MAX_BODY_BYTES + 1)
    except zlib.error:
        raise ValidationError("body", "is not valid gzip") from None
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body: over {MAX_BODY_BYTES} bytes once decompressed")
    if not inflater.eof or inflater.unused_data:
        raise ValidationError("body", "is not one complete gzip stream")
    return data


def _protobuf_json(document, max_objects):
    """OTLP JSON as protobuf's JSON parser takes it, in place, or 413 for more than ``max_objects`` objects and
    arrays (before the parser spends its time on them). OTLP JSON writes trace and span ids in hex; protobuf's
    JSON form wants base64. Drops snake_case keys, which OTLP JSON does not allow (they are ignored like any
    unknown field)."""
    stack, objects = [document], 0
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            objects += 1
            stack.extend(value)
        elif isinstance(value, dict):
            objects += 1
            for key in [key for key in value if "_" in key]:
                del value[key]
            for key, size in _ID_FIELDS.items():
                if key in value:
                    value[key] = _hex_id(key, value[key], size)
            stack.extend(value.values())
        if objects > max_objects:
            raise PayloadTooLarge(f"body: over {max_objects} JSON objects and arrays, the limit for "
                                  f"an OTLP JSON export of this size (one per {JSON_BYTES_PER_OBJECT} bytes)")


def _hex_id(field, text, size):
    if text == "":
        return ""
    try:
        raw = bytes.fromhex(text) if isinstance(text, str) else None
    except ValueError:
        raw = None
    if raw is None or len(raw) != size:
        raise ValidationError(field, f"must be {size * 2} hex digits")
    return base64.b64encode(raw).decode("ascii")


def decode(body, content_type, content_encoding):
    """``(ExportLogsServiceRequest, decompressed size)`` from a request body, or a domain error (415, 413, 400)."""
    kind = media_type(content_type)
    if kind not in (PROTOBUF, JSON):
        raise UnsupportedMediaType(f"Content-Type: {kind or 'none'} is not {PROTOBUF} or {JSON}")
    encoding = (content_encoding or "").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise UnsupportedMediaType(f"Content-Encoding: {encoding} is not gzip or identity")
    body = body or b""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body: {len(body)} bytes is over the limit of {MAX_BODY_BYTES} bytes")
    # API Gateway may have decompressed the body already; gzip data starts with its magic number.
    if encoding == "gzip" and body.startswith(_GZIP_MAGIC):
        body = _gunzip(body)

    logs_service_pb2, _, json_format, decode_error = _schema()
    request = logs_service_pb2.ExportLogsServiceRequest()
    if kind == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (decode_error, RecursionError):
            raise ValidationError("body", "is not a valid ExportLogsServiceRequest (protobuf)") from None
        return request, len(body)
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValidationError("body", "is not valid JSON") from None
    if not isinstance(document, dict):
        raise ValidationError("body", "must be a JSON object (an ExportLogsServiceRequest)")
    _protobuf_json(document, max(MIN_JSON_OBJECTS, len(body) // JSON_BYTES_PER_OBJECT))
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as error:
        raise ValidationError("body", f"is not a valid ExportLogsServiceRequest (JSON): {str(error)[:200]}") from None
    return request, len(body)


# --- records to events ---------------------------------------------------------------------

def _any_value(value, depth=0):
    """An OTLP AnyValue as a JSON value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("array_value", "kvlist_value"):
        if depth >= _MAX_VALUE_DEPTH:
            # All of it as one JSON text (protobuf's own nesting limit bounds the recursion).
            return json.dumps(_any_value(value, -math.inf), separators=(",", ":"), ensure_ascii=False)
        if kind == "array_value":
            return [_any_value(item, depth + 1) for item in value.array_value.values]
        return {pair.key: _any_value(pair.value, depth + 1) for pair in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind == "double_value" and not math.isfinite(value.double_value):
        return str(value.double_value)
    return getattr(value, kind)


@dataclasses.dataclass
class _Part:
    """Metadata entries in priority order, their JSON size as members of the metadata object (a separator
    included), and how many attributes the limits left out."""

    entries: dict
    size: int
    left_out: int

    @functools.cached_property
    def sized_entries(self):
        """``(key, value, size)`` of each entry: only for metadata that has to be cut, once per part."""
        return [(key, value, _json_size({key: value}) - 1) for key, value in self.entries.items()]


# One encoder for every measurement: json.dumps would build one per call, a cost per record.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _json_size(value):
    return len(_COMPACT_JSON.encode(value).encode("utf-8", "replace"))


def _part(entries, left_out=0):
    unique = dict(entries)
    if len(unique) < len(entries):  # a key sent twice keeps its first value
        unique = {}
        for key, value in entries:
            unique.setdefault(key, value)
    return _Part(unique, _json_size(unique) - 1 if unique else 0, left_out)


def _attributes(prefix, owner, first=None):
    """``first`` and the ``(key, value)`` entries of the first ``MAX_ATTRIBUTES`` attributes of a resource, scope
    or record within ``MAX_ATTRIBUTE_BYTES``, and how many were left out; only the kept ones are converted."""
    kept = owner.attributes[:MAX_ATTRIBUTES]
    if owner.ByteSize() > MAX_ATTRIBUTE_BYTES:
        kept = [pair for pair in kept if pair.ByteSize() <= MAX_ATTRIBUTE_BYTES]
    entries = [(prefix + pair.key, _any_value(pair.value)) for pair in kept]
    return (first + entries if first else entries), len(owner.attributes) - len(kept)


def _level(record):
    for highest, level in SEVERITY_LEVELS:
        if 1 <= record.severity_number <= highest:
            return level
    if not record.severity_text:
        return "INFO"
    try:
        return ev.normalize_level("severityText", record.severity_text)
    except ValidationError:
        return "INFO"


def _message(record):
    body = _any_value(record.body)
    if body is None or isinstance(body, str):
        return body or ""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _otel_fields(record):
    fields = [
        ("otel.trace_id", record.trace_id.hex()), ("otel.span_id", record.span_id.hex()),
        ("otel.trace_flags", record.flags & 0xFF), ("otel.severity_number", record.severity_number),
        ("otel.severity_text", record.severity_text), ("otel.event_name", record.event_name),
        ("otel.dropped_attributes_count", record.dropped_attributes_count),
    ]
    return [(key, value) for key, value in fields if value]


def _fitting(parts, size, left_out):
    """``metadata`` from the parts in priority order, within the 16 KiB limit; ``size`` is their JSON size
    together and ``left_out`` the attributes the limits left out of them."""
    if size + (_MARKER_BYTES if left_out else 0) <= ev.MAX_METADATA_BYTES:
        metadata = {key: value for part in parts for key, value in part.entries.items()}
    else:
        metadata, size = {}, 1
        for part in parts:
            for key, value, entry in part.sized_entries:
                if size + entry > ev.MAX_METADATA_BYTES - _MARKER_BYTES:
                    left_out += 1
                    continue
                metadata[key] = value
                size += entry
    if left_out:
        metadata[TRUNCATED_KEY] = left_out
    return metadata


def _digest(*parts):
    """SHA-256 of length-prefixed parts; a copy of a resource's and scope's digest takes each record's bytes."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest


def _identity(scope_digest, record):
    digest = scope_digest.copy()
    part = record.SerializeToString(deterministic=True)
    digest.update(len(part).to_bytes(8, "big"))
    digest.update(part)
    return "otlp-" + digest.hexdigest()[:48]


def _check_counts(request):
    """413 for more entries or records than an export may hold, counted before anything is built."""
    if len(request.resource_logs) > MAX_GROUPS:
        raise PayloadTooLarge(f"body: {len(request.resource_logs)} resourceLogs is over the limit of {MAX_GROUPS}")
    scopes = sum(len(resource.scope_logs) for resource in request.resource_logs)
    if scopes > MAX_GROUPS:
        raise PayloadTooLarge(f"body: {scopes} scopeLogs is over the limit of {MAX_GROUPS}")
    count = sum(len(scope.log_records) for resource in request.resource_logs for scope in resource.scope_logs)
    if count > MAX_RECORDS:
        raise PayloadTooLarge(f"body: {count} log records is over the limit of {MAX_RECORDS} per export")
    return count


def _service_name(resource):
    for pair in resource.attributes:
        if pair.key == "service.name":
            return pair.value.string_value if pair.value.WhichOneof("value") == "string_value" else UNKNOWN_SERVICE
    return UNKNOWN_SERVICE


def _scope_part(scope):
    named = [(key, value) for key, value in (("scope.name", scope.name), ("scope.version", scope.version)) if value]
    return _part(*_attributes("scope.attributes.", scope, named))


_EMPTY_MESSAGE = ev.Refused("message: must not be empty")


def _in_time(deadline):
    if deadline.expired:
        raise StorageUnavailable("the request's time budget ran out before anything was stored; retry later")


def raw_events(request, export_bytes, deadline):
    """One raw event (a dict, as ``POST /logs`` takes them) per log record of an export.

    ``export_bytes`` is the decompressed export's size, for the storage
    allowance; past ``deadline`` the export is answered retryable, nothing stored.
    """
    count = _check_counts(request)
    records, stored = [], 0
    # A resource or scope without records is not converted: it would cost work and store nothing.
    for resource_logs in request.resource_logs:
        if not any(scope_logs.log_records for scope_logs in resource_logs.scope_logs):
            continue
        resource = resource_logs.resource
        resource_part = _part(*_attributes("resource.", resource))
        service_name = _service_name(resource)
        resource_bytes = resource.SerializeToString(deterministic=True)
        for scope_logs in resource_logs.scope_logs:
            if not scope_logs.log_records:
                continue
            scope_part = _scope_part(scope_logs.scope)
            scope_digest = _digest(resource_bytes, scope_logs.scope.SerializeToString(deterministic=True))
            # The metadata object's braces, and what the scope and resource add to each record's metadata.
            shared_size = 1 + scope_part.size + resource_part.size
            shared_left_out = scope_part.left_out + resource_part.left_out
            for record in scope_logs.log_records:
                _in_time(deadline)
                message = _message(record)
                if not message:
                    # The event rules refuse an empty message: reject the record before building anything for it.
                    records.append(_EMPTY_MESSAGE)
                    continue
                own = _part(*_attributes("attributes.", record, _otel_fields(record)))
                size, left_out = shared_size + own.size, shared_left_out + own.left_out
                stored += len(message.encode("utf-8", "replace")) + min(size, ev.MAX_METADATA_BYTES)
                records.append((record, service_name, message, (own, scope_part, resource_part), size, left_out,
                                scope_digest))
    allowance = STORED_PER_BYTE * export_bytes + STORED_PER_RECORD * count
    if stored > allowance:
        raise PayloadTooLarge(
            f"body: its {count} log records, each with its resource and scope attributes, would store {stored} bytes, "
            f"{stored - allowance} over the limit of {allowance} ({STORED_PER_BYTE} times the "
            f"{export_bytes}-byte export plus {STORED_PER_RECORD} a record): send fewer records per export, or "
            "fewer resource attributes")
    raws = []
    for entry in records:
        _in_time(deadline)
        if entry is _EMPTY_MESSAGE:
            raws.append(entry)
            continue
        record, service_name, message, parts, size, left_out, scope_digest = entry
        raw = {"service_name": service_name, "level": _level(record), "message": message,
               "metadata": _fitting(parts, size, left_out), "event_id": _identity(scope_digest, record)}
        nanos = record.time_unix_nano or record.observed_time_unix_nano
        if nanos:
            raw["timestamp"] = ev.EpochNanos(nanos)
        raws.append(raw)
    return raws


# --- answers ---------------------------------------------------------------------------------

def _encode(message, content_type):
    _, _, json_format, _ = _schema()
    if media_type(content_type) == PROTOBUF:
        return message.SerializeToString()
    return json_format.MessageToJson(message, indent=None)


def response_content_type(request_content_type, accept):
    """Answers are in the request's encoding, protobuf only to a client that accepts it.

    API Gateway (and Chalice, like it) returns a binary body only when the
    request's Accept header admits it; a protobuf client that sends no Accept
    header gets the same answer in OTLP JSON, which OTLP clients also read.
    """
    accepted = [media_type(part) for part in (accept or "").split(",")]
    if media_type(request_content_type) == PROTOBUF and {PROTOBUF, "*/*", "application/*"} & set(accepted):
        return PROTOBUF
    return JSON


def export_response(rejected, error_message, content_type):
    """An ``ExportLogsServiceResponse``: empty when all was stored, else with ``partialSuccess``."""
    logs_service_pb2, _, _, _ = _schema()
    response = logs_service_pb2.ExportLogsServiceResponse()
    if rejected:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = error_message
    return _encode(response, content_type)


def status(code, message, content_type):
    """A ``google.rpc.Status`` error body (``code`` is a gRPC status code)."""
    _, status_pb2, _, _ = _schema()
    return _encode(status_pb2.Status(code=code, message=message), content_type)
