"""Ingest cost: HTTP requests, DynamoDB write calls and write request units per event, ours against the original.

10,000 events of about 200 bytes of JSON go through the service's Lambda entry
point in batches of 1,000 (the contract's maximum), into moto in-process. The
meter on the service's own client records every successful write call and
every item it stored; write request units follow from those items' sizes by
DynamoDB's rules (``bench.sizes``), index writes included. Then the same
events again, each with an ``event_id`` and its own ``timestamp``, as ``slog``
sends them (idempotent ingest on derived keys: one consistent BatchGetItem of
keys and digests per 100 events, then one conditional PutItem per event, so
that two sends never both store); and each with an ``event_id`` but no
timestamp (the service stamps it and claims the id: one small claim item per
event, written with a conditional PutItem, then the event's own). Key reads are counted too (strongly
consistent, one read request unit per key of an item up to 4 KB). The
original design gets the same events, one HTTP request and one PutItem each
(``bench.baseline``).
"""
import json
import math
import time

import boto3
from moto import mock_aws

from bench import baseline, data, pricing, sizes
from bench.env import configure, invoke, lambda_event, lambda_memory_mb
from bench.meter import DynamoDBMeter


def _units(written, schema_of):
    table_units = index_units = 0
    item_bytes = []
    for table, item in written:
        units = sizes.put_write_units(item, schema_of[table])
        table_units += units[0]
        index_units += units[1]
        item_bytes.append(sizes.item_size(item))
    return table_units, index_units, item_bytes


def _ours(raws, batch):
    from app import app
    from chalicelib import aws, service, settings
    from devtools.table import create_table, load_schema

    with mock_aws():
        service.reset()
        create_table(boto3.client("dynamodb"), settings.table_name())
        meter = DynamoDBMeter().attach(aws.client("dynamodb"))
        requests = 0
        for start in range(0, len(raws), batch):
            body = json.dumps({"logs": raws[start:start + batch]})
            status, answer = invoke(app, lambda_event("POST", "/logs", body=body))
            requests += 1
            if status != 201 or answer["accepted"] != len(raws[start:start + batch]):
                raise RuntimeError(f"POST /logs answered {status}: {str(answer)[:300]}")
        service.reset()
    table_units, index_units, item_bytes = _units(meter.written, {settings.table_name(): load_schema()})
    events = len(raws)
    return {
        "events": events,
        "event_json_bytes": round(sum(len(json.dumps(raw, separators=(",", ":"))) for raw in raws) / events, 1),
        "http_requests_per_1000_events": round(requests * 1000 / events, 2),
        "ddb_write_calls_per_1000_events": round(meter.write_calls * 1000 / events, 2),
        "write_calls_by_operation_per_1000_events": {
            operation: round(count * 1000 / events, 2) for operation, count in sorted(meter.calls.items())},
        "items_written_per_event": round(len(meter.written) / events, 3),
        "max_item_bytes": max(item_bytes),
        "wru_per_event": round((table_units + index_units) / events, 3),
        "wru_table_per_event": round(table_units / events, 3),
        "wru_index_per_event": round(index_units / events, 3),
        "rru_per_event": round(meter.keys_read / events, 3),
        "write_calls_per_request": meter.write_calls / requests,
        "calls_per_request_by_operation": {
            operation: count / requests for operation, count in sorted(meter.calls.items())},
    }


def _baseline(raws):
    with mock_aws():
        client = boto3.client("dynamodb")
        baseline.create_table(client, "original")
        table = boto3.resource("dynamodb").Table("original")
        meter = DynamoDBMeter().attach(table.meta.client)
        for raw in raws:
            baseline.ingest(table, raw, timestamp_s=raw["timestamp"] / 1000)
    table_units, index_units, item_bytes = _units(meter.written, {"original": baseline.SCHEMA})
    events = len(raws)
    return {
        "http_requests_per_1000_events": 1000.0,
        "ddb_write_calls_per_1000_events": round(meter.write_calls * 1000 / events, 2),
        "wru_per_event": round((table_units + index_units) / events, 3),
        "max_item_bytes": max(item_bytes),
    }


def _lambda_ms(measured, cpu_ms, memory_mb):
    """Lambda time of one request: its CPU, plus a round trip per sequential wave of calls.

    A request's phases run one after another (claims, then key reads, then
    writes); within a phase the repository keeps up to ``WORKERS`` calls in flight.
    """
    from chalicelib.repository import WORKERS

    waves = sum(math.ceil(calls / WORKERS) for calls in measured["calls_per_request_by_operation"].values())
    return pricing.lambda_duration_ms(cpu_ms, waves, memory_mb)


def _with_event_id(measured, cpu_ms, batch, memory_mb):
    lambda_ms = _lambda_ms(measured, cpu_ms, memory_mb)
    usd, parts = pricing.usd_per_million_events(1 / batch, measured["wru_per_event"], lambda_ms, memory_mb,
                                                measured["rru_per_event"])
    return {
        "event_json_bytes": measured["event_json_bytes"],
        "http_requests_per_1000_events": measured["http_requests_per_1000_events"],
        "ddb_write_calls_per_1000_events": measured["ddb_write_calls_per_1000_events"],
        "write_calls_by_operation_per_1000_events": measured["write_calls_by_operation_per_1000_events"],
        "wru_per_event": measured["wru_per_event"],
        "rru_per_event": measured["rru_per_event"],
        "max_item_bytes": measured["max_item_bytes"],
        "lambda_ms_per_request": lambda_ms,
        "usd_per_million_events": usd,
        "usd_parts": parts,
    }


def run(overhead, events=10_000, batch=1000, log=print):
    """``overhead`` is ``bench.overhead.run()``'s result: the measured CPU per request that Lambda bills."""
    configure()
    if overhead["batch_events"] != batch:
        raise ValueError(f"overhead was timed on {overhead['batch_events']}-event requests, ingest sends {batch}")

    now_ms = int(time.time() * 1000)
    def traffic(seed, **options):
        return data.events(events, now_ms, 3_600_000, seed=seed, levels=data.INFO_ONLY, **options)

    plain = _ours(traffic(5), batch)
    with_ids = _ours(traffic(6, with_event_id=True), batch)
    no_timestamp = _ours(traffic(7, with_event_id=True, with_timestamp=False), batch)
    original = _baseline(traffic(5))

    memory_mb = lambda_memory_mb()
    ours_ms = _lambda_ms(plain, overhead["request_cpu_ms"], memory_mb)
    baseline_ms = pricing.lambda_duration_ms(overhead["baseline_request_cpu_ms"], 1, memory_mb)
    usd, usd_parts = pricing.usd_per_million_events(1 / batch, plain["wru_per_event"], ours_ms, memory_mb)
    baseline_usd, baseline_parts = pricing.usd_per_million_events(1.0, original["wru_per_event"], baseline_ms,
                                                                  memory_mb)
    ids = _with_event_id(with_ids, overhead["event_id_request_cpu_ms"], batch, memory_mb)
    ids_no_timestamp = _with_event_id(no_timestamp, overhead["event_id_no_timestamp_request_cpu_ms"], batch,
                                      memory_mb)

    result = {
        "events": events,
        "event_json_bytes": plain["event_json_bytes"],
        "http_requests_per_1000_events": plain["http_requests_per_1000_events"],
        "ddb_write_calls_per_1000_events": plain["ddb_write_calls_per_1000_events"],
        "wru_per_event": plain["wru_per_event"],
        "wru_table_per_event": plain["wru_table_per_event"],
        "wru_index_per_event": plain["wru_index_per_event"],
        "max_item_bytes": plain["max_item_bytes"],
        "lambda_ms_per_request": ours_ms,
        "usd_per_million_events": usd,
        "usd_parts": usd_parts,
        "with_event_id": ids,
        "with_event_id_no_timestamp": ids_no_timestamp,
        "baseline_http_requests_per_1000_events": original["http_requests_per_1000_events"],
        "baseline_ddb_write_calls_per_1000_events": original["ddb_write_calls_per_1000_events"],
        "baseline_wru_per_event": original["wru_per_event"],
        "baseline_lambda_ms_per_request": baseline_ms,
        "baseline_usd_per_million_events": baseline_usd,
        "baseline_usd_parts": baseline_parts,
        "lambda_memory_mb": memory_mb,
        "prices_usd": pricing.PRICES_USD,
        "dynamodb_round_trip_ms_assumed": pricing.DYNAMODB_ROUND_TRIP_MS,
    }
    log(f"ingest: ours {result['http_requests_per_1000_events']} HTTP requests, "
        f"{result['ddb_write_calls_per_1000_events']} write calls per 1000 events, "
        f"{result['wru_per_event']} WRU/event, ${usd}/M events; "
        f"with event_id {ids['ddb_write_calls_per_1000_events']} calls, "
        f"{ids['wru_per_event']} WRU/event, ${ids['usd_per_million_events']}/M; "
        f"with event_id, no timestamp {ids_no_timestamp['ddb_write_calls_per_1000_events']} calls, "
        f"{ids_no_timestamp['wru_per_event']} WRU/event, ${ids_no_timestamp['usd_per_million_events']}/M; "
        f"original {original['ddb_write_calls_per_1000_events']} calls, "
        f"{original['wru_per_event']} WRU/event, ${baseline_usd}/M")
    return result
