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
JSON text). When the whole would pass the 16 KiB metadata limit, keys are
kept in that order (otel, attributes, scope, resource) while they fit and
``otel.truncated_keys`` counts those left out: a record is never refused for
its attributes alone.

Each record's ``event_id`` is a digest of its resource, scope and record
(their deterministic protobuf encoding, the same for an export sent as JSON
or protobuf, gzip or not), so a retried export names the same keys and
stores nothing twice.
"""
import base64
import functools
import hashlib
import json
import math
import zlib

from chalicelib import events as ev
from chalicelib.errors import PayloadTooLarge, UnsupportedMediaType, ValidationError

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# What one export may hold, as received and after decompression: fits Lambda's
# 6 MB request payload once API Gateway has base64-encoded a binary body.
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_RECORDS = 10_000
UNKNOWN_SERVICE = "unknown_service"
SEVERITY_LEVELS = ((4, "TRACE"), (8, "DEBUG"), (12, "INFO"), (16, "WARN"), (20, "ERROR"), (24, "FATAL"))
TRUNCATED_KEY = "otel.truncated_keys"
_ID_FIELDS = {"traceId": 16, "spanId": 8}
# Values deeper than this inside metadata["key"] would pass the metadata depth limit.
_MAX_VALUE_DEPTH = ev.MAX_METADATA_DEPTH - 1
_GZIP_MAGIC = b"\x1f\x8b"


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


def _hex_ids_to_base64(document):
    """OTLP JSON writes trace and span ids in hex; protobuf's JSON form wants base64. Drops snake_case keys,
    which OTLP JSON does not allow (they are ignored like any unknown field)."""
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
            continue
        if not isinstance(value, dict):
            continue
        for key in [key for key in value if "_" in key]:
            del value[key]
        for key, size in _ID_FIELDS.items():
            if key in value:
                value[key] = _hex_id(key, value[key], size)
        stack.extend(value.values())


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
    """An ``ExportLogsServiceRequest`` from a request body, or a domain error (415, 413, 400)."""
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
        return request
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValidationError("body", "is not valid JSON") from None
    if not isinstance(document, dict):
        raise ValidationError("body", "must be a JSON object (an ExportLogsServiceRequest)")
    _hex_ids_to_base64(document)
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as error:
        raise ValidationError("body", f"is not a valid ExportLogsServiceRequest (JSON): {str(error)[:200]}") from None
    return request


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


def _attributes(prefix, pairs):
    return [(prefix + pair.key, _any_value(pair.value)) for pair in pairs]


def _level(record):
    for highest, level in SEVERITY_LEVELS:
        if 1 <= record.severity_number <= highest:
            return level
    try:
        return ev.normalize_level("severityText", record.severity_text)
    except ValidationError:
        return "INFO"


def _message(record):
    body = _any_value(record.body)
    if body is None or isinstance(body, str):
        return body or ""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _json_size(value):
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace"))


def _surely_fits(metadata):
    """True when scalar-only metadata cannot pass the limit: JSON writes a character in at most 6 bytes."""
    size = 2
    for key, value in metadata.items():
        if isinstance(value, (dict, list)):
            return False
        size += 6 * (len(key) + len(str(value))) + 6
    return size <= ev.MAX_METADATA_BYTES


def _fitting(entries):
    """``metadata`` from ``(key, value)`` pairs in priority order, within the 16 KiB limit."""
    whole = {}
    for key, value in entries:
        whole.setdefault(key, value)
    if _surely_fits(whole) or _json_size(whole) <= ev.MAX_METADATA_BYTES:
        return whole
    metadata, size, left_out = {}, 2, 0
    budget = ev.MAX_METADATA_BYTES - len(f',"{TRUNCATED_KEY}":{MAX_RECORDS * 1000}')
    for key, value in entries:
        entry = _json_size({key: value}) - 1
        if key in metadata or size + entry > budget:
            left_out += key not in metadata
            continue
        metadata[key] = value
        size += entry
    if left_out:
        metadata[TRUNCATED_KEY] = left_out
    return metadata


def _otel_fields(record):
    fields = [
        ("otel.trace_id", record.trace_id.hex()), ("otel.span_id", record.span_id.hex()),
        ("otel.trace_flags", record.flags & 0xFF), ("otel.severity_number", record.severity_number),
        ("otel.severity_text", record.severity_text), ("otel.event_name", record.event_name),
        ("otel.dropped_attributes_count", record.dropped_attributes_count),
    ]
    return [(key, value) for key, value in fields if value]


def _identity(resource_bytes, scope_bytes, record):
    digest = hashlib.sha256()
    for part in (resource_bytes, scope_bytes, record.SerializeToString(deterministic=True)):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return "otlp-" + digest.hexdigest()[:48]


def raw_events(request):
    """One raw event (a dict, as ``POST /logs`` takes them) per log record of an export."""
    count = sum(len(scope.log_records) for resource in request.resource_logs for scope in resource.scope_logs)
    if count > MAX_RECORDS:
        raise PayloadTooLarge(f"body: {count} log records is over the limit of {MAX_RECORDS} per export")
    raws = []
    for resource_logs in request.resource_logs:
        resource = _attributes("resource.", resource_logs.resource.attributes)
        service_name = dict(resource).get("resource.service.name")
        resource_bytes = resource_logs.resource.SerializeToString(deterministic=True)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope
            named = (("scope.name", scope.name), ("scope.version", scope.version))
            scope_entries = [(key, value) for key, value in named if value]
            scope_entries += _attributes("scope.attributes.", scope.attributes)
            scope_bytes = scope.SerializeToString(deterministic=True)
            for record in scope_logs.log_records:
                raw = {
                    "service_name": service_name if isinstance(service_name, str) else UNKNOWN_SERVICE,
                    "level": _level(record),
                    "message": _message(record),
                    "metadata": _fitting(_otel_fields(record) + _attributes("attributes.", record.attributes)
                                         + scope_entries + resource),
                    "event_id": _identity(resource_bytes, scope_bytes, record),
                }
                nanos = record.time_unix_nano or record.observed_time_unix_nano
                if nanos:
                    raw["timestamp"] = nanos // 1_000_000
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
