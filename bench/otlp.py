"""OpenTelemetry in: what a 1,000-record OTLP export costs, against a 1,000-event JSON batch.

* CPU: both requests through the Lambda entry point with the service's DynamoDB
  client replaced by a recorder (no I/O), median process CPU time of
  ``repeats``; ``cpu_ratio_vs_json`` is app CPU per record over app CPU per event.
* Writes: the export into moto in-process, with the meter on the service's own
  client (write calls, and write request units by DynamoDB's size rules).
* Retries: the same export sent again; ``retry_extra_items`` is how many items
  the table gained (0: a retry stores nothing twice).
* Package: the size of the packaged function (``make package``'s
  ``deployment.zip``, with ``opentelemetry-proto`` and ``protobuf`` built for
  the Lambda runtime).

Records carry a 200-byte body, a trace and span id, and the resource and scope
attributes an OpenTelemetry SDK sends.
"""
import base64
import json
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import boto3
from moto import mock_aws

from bench import data, sizes
from bench.env import LambdaContext, configure, lambda_event
from bench.meter import DynamoDBMeter
from bench.stub import RecordingClient, repository_client

BODY_BYTES = 200


def export_bytes(records, now_ms, body_bytes=BODY_BYTES, resource=()):
    """A protobuf export of ``records`` records of an SDK's shape; ``resource`` adds resource attributes."""
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    request = logs_service_pb2.ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    for key, value in (("service.name", data.HOT_SERVICE), ("service.version", "1.4.2"),
                       ("telemetry.sdk.language", "python"), ("host.name", "ip-10-0-1-17"), *resource):
        resource_logs.resource.attributes.add(key=key).value.string_value = value
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "app.orders"
    for sequence in range(records):
        record = scope_logs.log_records.add()
        record.time_unix_nano = (now_ms - records + sequence) * 1_000_000
        record.observed_time_unix_nano = record.time_unix_nano
        record.severity_number = 9
        record.severity_text = "INFO"
        head = f"seq={sequence:08d} GET /api/orders 200 "
        record.body.string_value = head + "x" * (body_bytes - len(head))
        record.trace_id = sequence.to_bytes(16, "big")
        record.span_id = sequence.to_bytes(8, "big")
        record.attributes.add(key="request_id").value.string_value = f"req-{sequence:08d}"
    return request.SerializeToString()


SEVERITY_NUMBERS = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}


def export_of(raws):
    """The protobuf export an OpenTelemetry SDK would send for ``raws`` (JSON events of one service, of
    ``bench.data``'s mix): the message as the body, the request id as the trace and span ids, the rest of the
    metadata as attributes."""
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    request = logs_service_pb2.ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    for key, value in (("service.name", raws[0]["service_name"]), ("service.version", "1.4.2"),
                       ("telemetry.sdk.language", "python")):
        resource_logs.resource.attributes.add(key=key).value.string_value = value
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "app"
    for raw in raws:
        record = scope_logs.log_records.add()
        moment = datetime.fromisoformat(raw["timestamp"].replace("Z", "+00:00"))
        record.time_unix_nano = (int(moment.replace(microsecond=0).timestamp()) * 1_000_000 + moment.microsecond) * 1000
        record.observed_time_unix_nano = record.time_unix_nano
        record.severity_text = raw["level"]
        record.severity_number = SEVERITY_NUMBERS[raw["level"]]
        record.body.string_value = raw["message"]
        metadata = dict(raw["metadata"])
        request_id = uuid.UUID(metadata.pop("request_id")).bytes
        record.trace_id = request_id
        record.span_id = request_id[:8]
        for key, value in metadata.items():
            attribute = record.attributes.add(key=key).value
            if isinstance(value, int):
                attribute.int_value = value
            else:
                attribute.string_value = value
    return request.SerializeToString()


def realistic_export(size, now_ms, json_encoded=False):
    """An export of SDK-shaped records of about ``size`` bytes (protobuf, or OTLP JSON), within the record limit."""
    encode = otlp_json if json_encoded else (lambda body: body)
    one, two = (len(encode(export_bytes(count, now_ms))) for count in (1, 2))
    record_bytes, head_bytes = two - one, 2 * one - two
    records = max(1, min(10_000, (size - head_bytes) // record_bytes))
    body_bytes = BODY_BYTES + max(0, size - head_bytes - records * record_bytes) // records
    return encode(export_bytes(records, now_ms, body_bytes)), records


def otlp_json(body):
    """A protobuf export in OTLP JSON: protobuf's JSON form with hex trace and span ids, as exporters write it."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    request = logs_service_pb2.ExportLogsServiceRequest()
    request.ParseFromString(body)
    document = json_format.MessageToDict(request)
    for resource_logs in document.get("resourceLogs", []):
        for scope_logs in resource_logs.get("scopeLogs", []):
            for log_record in scope_logs.get("logRecords", []):
                for key in ("traceId", "spanId"):
                    if key in log_record:
                        log_record[key] = base64.b64decode(log_record[key]).hex()
    return json.dumps(document, separators=(",", ":")).encode()


def otlp_event(body, content_type="application/x-protobuf", content_encoding=None):
    """``POST /v1/logs`` with ``body`` (bytes) as API Gateway hands it to the function."""
    event = lambda_event("POST", "/v1/logs")
    event["headers"] = {"content-type": content_type, "accept": content_type}
    if content_encoding:
        event["headers"]["content-encoding"] = content_encoding
    event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
    # API Gateway hands a text body over as it is, a binary one (protobuf, gzip) base64-encoded.
    binary = content_type != "application/json" or content_encoding is not None
    event["body"] = base64.b64encode(body).decode("ascii") if binary else body.decode("utf-8")
    event["isBase64Encoded"] = binary
    return event


def status_of(app, event):
    """The status of a request through the Lambda entry point (the body may be binary)."""
    return app(event, LambdaContext())["statusCode"]


def _cpu_ms(app, events, repeats):
    """Median CPU ms of each request, the requests taken in turn so that both see the same machine."""
    times = [[] for _ in events]
    for event in events:
        status_of(app, event)
    for _ in range(repeats):
        for event, timed in zip(events, times, strict=True):
            start = time.process_time()
            status = status_of(app, event)
            timed.append((time.process_time() - start) * 1000)
            if status not in (200, 201):
                raise RuntimeError(f"the request answered {status}")
    return [statistics.median(timed) for timed in times]


def _writes(app, export_event, records):
    from chalicelib import aws, service, settings
    from devtools.table import create_table, load_schema

    with mock_aws():
        service.reset()
        client = boto3.client("dynamodb")
        create_table(client, settings.table_name())
        meter = DynamoDBMeter().attach(aws.client("dynamodb"))
        if status_of(app, export_event) != 200:
            raise RuntimeError("the export was not stored")
        first = meter.write_calls, list(meter.written)
        before = client.scan(TableName=settings.table_name(), Select="COUNT")["Count"]
        if status_of(app, export_event) != 200:
            raise RuntimeError("the retried export was not answered 200")
        after = client.scan(TableName=settings.table_name(), Select="COUNT")["Count"]
        service.reset()
    write_calls, written = first
    schema = load_schema()
    units = sum(sum(sizes.put_write_units(item, schema)) for _, item in written)
    return {
        "ddb_write_calls_per_1000_records": round(write_calls * 1000 / records, 2),
        "wru_per_record": round(units / records, 3),
        "max_item_bytes": max(sizes.item_size(item) for _, item in written),
        "retry_extra_items": after - before,
    }


def _package_zip_bytes():
    from devtools import package

    with tempfile.TemporaryDirectory() as folder:
        built = package.package("prod", Path(folder) / "prod")
        return (built / package.ZIP_FILE).stat().st_size


def run(records=1000, repeats=9, log=print):
    configure()
    from app import app

    now_ms = int(time.time() * 1000)
    export_event = otlp_event(export_bytes(records, now_ms))
    # The JSON batch as slog sends it: every event with its event_id and timestamp.
    batch = json.dumps({"logs": data.events(records, now_ms, 60_000, seed=31, with_event_id=True,
                                            levels=data.INFO_ONLY)})
    json_event = lambda_event("POST", "/logs", body=batch)
    with repository_client(RecordingClient()):
        otlp_ms, json_ms = _cpu_ms(app, [export_event, json_event], repeats)
    result = {
        "records": records,
        "cpu_us_per_record": round(otlp_ms / records * 1000, 1),
        "json_cpu_us_per_event": round(json_ms / records * 1000, 1),
        "cpu_ratio_vs_json": round(otlp_ms / json_ms, 3),
        **_writes(app, export_event, records),
        "package_zip_bytes": _package_zip_bytes(),
    }
    log(f"otlp: {result['cpu_us_per_record']} us CPU per record of a {records}-record protobuf export, "
        f"{result['json_cpu_us_per_event']} us per event of a JSON batch ({result['cpu_ratio_vs_json']}x); "
        f"{result['ddb_write_calls_per_1000_records']} write calls per 1000 records, "
        f"{result['wru_per_record']} WRU per record, {result['retry_extra_items']} items added by a retry; "
        f"package {result['package_zip_bytes']} bytes")
    return result
