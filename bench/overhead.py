"""Handler overhead: app CPU per event of a 1000-event batch, next to the DynamoDB client's own.

Three measurements of the same request through the Lambda entry point
(Chalice routing, JSON parsing, validation, item building, the thread pool,
the response), each the median of ``repeats`` runs in process CPU time
(every thread counted):

* ``us_per_event``: the app alone, its DynamoDB client replaced by a recorder;
* ``client_us_per_event``: the recorded write calls replayed through a real
  botocore client whose send is short-circuited (validation, serialization,
  signing, event hooks; no network);
* ``total_us_per_event``: the request with that real, short-circuited client.

The same request with an ``event_id`` and a ``timestamp`` on every event
(one keys-only BatchGetItem per 100 events) is timed too, and with an
``event_id`` but no ``timestamp`` (one claim PutItem each). The original
design's handler is timed the same way per one-event request.
"""
import json
import statistics
import time

import boto3

from bench import baseline, data
from bench.env import configure, invoke, lambda_event
from bench.stub import RecordingClient, repository_client, stub_sends


def _cpu(function):
    start = time.process_time()
    function()
    return time.process_time() - start


def _wall_and_cpu(function):
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def _post(app, body):
    status, answer = invoke(app, lambda_event("POST", "/logs", body=body))
    if status != 201:
        raise RuntimeError(f"POST /logs answered {status}: {str(answer)[:300]}")
    return answer


def _request_with_stubbed_client(app, body, repeats):
    client = stub_sends(boto3.client("dynamodb"))
    with repository_client(client):
        _post(app, body)
        return [_wall_and_cpu(lambda: _post(app, body)) for _ in range(repeats)]


def run(batch=1000, repeats=15, baseline_requests=300, log=print):
    configure()
    from app import app

    now_ms = int(time.time() * 1000)
    def body_of(**options):
        return json.dumps({"logs": data.events(batch, now_ms, 60_000, seed=3, levels=data.INFO_ONLY, **options)})

    body = body_of()
    body_with_ids = body_of(with_event_id=True)
    body_with_ids_no_timestamp = body_of(with_event_id=True, with_timestamp=False)

    recorder = RecordingClient()
    with repository_client(recorder):
        _post(app, body)
        app_cpu = []
        for _ in range(repeats):
            recorder.calls.clear()
            app_cpu.append(_cpu(lambda: _post(app, body)))
    calls = list(recorder.calls)

    client = stub_sends(boto3.client("dynamodb"))
    method, params = calls[0]
    getattr(client, method)(**params)

    def replay():
        for method, params in calls:
            getattr(client, method)(**params)

    client_cpu = [_cpu(replay) for _ in range(repeats)]

    totals = _request_with_stubbed_client(app, body, repeats)
    with_ids = _request_with_stubbed_client(app, body_with_ids, max(3, repeats // 3))
    with_ids_no_timestamp = _request_with_stubbed_client(app, body_with_ids_no_timestamp, max(3, repeats // 3))

    baseline_table = boto3.resource("dynamodb").Table("original")
    stub_sends(baseline_table.meta.client)
    raws = data.events(baseline_requests, now_ms, 60_000, seed=4)
    baseline.ingest(baseline_table, raws[0])
    original = [_wall_and_cpu(lambda raw=raw: baseline.ingest(baseline_table, json.loads(json.dumps(raw))))
                for raw in raws]

    result = {
        "batch_events": batch,
        "us_per_event": round(statistics.median(app_cpu) / batch * 1e6, 1),
        "client_us_per_event": round(statistics.median(client_cpu) / batch * 1e6, 1),
        "total_us_per_event": round(statistics.median(cpu for _, cpu in totals) / batch * 1e6, 1),
        "request_wall_ms": round(statistics.median(wall for wall, _ in totals) * 1e3, 2),
        "request_cpu_ms": round(statistics.median(cpu for _, cpu in totals) * 1e3, 2),
        "write_calls_per_request": len(calls),
        "event_id_request_cpu_ms": round(statistics.median(cpu for _, cpu in with_ids) * 1e3, 2),
        "event_id_no_timestamp_request_cpu_ms": round(
            statistics.median(cpu for _, cpu in with_ids_no_timestamp) * 1e3, 2),
        "baseline_request_wall_ms": round(statistics.median(wall for wall, _ in original) * 1e3, 3),
        "baseline_request_cpu_ms": round(statistics.median(cpu for _, cpu in original) * 1e3, 3),
    }
    log(f"overhead: app {result['us_per_event']} us/event, DynamoDB client {result['client_us_per_event']} us/event, "
        f"together {result['total_us_per_event']} us/event ({result['request_cpu_ms']} ms CPU per 1000-event request); "
        f"original design {result['baseline_request_cpu_ms']} ms CPU per one-event request")
    return result
