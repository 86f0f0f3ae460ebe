"""POST /v1/logs: OTLP/HTTP exports in protobuf and JSON, gzip or not, through Chalice's test client over moto."""
import base64
import gzip
import hashlib
import itertools
import json
import re
import subprocess
import sys

import boto3
import pytest
from botocore.exceptions import ClientError
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

from chalicelib import aws, otlp, service
from chalicelib import events as ev
from chalicelib.errors import StorageUnavailable
from tests.conftest import ROOT, TABLE_NAME

PROTOBUF = {"content-type": "application/x-protobuf", "accept": "*/*"}
JSON = {"content-type": "application/json"}
TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")


def now_ns():
    return service.now_ms() * 1_000_000


def any_value(value):
    """A Python value as an OTLP AnyValue."""
    made = common_pb2.AnyValue()
    if isinstance(value, bool):
        made.bool_value = value
    elif isinstance(value, int):
        made.int_value = value
    elif isinstance(value, float):
        made.double_value = value
    elif isinstance(value, bytes):
        made.bytes_value = value
    elif isinstance(value, list):
        made.array_value.values.extend(any_value(item) for item in value)
    elif isinstance(value, dict):
        for key, item in value.items():
            made.kvlist_value.values.add(key=key, value=any_value(item))
    else:
        made.string_value = value
    return made


def add_attributes(target, attributes):
    for key, value in attributes.items():
        target.add(key=key, value=any_value(value))


def export(*records, resource=None, scope=None):
    """An ExportLogsServiceRequest with one resource and one scope holding ``records`` (dicts of LogRecord fields)."""
    request = logs_service_pb2.ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    add_attributes(resource_logs.resource.attributes, {"service.name": "checkout"} if resource is None else resource)
    scope_logs = resource_logs.scope_logs.add()
    for key, value in (scope or {"name": "app.payments", "version": "2.1"}).items():
        if key == "attributes":
            add_attributes(scope_logs.scope.attributes, value)
        else:
            setattr(scope_logs.scope, key, value)
    for fields in records:
        record = scope_logs.log_records.add()
        fields = dict(fields)
        if "body" in fields:
            record.body.CopyFrom(any_value(fields.pop("body")))
        add_attributes(record.attributes, fields.pop("attributes", {}))
        for key, value in fields.items():
            setattr(record, key, value)
    return request


def record(**fields):
    return {"time_unix_nano": now_ns() - 60_000_000_000, "severity_number": 9, "body": "hello", **fields}


def post(api, body, headers=PROTOBUF):
    if not isinstance(body, (bytes, str)):
        body = body.SerializeToString()
    return api.http.post("/v1/logs", body=body, headers=headers)


def stored(api, **params):
    query = "&".join(f"{name}={value}" for name, value in {"limit": 1000, **params}.items())
    return api.http.get(f"/logs/recent?{query}").json_body["logs"]


def table_items():
    """Every item in the table (a test's Scan, not the service's)."""
    return boto3.client("dynamodb", region_name="us-east-1").scan(TableName=TABLE_NAME)["Items"]


def _parsed(response, message):
    """``message`` filled from the response body, in whichever encoding the response says it has."""
    if response.headers["Content-Type"] == "application/x-protobuf":
        message.ParseFromString(response.body)
    else:
        json_format.Parse(response.body, message)
    return message


def parsed_response(response):
    return _parsed(response, logs_service_pb2.ExportLogsServiceResponse())


def parsed_status(response):
    return _parsed(response, status_pb2.Status())


# --- the route ---------------------------------------------------------------------------

def test_protobuf_bodies_are_binary_for_api_gateway_and_chalice():
    from app import app

    assert "application/x-protobuf" in app.api.binary_types
    assert "/v1/logs" in app.routes and set(app.routes["/v1/logs"]) == {"POST"}


def test_the_other_routes_do_not_import_protobuf_at_cold_start():
    code = ("import sys, app; assert not [m for m in sys.modules if m.startswith(('google.protobuf', "
            "'opentelemetry'))], sorted(m for m in sys.modules if 'proto' in m)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": "", "AWS_EC2_METADATA_DISABLED": "true"}, check=False)
    assert result.returncode == 0, result.stderr


# --- mapping ---------------------------------------------------------------------------------

def test_a_protobuf_export_becomes_events_field_by_field(api):
    time_ns = now_ns() - 5_000_000_000
    request = export(
        record(time_unix_nano=time_ns, observed_time_unix_nano=time_ns + 7_000_000, severity_number=17,
               severity_text="Error", trace_id=TRACE_ID, span_id=SPAN_ID, flags=1, event_name="payment.failed",
               body="card declined",
               attributes={"order": 42, "amount": 9.5, "retry": True, "tags": ["a", "b"], "raw": b"\x00\x01",
                           "card": {"brand": "visa"}}),
        resource={"service.name": "checkout", "host.name": "web-1"},
        scope={"name": "app.payments", "version": "2.1", "attributes": {"team": "pay"}})

    response = post(api, request)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-protobuf" and response.body == b""
    (event,) = stored(api)
    assert (event["service_name"], event["level"], event["message"], event["log_type"]) == (
        "checkout", "ERROR", "card declined", "application")
    assert event["timestamp"] == ev.format_time(time_ns // 1_000_000)
    assert event["metadata"] == {
        "otel.trace_id": TRACE_ID.hex(), "otel.span_id": SPAN_ID.hex(), "otel.trace_flags": 1,
        "otel.severity_number": 17, "otel.severity_text": "Error", "otel.event_name": "payment.failed",
        "attributes.order": 42, "attributes.amount": 9.5, "attributes.retry": True, "attributes.tags": ["a", "b"],
        "attributes.raw": "AAE=", "attributes.card": {"brand": "visa"},
        "scope.name": "app.payments", "scope.version": "2.1", "scope.attributes.team": "pay",
        "resource.service.name": "checkout", "resource.host.name": "web-1",
    }
    assert event["event_id"].startswith("otlp-")


def spec_shaped_json(time_ns):
    """An export in OTLP JSON, shaped like the OTLP repository's examples/logs.json (hex ids, 64-bit strings)."""
    return {"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
        "scopeLogs": [{
            "scope": {"name": "my.library", "version": "1.0.0",
                      "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}]},
            "logRecords": [{
                "timeUnixNano": str(time_ns), "observedTimeUnixNano": str(time_ns), "severityNumber": 10,
                "severityText": "Information", "traceId": TRACE_ID.hex().upper(), "spanId": SPAN_ID.hex().upper(),
                "body": {"stringValue": "Example log record"},
                "attributes": [
                    {"key": "string.attribute", "value": {"stringValue": "some string"}},
                    {"key": "boolean.attribute", "value": {"boolValue": True}},
                    {"key": "int.attribute", "value": {"intValue": "10"}},
                    {"key": "double.attribute", "value": {"doubleValue": 637.704}},
                    {"key": "array.attribute",
                     "value": {"arrayValue": {"values": [{"stringValue": "many"}, {"stringValue": "values"}]}}},
                    {"key": "map.attribute", "value": {"kvlistValue": {
                        "values": [{"key": "some.map.key", "value": {"stringValue": "some value"}}]}}},
                ],
                "futureField": {"ignored": True},
            }],
        }],
    }]}


def test_an_otlp_json_export_with_hex_ids_and_string_integers_is_understood(api):
    time_ns = now_ns() - 1_000_000_000
    response = post(api, json.dumps(spec_shaped_json(time_ns)), JSON)

    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == {}
    (event,) = stored(api)
    assert (event["service_name"], event["level"], event["message"]) == ("my.service", "INFO", "Example log record")
    assert event["metadata"]["otel.trace_id"] == TRACE_ID.hex() and event["metadata"]["otel.span_id"] == SPAN_ID.hex()
    assert event["metadata"]["attributes.int.attribute"] == 10
    assert event["metadata"]["attributes.map.attribute"] == {"some.map.key": "some value"}
    assert event["metadata"]["scope.attributes.my.scope.attribute"] == "some scope attribute"


def test_snake_case_keys_are_not_otlp_json_and_are_ignored(api):
    document = spec_shaped_json(now_ns())
    document["resource_logs"] = document.pop("resourceLogs")

    response = post(api, json.dumps(document), JSON)

    assert response.status_code == 200 and stored(api) == []


@pytest.mark.parametrize("number, text, level", [
    (1, "", "TRACE"), (4, "", "TRACE"), (5, "", "DEBUG"), (8, "", "DEBUG"), (9, "", "INFO"), (12, "", "INFO"),
    (13, "", "WARN"), (16, "", "WARN"), (17, "", "ERROR"), (20, "", "ERROR"), (21, "", "FATAL"), (24, "", "FATAL"),
    (0, "warning", "WARN"), (0, "CRITICAL", "FATAL"), (0, "error", "ERROR"), (0, "notice", "INFO"), (0, "", "INFO"),
    (9, "FATAL", "INFO"),
])
def test_severity_maps_to_the_level_by_number_then_text(api, number, text, level):
    assert post(api, export(record(severity_number=number, severity_text=text))).status_code == 200
    assert [event["level"] for event in stored(api)] == [level]


@pytest.mark.parametrize("body, message", [
    ({"k": [1, "two"]}, '{"k":[1,"two"]}'), (7, "7"), (True, "true"), ("plain", "plain"),
])
def test_a_body_that_is_not_a_string_is_kept_as_json(api, body, message):
    post(api, export(record(body=body)))
    assert [event["message"] for event in stored(api)] == [message]


def test_records_within_one_millisecond_come_back_in_nanosecond_order_and_ties_in_export_order(api):
    millisecond = (now_ns() - 60_000_000_000) // 1_000_000 * 1_000_000
    records = [record(body="boom", time_unix_nano=millisecond + 900), record(body="inside span",
               time_unix_nano=millisecond + 100), record(body="first tie", time_unix_nano=millisecond + 500),
               record(body="second tie", time_unix_nano=millisecond + 500)]

    assert post(api, export(*records)).status_code == 200

    assert [event["message"] for event in stored(api)] == ["boom", "second tie", "first tie", "inside span"]


def test_times_fall_back_to_observed_then_receipt_and_services_to_unknown(api):
    observed_ns = now_ns() - 3_000_000_000
    request = export(record(time_unix_nano=0, observed_time_unix_nano=observed_ns, body="observed"),
                     record(time_unix_nano=0, body="received"), resource={})
    before = service.now_ms()

    assert post(api, request).status_code == 200

    events = {event["message"]: event for event in stored(api)}
    assert events["observed"]["timestamp"] == ev.format_time(observed_ns // 1_000_000)
    assert ev.parse_time("t", events["received"]["timestamp"]) >= before
    assert {event["service_name"] for event in events.values()} == {"unknown_service"}


def test_attributes_past_the_metadata_limit_are_trimmed_with_a_marker_not_refused(api):
    big = {f"k{number:02d}": "v" * 1000 for number in range(40)}
    deep = {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}
    post(api, export(record(attributes={**big, "deep": deep}, trace_id=TRACE_ID)))

    (event,) = stored(api)
    metadata = event["metadata"]
    assert len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode()) <= ev.MAX_METADATA_BYTES
    offered = 2 + len(big) + 1 + 2 + 1  # trace id, severity, attributes, deep, scope name and version, service.name
    kept = [key for key in metadata if key != otlp.TRUNCATED_KEY]
    assert metadata["otel.trace_id"] == TRACE_ID.hex() and metadata[otlp.TRUNCATED_KEY] == offered - len(kept)
    assert [key for key in kept if key.startswith("attributes.k")] == [f"attributes.k{n:02d}" for n in range(15)]
    assert not ev._deeper_than(metadata, ev.MAX_METADATA_DEPTH)
    assert metadata["attributes.deep"]["a"]["b"]["c"]["d"]["e"]["f"] == {"g": '{"h":{"i":1}}'}



def test_a_value_nested_past_the_limit_is_kept_as_one_json_text_of_all_of_it(api):
    deepest = {"leaf": 1}
    for level in range(24):
        deepest = {f"l{level}": deepest}
    post(api, export(record(attributes={"deep": deepest})))

    (event,) = stored(api)
    value, path = event["metadata"]["attributes.deep"], []
    while isinstance(value, dict):
        ((key, value),) = value.items()
        path.append(key)
    rebuilt = json.loads(value)
    for key in reversed(path):
        rebuilt = {key: rebuilt}
    assert rebuilt == deepest

# --- work and storage in proportion to the export -----------------------------------------------

@pytest.fixture
def conversions(monkeypatch):
    """Every AnyValue turned into a JSON value, in order (its kind and, for strings, its length)."""
    seen = []
    convert = otlp._any_value

    def counted(value, depth=0):
        kind = value.WhichOneof("value")
        seen.append((kind, len(value.string_value) if kind == "string_value" else None))
        return convert(value, depth)

    monkeypatch.setattr(otlp, "_any_value", counted)
    return seen


@pytest.fixture
def measured(monkeypatch):
    """The number of metadata entries measured as JSON, for each measurement."""
    seen = []
    measure = otlp._json_size

    def counted(value):
        seen.append(len(value))
        return measure(value)

    monkeypatch.setattr(otlp, "_json_size", counted)
    return seen


def test_resource_attributes_are_converted_and_measured_once_per_resource_and_only_the_first_128(
        api, conversions, measured):
    resource = {"service.name": "checkout", **{f"k{number}": "" for number in range(1_000)}}
    records = [record(body=f"r{number}") for number in range(50)]

    assert post(api, export(*records, resource=resource)).status_code == 200

    # 128 resource attributes are converted once; each record converts its body.
    assert len(conversions) == otlp.MAX_ATTRIBUTES + len(records)
    # The resource's entries are measured once (whole, then one by one), whatever the number of records; each
    # record measures its own few entries.
    assert sum(measured) <= 2 * otlp.MAX_ATTRIBUTES + 2 + 3 * len(records)
    event = stored(api)[0]
    assert [key for key in event["metadata"] if key.startswith("resource.")] == (
        ["resource.service.name"] + [f"resource.k{number}" for number in range(otlp.MAX_ATTRIBUTES - 1)])
    assert event["metadata"][otlp.TRUNCATED_KEY] == len(resource) - otlp.MAX_ATTRIBUTES
    assert event["service_name"] == "checkout"


def test_resources_and_scopes_without_records_are_not_converted(api, conversions):
    request = export(record(body="kept"))
    for _ in range(20):
        request.resource_logs.add().resource.attributes.add(key="idle").value.string_value = "resource"
        request.resource_logs[0].scope_logs.add().scope.attributes.add(key="idle").value.string_value = "scope"

    assert post(api, request).status_code == 200

    assert conversions == [("string_value", len("checkout")), ("string_value", len("kept"))]
    assert [event["message"] for event in stored(api)] == ["kept"]


def test_records_without_a_message_are_refused_before_their_attributes_are_converted(api, conversions, monkeypatch):
    validated, normalize = [], ev.normalize_event
    monkeypatch.setattr(ev, "normalize_event", lambda raw, *args: validated.append(raw) or normalize(raw, *args))
    empty = [{"time_unix_nano": now_ns() - 60_000_000_000, "attributes": {f"a{n}": "x" for n in range(5)}}] * 30

    response = post(api, export(*empty, record(body="kept")))

    partial = parsed_response(response).partial_success
    assert partial.rejected_log_records == 30 and partial.error_message == "log record 0: message: must not be empty"
    assert [seen for seen in conversions if seen[0] == "string_value"] == [("string_value", len("checkout")),
                                                                            ("string_value", len("kept"))]
    assert len(validated) == 1 and [event["message"] for event in stored(api)] == ["kept"]


def test_an_attribute_over_the_size_limit_is_left_out_unconverted_and_counted(api, conversions):
    big = "v" * (otlp.MAX_ATTRIBUTE_BYTES + 1)
    records = [record(body=f"r{number}") for number in range(20)]

    assert post(api, export(*records, resource={"service.name": "checkout", "big": big})).status_code == 200

    assert ("string_value", len(big)) not in conversions
    events = stored(api)
    assert len(events) == len(records)
    assert {event["metadata"][otlp.TRUNCATED_KEY] for event in events} == {1}
    assert {event["metadata"]["resource.service.name"] for event in events} == {"checkout"}


def test_a_record_keeps_its_first_128_attributes_and_counts_the_rest(api):
    attributes = {f"a{number:03d}": number for number in range(200)}

    post(api, export(record(attributes=attributes)))

    (event,) = stored(api)
    kept = [key for key in event["metadata"] if key.startswith("attributes.")]
    assert kept == [f"attributes.a{number:03d}" for number in range(otlp.MAX_ATTRIBUTES)]
    assert event["metadata"][otlp.TRUNCATED_KEY] == 200 - otlp.MAX_ATTRIBUTES


def test_event_ids_are_the_digest_of_resource_scope_and_record_as_before(api):
    request = export(record(body="one"), record(body="two"))
    resource_logs = request.resource_logs[0]
    scope_logs = resource_logs.scope_logs[0]

    post(api, request)

    def digest(*parts):
        made = hashlib.sha256()
        for part in parts:
            made.update(len(part).to_bytes(8, "big") + part)
        return "otlp-" + made.hexdigest()[:48]

    expected = {digest(resource_logs.resource.SerializeToString(deterministic=True),
                       scope_logs.scope.SerializeToString(deterministic=True),
                       log_record.SerializeToString(deterministic=True)) for log_record in scope_logs.log_records}
    assert {event["event_id"] for event in stored(api)} == expected


def test_otlp_json_of_empty_objects_is_refused_before_protobuf_parses_it(api, monkeypatch):
    parsed = []
    monkeypatch.setattr(json_format, "ParseDict", lambda *args, **kwargs: parsed.append(args))
    body = '{"resourceLogs":[' + ",".join(["{}"] * 100_000) + "]}"

    response = post(api, body, JSON)

    monkeypatch.undo()
    assert parsed == []
    assert response.status_code == 413 and "JSON objects" in parsed_status(response).message


def test_otlp_json_as_dense_as_real_attributes_is_under_the_object_limit(api):
    document = spec_shaped_json(now_ns())
    log_record = document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    log_record["attributes"] = [{"key": f"{number}", "value": {"intValue": "1"}} for number in range(100)]
    records = document["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    records.extend(dict(log_record, body={"stringValue": f"r{number}"}) for number in range(199))
    body = json.dumps(document, separators=(",", ":"))
    assert len(body) // otlp.JSON_BYTES_PER_OBJECT > otlp.MIN_JSON_OBJECTS

    response = post(api, body, JSON)

    assert response.status_code == 200 and json.loads(response.body) == {}
    assert len(stored(api)) == 200


def test_more_resource_logs_than_an_export_may_hold_is_413(api):
    body = b"\x0a\x00" * (otlp.MAX_GROUPS + 1)
    response = post(api, body)
    assert response.status_code == 413 and "resourceLogs" in parsed_status(response).message


def test_an_export_that_would_store_over_16_times_its_size_is_413_saying_by_how_much(api):
    resource = {"service.name": "checkout", **{f"label.{number}": "l" * 1000 for number in range(15)}}
    request = export(*[{"body": f"m{number}"} for number in range(200)], resource=resource)
    body = request.SerializeToString()

    response = post(api, body)

    assert response.status_code == 413 and parsed_status(response).code == 3
    message = parsed_status(response).message
    would, over, limit = (int(number) for number in re.findall(
        r"would store (\d+) bytes, (\d+) over the limit of (\d+)", message)[0])
    assert limit == otlp.STORED_PER_BYTE * len(body) + otlp.STORED_PER_RECORD * 200
    assert would - limit == over > 0
    assert table_items() == []


def test_a_collector_export_of_8192_records_with_2_kb_of_resource_attributes_fits():
    labels = {f"k8s.pod.label.{number}": "v" * 90 for number in range(20)}
    records = [record(body=f"GET /api/orders/{number} 200 " + "x" * 150, trace_id=TRACE_ID, span_id=SPAN_ID,
                      attributes={"request_id": f"req-{number:08d}"}) for number in range(8_192)]
    body = export(*records, resource={"service.name": "checkout", **labels}).SerializeToString()

    raws = otlp.raw_events(*otlp.decode(body, PROTOBUF["content-type"], None), aws.Deadline(600_000))

    assert len(raws) == 8_192
    assert all(raw["metadata"]["resource.k8s.pod.label.19"] == "v" * 90 for raw in raws)


def test_a_deadline_that_passes_while_records_are_converted_is_503_and_stores_nothing(api):
    ticks = itertools.count()
    deadline = aws.Deadline(100, clock=lambda: next(ticks) / 1000)  # 1 ms a look at the clock
    body = export(*[record(body=f"r{number}") for number in range(200)]).SerializeToString()

    with pytest.raises(StorageUnavailable):
        service.export_logs(body, PROTOBUF["content-type"], None, "arn:aws:iam::123456789012:role/x", deadline)

    assert table_items() == []


# --- retries and partial success --------------------------------------------------------------

def test_a_retried_export_stores_nothing_twice_whatever_its_encoding(api):
    request = export(record(body="one"), record(body="two", severity_number=17))
    assert post(api, request).status_code == 200
    items = table_items()

    retries = [
        post(api, request),
        post(api, gzip.compress(request.SerializeToString()), {**PROTOBUF, "content-encoding": "gzip"}),
        post(api, json.dumps(otlp_json(request)), JSON),
    ]

    assert [response.status_code for response in retries] == [200, 200, 200]
    assert table_items() == items
    assert sorted(event["message"] for event in stored(api)) == ["one", "two"]


def otlp_json(request):
    """OTLP JSON of a request: protobuf's JSON form with hex ids, as exporters write it."""
    document = json_format.MessageToDict(request)
    for resource in document["resourceLogs"]:
        for scope in resource["scopeLogs"]:
            for log_record in scope["logRecords"]:
                for key in ("traceId", "spanId"):
                    if key in log_record:
                        log_record[key] = base64.b64decode(log_record[key]).hex()
    return document


def test_invalid_records_are_rejected_in_partial_success_and_the_rest_stored(api):
    too_old_ns = (service.now_ms() - 8 * ev.DAY_MS) * 1_000_000
    request = export(record(body="kept"), record(time_unix_nano=too_old_ns, body="old"), record(body=""))

    response = post(api, request)

    assert response.status_code == 200
    partial = parsed_response(response).partial_success
    assert partial.rejected_log_records == 2
    assert partial.error_message.startswith("log record 1: timestamp: is older than the retention period")
    assert [event["message"] for event in stored(api)] == ["kept"]


def test_a_service_name_outside_the_event_rules_rejects_its_records(api):
    response = post(api, export(record(), resource={"service.name": "my service"}))
    assert parsed_response(response).partial_success.rejected_log_records == 1
    assert "service_name" in parsed_response(response).partial_success.error_message


def test_storage_that_cannot_take_the_export_is_503_with_retry_after_and_a_status(api, monkeypatch):
    class Throttled:
        def __getattr__(self, name):
            raise AttributeError(name)

        def batch_get_item(self, **kwargs):
            return {"Responses": {}, "UnprocessedKeys": {}}

        def put_item(self, **kwargs):
            raise aws.DeadlineExceeded()

    service.reset()
    monkeypatch.setattr(aws, "client", lambda name: Throttled())

    response = post(api, export(record()))

    monkeypatch.undo()
    service.reset()
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    assert parsed_status(response).code == 14



def test_an_export_storage_takes_only_part_of_is_503_and_its_retry_stores_the_rest_once(api, monkeypatch):
    real = aws.client("dynamodb")

    class DropsOneRecord:
        """Stores every record but the one whose body is "dropped", which stays throttled past botocore's retries."""

        def __getattr__(self, name):
            return getattr(real, name)

        def put_item(self, **kwargs):
            if kwargs["Item"].get("message", {}).get("S") == "dropped":
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutItem")
            return real.put_item(**kwargs)

    monkeypatch.setattr("chalicelib.repository.calls.BACKOFF_BASE_S", 0)
    service.reset()
    monkeypatch.setattr(aws, "client", lambda name: DropsOneRecord())
    body = export(record(body="kept"), record(body="dropped"))

    response = post(api, body)

    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    assert parsed_status(response).code == 14
    monkeypatch.undo()
    service.reset()
    assert [event["message"] for event in stored(api)] == ["kept"]
    assert post(api, body).status_code == 200
    assert sorted(event["message"] for event in stored(api)) == ["dropped", "kept"]
    # The two records share a timestamp: the second one's identity also has a guard item.
    assert sorted(item.get("message", {"S": "guard"})["S"] for item in table_items()) == ["dropped", "guard", "kept"]

# --- refusals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("body, headers, status, grpc_code", [
    (b"\x0a\x05garbage", PROTOBUF, 400, 3),
    (b"{not json", JSON, 400, 3),
    (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "abc"}]}]}]}', JSON, 400, 3),
    (b'{"resourceLogs": "nope"}', JSON, 400, 3),
    (b"[1, 2]", JSON, 400, 3),
    (b"\x1f\x8b\x08\x00broken", {**PROTOBUF, "content-encoding": "gzip"}, 400, 3),
    (b"hello", {"content-type": "text/plain"}, 415, 3),
    (b"", {"content-type": "application/x-protobuf", "content-encoding": "br", "accept": "*/*"}, 415, 3),
    (gzip.compress(b"\x00" * (otlp.MAX_BODY_BYTES + 10), mtime=0), {**PROTOBUF, "content-encoding": "gzip"}, 413, 3),
    (b"\x00" * (otlp.MAX_BODY_BYTES + 1), PROTOBUF, 413, 3),
], ids=["bad-protobuf", "bad-json", "short-trace-id", "resource-logs-not-a-list", "json-array", "broken-gzip",
        "text-plain", "brotli", "gzip-bomb", "over-4-mib"])
def test_malformed_or_unsupported_exports_are_refused_with_a_status_and_store_nothing(api, body, headers, status,
                                                                                    grpc_code):
    response = post(api, body, headers)

    assert response.status_code == status, response.body
    assert parsed_status(response).code == grpc_code and parsed_status(response).message
    assert stored(api) == []


def test_an_export_of_more_records_than_allowed_is_413(api):
    request = export(*[{"body": "x"} for _ in range(otlp.MAX_RECORDS + 1)])
    response = post(api, request)
    assert response.status_code == 413 and "log records" in parsed_status(response).message


def test_a_protobuf_client_without_accept_gets_the_answer_in_json():
    assert otlp.response_content_type("application/x-protobuf", None) == "application/json"
    assert otlp.response_content_type("application/x-protobuf", "application/x-protobuf") == "application/x-protobuf"
    assert otlp.response_content_type("application/x-protobuf; charset=x", "text/html, */*") == "application/x-protobuf"
    assert otlp.response_content_type("application/json", "*/*") == "application/json"
