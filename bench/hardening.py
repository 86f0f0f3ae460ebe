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

Reads over hostile stored events (``answers_and_read_units``), through the
Lambda entry point over moto charging read units as DynamoDB does:
``max_answer_bytes`` is the largest body of any page (goal: at most
5,000,000), ``max_read_units_per_request`` the most read units one
``GET /logs/recent`` consumed as storage reported them, filters that match
nothing over large and small items included (goal: at most 1,000).
"""
import json
import statistics
import time

from bench import data
from bench.env import LambdaContext, configure, invoke, lambda_event
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


def _cpu_ms(app, body, repeats):
    event = lambda_event("POST", "/logs", body=body)
    invoke(app, event)
    times = []
    for _ in range(repeats):
        start = time.process_time()
        status, _ = invoke(app, event)
        times.append((time.process_time() - start) * 1000)
    return statistics.median(times), status


def _hostile_table(now_ms, small):
    """Events that make reads costly: 15 of 256 KiB of control characters (six bytes each as JSON), 75 of
    256 KiB of text, and ``small`` ordinary ones, all in the last hour."""
    from chalicelib import events as ev
    from chalicelib import service

    def stored(count, message, service_name, log_type):
        return [ev.LogEvent(service_name=service_name, level="INFO", log_type=log_type, message=message,
                            timestamp_ms=now_ms - 3_600_000 + number, metadata=None, event_id=None)
                for number in range(count)]

    loads = [stored(15, "\x01" * ev.MAX_MESSAGE_BYTES, "hostile", "application"),
             stored(75, "x" * ev.MAX_MESSAGE_BYTES, "large", "application"),
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


def answers_and_read_units(small=2_000, log=print):
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
        _hostile_table(int(time.time() * 1000), small)
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


def run(repeats=9, log=print):
    configure()
    from app import app

    bodies = {"ordinary": _ordinary(int(time.time() * 1000)), **{name: make() for name, make in CRAFTED.items()}}
    oversized = [name for name, body in bodies.items() if len(body.encode()) > MAX_BODY]
    if oversized:
        raise RuntimeError(f"bodies over the contract's 1 MiB: {oversized}")
    timed = {}
    with repository_client(RecordingClient()):
        for name, body in bodies.items():
            cpu_ms, status = _cpu_ms(app, body, repeats)
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
    result.update(answers_and_read_units(log=log))
    return result
