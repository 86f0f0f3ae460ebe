"""The costliest request body within the contract's limits, against an ordinary 1 MiB batch.

Each body goes through the Lambda entry point (``POST /logs``) with the
service's DynamoDB client replaced by a recorder (no I/O), and is timed in
process CPU time (median of ``repeats``). The crafted bodies are the shapes
that make a parser or a validator work hardest per byte: a refused value
among hundreds of thousands of siblings under a half-megabyte key, nesting as
deep as the JSON parser takes, a megabyte of numbers that each go through the
strict-JSON hook, metadata at its size and depth limits on every event, and
1,000 events each refused at its last field. ``worst_body_cpu_ratio`` is the
slowest of them over the ordinary batch; the goal is at most 5.

OpenTelemetry exports (``POST /v1/logs``) get the same treatment against
exports of SDK-shaped records in the same encoding:
``otlp_worst_cpu_ratio`` is the slowest crafted export over a realistic export
of the same decompressed size (goal at most 1.5; a realistic export of its
number of records is measured beside it). ``otlp_stored_over_allowance`` is the most any
export, crafted or real, stored (DynamoDB item bytes) over what the contract
allows it, 16 times the decompressed export plus 1 KiB a record (goal at most
1; a refused export stores nothing).

Reads over hostile stored events (``answers_and_read_units``), through the
Lambda entry point over moto charging read units as DynamoDB does:
``max_answer_bytes`` is the largest body of any page (goal: at most
5,000,000), ``max_read_units_per_request`` the most read units one
``GET /logs/recent`` consumed as storage reported them, filters that match
nothing over large and small items included (goal: at most 1,000).
"""
import dataclasses
import gzip
import json
import statistics
import time

from bench import data
from bench import otlp as otlp_bench
from bench.env import LambdaContext, configure, lambda_event
from bench.sizes import item_size
from bench.stub import RecordingClient, repository_client
from chalicelib.events import MAX_BODY_BYTES

MAX_BODY = MAX_BODY_BYTES


def _ordinary(now_ms):
    """1,000 valid events of about 1 KiB each, with the metadata a web service logs: a full-size batch."""
    events = data.events(1000, now_ms, 60_000, seed=21, levels=data.INFO_ONLY)
    for number, event in enumerate(events):
        event["message"] += " " + "y" * 400
        event["metadata"].update({
            "user_id": f"u-{number % 977:06d}", "tenant": "acme", "region": "eu-west-1", "attempt": 1,
            "http": {"method": "GET", "path": f"/api/orders/{number}", "status": 200, "latency_ms": 12.5,
                     "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"},
            "trace": {"trace_id": f"{number:032x}", "span_id": f"{number:016x}", "sampled": True},
            "tags": ["checkout", "v2", "canary"],
        })
    return json.dumps({"logs": events})


def _refused_among_siblings():
    """``{"<~half a MiB of k>": [0, 0, … , NaN]}``: the refused value is the last of its siblings."""
    zeros = (MAX_BODY // 2 - 64) // 2
    key = "k" * (MAX_BODY - 2 * zeros - 64)
    return '{"' + key + '": [' + "0," * zeros + "NaN]}"


def _deepest(depth=990):
    """Nesting as deep as the parser takes, with a refused value at the bottom."""
    return '{"service_name": "svc", "level": "INFO", "message": "m", "metadata": ' + '{"a": ' * depth + "NaN" \
        + "}" * depth + "}"


def _numbers():
    """A megabyte of floats in metadata arrays, one of them overflowing: each is checked for overflow."""
    per_event = (MAX_BODY - 1000) // 1000 - 120
    floats = ",".join(["0.5"] * (per_event // 4))
    events = [f'{{"service_name": "s", "level": "INFO", "message": "m", "metadata": {{"f": [{floats}]}}}}'
              for _ in range(999)]
    events.append(f'{{"service_name": "s", "level": "INFO", "message": "m", "metadata": {{"f": [{floats},1e999]}}}}')
    return '{"logs": [' + ",".join(events) + "]}"


def _objects():
    """A megabyte of small objects: every one goes through the duplicate-key hook."""
    per_event = (MAX_BODY - 1000) // 1000 - 120
    objects = ",".join(['{"a":1}'] * (per_event // 8))
    events = [f'{{"service_name": "s", "level": "INFO", "message": "m", "metadata": {{"o": [{objects}]}}}}'
              for _ in range(1000)]
    return '{"logs": [' + ",".join(events) + "]}"


def _metadata_at_the_limits():
    """As many events as fit, each with metadata at 16 KiB and 8 levels deep (valid: each is stored)."""
    nested = {"leaf": 1}
    for level in range(3):
        nested = {f"n{level}": [nested, {"x": "z" * 8}]}
    metadata = {"deep": nested}
    metadata["pad"] = "p" * (16 * 1024 - len(json.dumps(metadata, separators=(",", ":"))) - 12)
    event = {"service_name": "svc", "level": "INFO", "message": "m", "metadata": metadata}
    size = len(json.dumps(event)) + 2
    return json.dumps({"logs": [event] * ((MAX_BODY - 20) // size)})


def _refused_last_field():
    """1,000 events, each refused at the last field checked (its event_id)."""
    event = {"service_name": "svc", "level": "INFO", "message": "m" * 900, "metadata": {"k": "v"},
             "event_id": "\u00e9"}
    return json.dumps({"logs": [event] * 1000})


CRAFTED = {
    "refused_among_siblings": _refused_among_siblings,
    "deepest_nesting": _deepest,
    "a_megabyte_of_numbers": _numbers,
    "a_megabyte_of_objects": _objects,
    "metadata_at_the_limits": _metadata_at_the_limits,
    "refused_at_the_last_field": _refused_last_field,
}


def _cpu_ms(app, event, repeats):
    """Median process CPU ms of a request through the Lambda entry point, after one untimed call; and its status."""
    otlp_bench.status_of(app, event)
    times = []
    for _ in range(repeats):
        start = time.process_time()
        status = otlp_bench.status_of(app, event)
        times.append((time.process_time() - start) * 1000)
    return statistics.median(times), status


# The hostile table of the full run: enough of each kind that an unbounded read would pass both limits
# several times over (15 x 1.5 MB of escaped control characters; 75 x 256 KiB is about 2,400 read units).
HOSTILE = {"control": 15, "large": 75, "small": 2_000}


def _hostile_table(now_ms, control, large, small):
    """Events that make reads costly: ``control`` of 256 KiB of control characters (six bytes each as JSON),
    ``large`` of 256 KiB of text, and ``small`` ordinary ones, all in the last hour."""
    from chalicelib import events as ev
    from chalicelib import service

    def stored(count, message, service_name, log_type):
        return [ev.LogEvent(service_name=service_name, level="INFO", log_type=log_type, message=message,
                            timestamp_ms=now_ms - 3_600_000 + number, metadata=None, event_id=None)
                for number in range(count)]

    loads = [stored(control, "\x01" * ev.MAX_MESSAGE_BYTES, "hostile", "application"),
             stored(large, "x" * ev.MAX_MESSAGE_BYTES, "large", "application"),
             stored(small, "an ordinary message of a few dozen bytes", "small", "application")]
    for events in loads:
        for start in range(0, len(events), 25):
            service.repository().put_events(events[start:start + 25], None, now_ms)


def _pages(app, meter, query):
    """Every page of ``GET /logs/recent?query``, following cursors: ``(body bytes, payload bytes, read units)`` each."""
    pages, cursor = [], None
    while True:
        meter.reset()
        params = {name: [value] for name, value in {**query, **({"cursor": cursor} if cursor else {})}.items()}
        response = app(lambda_event("GET", "/logs/recent", query=params), LambdaContext())
        if response["statusCode"] != 200:
            raise RuntimeError(f"GET /logs/recent?{query} answered {response['statusCode']}")
        pages.append((len(response["body"].encode("utf-8")), len(json.dumps(response)), meter.read_units))
        cursor = json.loads(response["body"])["next_cursor"]
        if cursor is None:
            return pages


READS = {
    "timeline": {},
    "control_characters": {"service_name": "hostile"},
    "nomatch_over_large_items": {"service_name": "large", "log_type": "nomatch", "limit": "1"},
    "nomatch_over_everything": {"log_type": "nomatch", "limit": "1"},
    "nomatch_over_small_items": {"service_name": "small", "log_type": "nomatch"},
}


def answers_and_read_units(control=15, large=75, small=2_000, log=print):
    """The largest answer and the most read units (as storage reported them) of any request over hostile data."""
    import boto3
    from moto import mock_aws

    from app import app
    from bench.meter import DynamoDBMeter
    from chalicelib import aws, service, settings
    from devtools.moto_capacity import make_faithful
    from devtools.table import create_table

    make_faithful()
    with mock_aws():
        service.reset()
        create_table(boto3.client("dynamodb"), settings.table_name())
        meter = DynamoDBMeter().attach(aws.client("dynamodb"))
        _hostile_table(int(time.time() * 1000), control, large, small)
        reads = {name: _pages(app, meter, query) for name, query in READS.items()}
        service.reset()
    figures = {
        "max_answer_bytes": max(page[0] for pages in reads.values() for page in pages),
        "max_lambda_payload_bytes": max(page[1] for pages in reads.values() for page in pages),
        "max_read_units_per_request": max(page[2] for pages in reads.values() for page in pages),
        "pages": {name: len(pages) for name, pages in reads.items()},
    }
    log(f"hardening: largest answer {figures['max_answer_bytes']} bytes ({figures['max_lambda_payload_bytes']} as "
        f"Lambda's payload); most read units one GET consumed {figures['max_read_units_per_request']}")
    return figures


# --- OpenTelemetry exports ---------------------------------------------------------------------

PROTOBUF = "application/x-protobuf"
OTLP_JSON = "application/json"
# The contract's allowance: what an export may store, per decompressed byte and per record.
STORED_PER_BYTE = 16
STORED_PER_RECORD = 1024
# OTLP's decompressed body limit (chalicelib.otlp.MAX_BODY_BYTES), less room for the JSON around the crafted part.
OTLP_BODY = 4 * 1024 * 1024 - 512


@dataclasses.dataclass(frozen=True)
class Export:
    body: bytes
    content_type: str
    records: int
    gzipped: bool = False

    @property
    def decompressed_bytes(self):
        return len(gzip.decompress(self.body) if self.gzipped else self.body)

    def event(self):
        return otlp_bench.otlp_event(self.body, self.content_type, "gzip" if self.gzipped else None)


def _otlp_request():
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    return logs_service_pb2.ExportLogsServiceRequest()


def _resource_attributes_times_records(scale):
    """40,000 empty resource attributes over 10,000 empty records: 373 bytes gzipped."""
    request = _otlp_request()
    resource_logs = request.resource_logs.add()
    for _ in range(round(40_000 * scale)):
        resource_logs.resource.attributes.add()
    records = max(1, round(10_000 * scale))
    scope_logs = resource_logs.scope_logs.add()
    for _ in range(records):
        scope_logs.log_records.add()
    return Export(gzip.compress(request.SerializeToString(), mtime=0), PROTOBUF, records, gzipped=True)


def _huge_resource_attribute(scale):
    """One resource attribute of 4.1 MB over 1,000 empty records."""
    request = _otlp_request()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.add(key="big").value.string_value = "v" * round(4_100_000 * scale)
    records = max(1, round(1_000 * scale))
    scope_logs = resource_logs.scope_logs.add()
    for _ in range(records):
        scope_logs.log_records.add()
    return Export(request.SerializeToString(), PROTOBUF, records)


def _empty_objects_json(head, tail, scale, records=0):
    """OTLP JSON of ``head``, as many empty objects as fill the body, ``tail``."""
    count = (round(OTLP_BODY * scale) - len(head) - len(tail)) // 3
    return Export((head + ",".join(["{}"] * count) + tail).encode(), OTLP_JSON, records)


_ONE_RECORD = '"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]'


def _empty_resource_logs_json(scale):
    """4 MiB of OTLP JSON made of empty resourceLogs entries."""
    return _empty_objects_json('{"resourceLogs":[', "]}", scale)


def _empty_attributes_json(scale):
    """4 MiB of OTLP JSON made of empty resource attributes, over one record."""
    return _empty_objects_json('{"resourceLogs":[{"resource":{"attributes":[', "]}," + _ONE_RECORD + "}]}", scale, 1)


def _empty_array_values_json(scale):
    """4 MiB of OTLP JSON made of the empty values of one array attribute, over one record."""
    head = '{"resourceLogs":[{"resource":{"attributes":[{"key":"a","value":{"arrayValue":{"values":['
    return _empty_objects_json(head, "]}}}]}," + _ONE_RECORD + "}]}", scale, 1)


def _attributes_at_the_object_limit_json(scale):
    """4 MiB of OTLP JSON as dense in objects as the limit lets through: keys without values, over one record."""
    request_head = '{"resourceLogs":[{"resource":{"attributes":['
    tail = "]}," + _ONE_RECORD + "}]}"
    count = (round(OTLP_BODY * scale) - len(request_head) - len(tail)) // len('{"key":"0000000"},')
    pairs = ",".join(f'{{"key":"{number:07d}"}}' for number in range(count))
    return Export((request_head + pairs + tail).encode(), OTLP_JSON, 1)


def _scope_attributes_without_records(scale):
    """As many scopes of 128 attributes each as fit 4 MiB (5,000), and no record."""
    request = _otlp_request()
    resource_logs = request.resource_logs.add()
    for _ in range(max(1, round(5_000 * scale))):
        scope = resource_logs.scope_logs.add().scope
        for number in range(128):
            scope.attributes.add(key=f"{number}")
    return Export(request.SerializeToString(), PROTOBUF, 0)


def _empty_record_attributes(scale):
    """As many records of a few characters, each with 128 empty attributes, as fit 4 MiB (5,000)."""
    request = _otlp_request()
    scope_logs = request.resource_logs.add().scope_logs.add()
    records = max(1, round(5_000 * scale))
    for sequence in range(records):
        record = scope_logs.log_records.add()
        record.body.string_value = f"{sequence}"
        for number in range(128):
            record.attributes.add(key=f"{number}")
    return Export(request.SerializeToString(), PROTOBUF, records)


def _resource_attributes_on_every_record(scale):
    """2,000 small records carrying 15 KB of resource attributes: a 47 KB export that stored 31 MB."""
    request = _otlp_request()
    resource_logs = request.resource_logs.add()
    for number in range(15):
        resource_logs.resource.attributes.add(key=f"label.{number}").value.string_value = "l" * 1000
    records = max(1, round(2_000 * scale))
    scope_logs = resource_logs.scope_logs.add()
    for sequence in range(records):
        scope_logs.log_records.add().body.string_value = f"m{sequence}"
    return Export(request.SerializeToString(), PROTOBUF, records)


CRAFTED_EXPORTS = {
    "resource_attributes_times_records": _resource_attributes_times_records,
    "huge_resource_attribute": _huge_resource_attribute,
    "empty_resource_logs_json": _empty_resource_logs_json,
    "empty_attributes_json": _empty_attributes_json,
    "empty_array_values_json": _empty_array_values_json,
    "attributes_at_the_object_limit_json": _attributes_at_the_object_limit_json,
    "empty_record_attributes": _empty_record_attributes,
    "scope_attributes_without_records": _scope_attributes_without_records,
    "resource_attributes_on_every_record": _resource_attributes_on_every_record,
}


def _real_exports(scale, now_ms):
    """What SDKs and the Collector send: a batch processor's export, and 8,192 records with 2 KB of resource."""
    sdk_body, sdk_records = otlp_bench.realistic_export(round(OTLP_BODY * scale), now_ms)
    labels = tuple((f"k8s.pod.label.{number}", "v" * 90) for number in range(20))
    collector_records = max(1, round(8_192 * scale))
    collector = otlp_bench.export_bytes(collector_records, now_ms, resource=labels)
    return {
        "sdk_export": Export(sdk_body, PROTOBUF, sdk_records),
        "collector_export": Export(gzip.compress(collector, mtime=0), PROTOBUF, collector_records, gzipped=True),
    }


def _realistic_twins(export, now_ms):
    """Exports of SDK-shaped records in ``export``'s encoding and compression: one of its decompressed size, and
    one of its number of records (whatever their size, a sender may send that many)."""
    by_size, records = otlp_bench.realistic_export(export.decompressed_bytes, now_ms,
                                                   json_encoded=export.content_type == OTLP_JSON)
    by_count = otlp_bench.export_bytes(max(1, export.records), now_ms)
    if export.content_type == OTLP_JSON:
        by_count = otlp_bench.otlp_json(by_count)
    compress = (lambda body: gzip.compress(body, mtime=0)) if export.gzipped else (lambda body: body)
    return (Export(compress(by_size), export.content_type, records, export.gzipped),
            Export(compress(by_count), export.content_type, max(1, export.records), export.gzipped))


def _stored_bytes(app, export):
    """DynamoDB item bytes an export wrote, and its status."""
    client = RecordingClient()
    with repository_client(client):
        status = otlp_bench.status_of(app, export.event())
    items = [params["Item"] for name, params in client.calls if name == "put_item"]
    items += [request["PutRequest"]["Item"] for name, params in client.calls if name == "batch_write_item"
              for requests in params["RequestItems"].values() for request in requests]
    return sum(item_size(item) for item in items), status


def otlp_stored_over_allowance(app, scale=1.0, log=print):
    """The most any crafted or real export stored over the contract's allowance, and each export's figures."""
    now_ms = int(time.time() * 1000)
    exports = {**{name: make(scale) for name, make in CRAFTED_EXPORTS.items()}, **_real_exports(scale, now_ms)}
    figures = {}
    for name, export in exports.items():
        stored, status = _stored_bytes(app, export)
        allowance = STORED_PER_BYTE * export.decompressed_bytes + STORED_PER_RECORD * export.records
        figures[name] = {"status": status, "stored_bytes": stored, "allowance_bytes": allowance,
                         "ratio": round(stored / allowance, 3)}
    worst = max(figures, key=lambda name: figures[name]["ratio"])
    log(f"hardening: OTLP stored at most {figures[worst]['ratio']}x its allowance ({worst}); "
        f"collector export {figures['collector_export']['status']}, "
        f"{figures['collector_export']['ratio']}x")
    return figures[worst]["ratio"], figures


def otlp_worst_cpu_ratio(app, scale=1.0, repeats=9, log=print):
    """The slowest crafted export's CPU over a realistic export of its decompressed size and encoding, and each
    one's figures (with a realistic export of its number of records beside it, for information)."""
    now_ms = int(time.time() * 1000)
    figures = {}
    with repository_client(RecordingClient()):
        for name, make in CRAFTED_EXPORTS.items():
            export = make(scale)
            if export.decompressed_bytes > OTLP_BODY:
                raise RuntimeError(f"the {name} export is over the 4 MiB an export may be")
            # Small exports take milliseconds: more runs keep the median steady; large ones are steady in three.
            runs = repeats if export.decompressed_bytes < OTLP_BODY // 4 else min(repeats, 3)
            crafted_ms, status = _cpu_ms(app, export.event(), runs)
            if status >= 500:
                raise RuntimeError(f"the {name} export answered {status}")
            twins_ms = []
            for twin in _realistic_twins(export, now_ms):
                twin_ms, twin_status = _cpu_ms(app, twin.event(), runs)
                if twin_status != 200:
                    raise RuntimeError(f"the realistic twin of the {name} export answered {twin_status}")
                twins_ms.append(twin_ms)
            same_size_ms, same_count_ms = twins_ms
            figures[name] = {"cpu_ms": round(crafted_ms, 2), "status": status, "bytes": export.decompressed_bytes,
                             "records": export.records, "same_size_cpu_ms": round(same_size_ms, 2),
                             "same_records_cpu_ms": round(same_count_ms, 2),
                             "ratio_to_same_records": round(crafted_ms / same_count_ms, 2),
                             "ratio": round(crafted_ms / same_size_ms, 2)}
    worst = max(figures, key=lambda name: figures[name]["ratio"])
    log(f"hardening: slowest crafted OTLP export ({worst}) {figures[worst]['cpu_ms']} ms CPU = "
        f"{figures[worst]['ratio']}x a realistic export of its decompressed size")
    return figures[worst]["ratio"], figures


def run(repeats=9, log=print, otlp_scale=1.0, hostile=None):
    configure()
    from app import app

    bodies = {"ordinary": _ordinary(int(time.time() * 1000)), **{name: make() for name, make in CRAFTED.items()}}
    oversized = [name for name, body in bodies.items() if len(body.encode()) > MAX_BODY]
    if oversized:
        raise RuntimeError(f"bodies over the contract's 1 MiB: {oversized}")
    timed = {}
    with repository_client(RecordingClient()):
        for name, body in bodies.items():
            cpu_ms, status = _cpu_ms(app, lambda_event("POST", "/logs", body=body), repeats)
            if status >= 500:
                raise RuntimeError(f"the {name} body answered {status}")
            timed[name] = {"cpu_ms": round(cpu_ms, 2), "status": status, "bytes": len(body.encode())}
    ordinary = timed.pop("ordinary")
    worst = max(timed, key=lambda name: timed[name]["cpu_ms"])
    result = {
        "ordinary_cpu_ms": ordinary["cpu_ms"],
        "worst_body": worst,
        "worst_body_cpu_ratio": round(timed[worst]["cpu_ms"] / ordinary["cpu_ms"], 2),
        "bodies": timed,
    }
    log(f"hardening: ordinary 1 MiB batch {ordinary['cpu_ms']} ms CPU; slowest crafted body ({worst}) "
        f"{timed[worst]['cpu_ms']} ms = {result['worst_body_cpu_ratio']}x")
    result["otlp_worst_cpu_ratio"], cpu = otlp_worst_cpu_ratio(app, otlp_scale, repeats, log)
    result["otlp_stored_over_allowance"], stored = otlp_stored_over_allowance(app, otlp_scale, log)
    result["otlp_exports"] = {"cpu": cpu, "stored": stored}
    result.update(answers_and_read_units(**(hostile or HOSTILE), log=log))
    return result
