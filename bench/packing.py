"""Packed storage (issue 19): what an event costs to write, store and read when events are stored in packs.

Traffic is ``bench.data``'s realistic mix: requests as shippers send them,
each of one service (90 % of them the hot one), events of about 260 bytes of
JSON whose levels are 5 % WARN or worse, spanning from a millisecond per event
to a few seconds. Every figure comes from what went over the wire to moto
in-process (the meter on the service's own client), sized by DynamoDB's rules
(``bench.sizes``):

* ``wru_per_event_by_batch``: write units per event, table and every index, of
  JSON requests of 1, 10, 100 and 1,000 events through the Lambda entry point;
  ``today_wru_per_event_by_batch`` the same requests in the one-item-per-event
  layout (``packed=False``); ``wru_per_event_with_event_id`` 1,000-event
  requests whose every event has an ``event_id`` (stored one item each, as
  today, with ``rru_per_event_with_event_id`` the keys read to dedupe them);
  ``otlp_wru_per_record`` OTLP exports of 1,000 records of the same mix.
* ``stored_bytes_ratio``: billed bytes (item sizes plus DynamoDB's 100 bytes of
  overhead an item, in the table and in each index) over the events' raw JSON
  bytes, for the 1,000-event requests.
* ``usd_per_million_events``: DynamoDB writes and storage for the retention
  period, Lambda at the measured CPU of a 1,000-event request (``bench.pricing``)
  and API Gateway; ``cloudwatch_usd_per_million_events`` CloudWatch Logs'
  ingest and storage of the same raw bytes.
* ``read_items``, ``events_decoded_per_page``, ``correct``: the newest ``limit``
  of four views at ``read_events`` events (packed writes of 1,000-event
  requests): items read (``ScannedCount``, and the packs fetched by key), the page's ``events_decoded``, and
  whether each page is the true newest ``limit``, computed from the events sent
  (order by full timestamp, content equal to what was sent).
* ``cpu_ratio``: process CPU per event of the request, packed over
  ``packed=False`` in the same run, each the median of ``repeats`` taken in
  turn: ingest with the DynamoDB client's sends short-circuited (every write
  succeeds), read with each Query answered by the raw answer moto gave it (the
  client still parses it), so neither includes an emulator. The one-item table
  of that comparison holds the newest quarter of the requests (every view's
  newest events are there; ``today_read_items`` and ``today_correct`` are of it).
* ``compression``: the packs' uncompressed text over their zlib level 6 bytes,
  and over zstd's (level 3) when the ``zstandard`` package imports.
* ``projection``: write units per event and stored bytes over raw bytes of the
  1,000-event requests with GSI ``pack_timeline`` as built (INCLUDE: no payload;
  the all-services page fetches the packs it opens, in its ``read_units``) and
  with ALL (every pack copied whole into the index).
"""
import copy
import json
import math
import statistics
import time
import zlib

import boto3
from moto import mock_aws

from bench import data, otlp, pricing, sizes
from bench.env import CALLER_ARN, configure, invoke, lambda_event, lambda_memory_mb
from bench.meter import DynamoDBMeter
from bench.stub import (
    AnswerRecorder,
    frozen_clock,
    replay_answers,
    repository_client,
    repository_on,
    serving,
    stub_sends,
)
from devtools.moto_capacity import make_faithful

BATCH_SIZES = (1, 10, 100, 1000)
COST_BATCH = 1000
READ_SPAN_MS = 120_000
ONE_ITEM_TABLE = "simple-log-service-one-item"
READ_UNIT_BYTES = 4096


def reads(limit):
    """The four views of the figures, as ``GET /logs/recent`` parameters, and which events each matches."""
    severe = ("WARN", "ERROR", "FATAL")
    return {
        "all": ({"limit": [str(limit)]}, lambda event: True),
        "hot_service": ({"limit": [str(limit)], "service_name": [data.MIX_HOT_SERVICE]},
                        lambda event: event["service_name"] == data.MIX_HOT_SERVICE),
        "level_error": ({"limit": [str(limit)], "level": ["ERROR"]}, lambda event: event["level"] == "ERROR"),
        "min_level_warn": ({"limit": [str(limit)], "min_level": ["WARN"]}, lambda event: event["level"] in severe),
    }


def _post_logs(app, batch):
    status, answer = invoke(app, lambda_event("POST", "/logs", body=json.dumps({"logs": batch})))
    if status != 201 or answer["accepted"] != len(batch):
        raise RuntimeError(f"POST /logs answered {status}: {str(answer)[:300]}")


def _export(app, batch):
    status = otlp.status_of(app, otlp.otlp_event(otlp.export_of(batch)))
    if status != 200:
        raise RuntimeError(f"POST /v1/logs answered {status}")


def _events_in(item):
    """Events an item holds: a pack's count, one for an event item, none for an identity's guard or claim."""
    if "n" in item:
        return int(item["n"]["N"])
    return 1 if "message" in item else 0


def _stored(batches, send=_post_logs, **options):
    """Every item a table took, the keys read and the write calls, when each batch is sent to moto by ``send``
    through the Lambda entry point (``options``: the repository's)."""
    from app import app
    from chalicelib import aws, service, settings
    from devtools.table import create_table

    with mock_aws():
        service.reset()
        create_table(boto3.client("dynamodb"), settings.table_name())
        client = aws.client("dynamodb")
        meter = DynamoDBMeter().attach(client)
        with repository_client(client, **options):
            for batch in batches:
                send(app, batch)
        service.reset()
    items = [item for _, item in meter.written]
    sent = sum(len(batch) for batch in batches)
    if sum(_events_in(item) for item in items) != sent:
        raise RuntimeError(f"{sent} events sent, the items written hold {sum(map(_events_in, items))}")
    return items, meter.keys_read, meter.write_calls


def _per_event(items, events, schema):
    return round(sum(sum(sizes.put_write_units(item, schema)) for item in items) / events, 3)


def _raw_bytes(batches):
    return sum(len(json.dumps(event, separators=(",", ":")).encode("utf-8")) for batch in batches for event in batch)


def _writes(counts, now_ms, log):
    """Write units per event by request size, packed and today; the 1,000-event requests' items for the rest."""
    from devtools.table import load_schema

    schema = load_schema()
    by_batch, today = {}, {}
    kept = {}
    for size in BATCH_SIZES:
        batches = data.shipper_batches(counts[str(size)], size, now_ms, 3_600_000, seed=size)
        events = size * len(batches)
        packed_items, _, packed_calls = _stored(batches)
        today_items, _, _ = _stored(batches, packed=False)
        by_batch[str(size)] = _per_event(packed_items, events, schema)
        today[str(size)] = _per_event(today_items, events, schema)
        if size == COST_BATCH:
            kept = {"batches": batches, "items": packed_items, "today_items": today_items,
                    "write_calls_per_request": packed_calls / len(batches)}
        log(f"packing: {size:>4}-event requests: {by_batch[str(size)]} write units per event "
            f"(one item per event: {today[str(size)]})")
    return by_batch, today, kept


def _with_event_id(count, now_ms):
    from devtools.table import load_schema

    batches = data.shipper_batches(count, COST_BATCH, now_ms, 3_600_000, seed=41, with_event_id=True)
    items, keys_read, _ = _stored(batches)
    events = COST_BATCH * count
    return _per_event(items, events, load_schema()), round(keys_read / events, 3)


def _otlp(count, now_ms):
    from devtools.table import load_schema

    batches = data.shipper_batches(count, COST_BATCH, now_ms, 3_600_000, seed=43)
    items, _, _ = _stored(batches, send=_export)
    return _per_event(items, COST_BATCH * count, load_schema())


def _stored_bytes(items, schema):
    return sum(sizes.stored_bytes(item, schema) for item in items)


def _packs(items):
    """``(uncompressed text, zlib bytes)`` of every pack item."""
    return [(zlib.decompress(item["pack"]["B"]), item["pack"]["B"]) for item in items if "pack" in item]


def compression(items):
    packs = _packs(items)
    texts = sum(len(text) for text, _ in packs)
    result = {"packs": len(packs), "zlib6_ratio": round(texts / sum(len(packed) for _, packed in packs), 2)}
    try:
        import zstandard
    except ImportError:
        result.update(zstd_ratio=None, zstd_reason="the zstandard package is not installed (the service "
                                                   "uses the standard library's zlib)")
        return result
    compressor = zstandard.ZstdCompressor(level=3)
    result["zstd_ratio"] = round(texts / sum(len(compressor.compress(text)) for text, _ in packs), 2)
    return result


def _projected_all(schema, index_name):
    schema = copy.deepcopy(schema)
    for index in schema["global_secondary_indexes"]:
        if index["name"] == index_name:
            index["projection_type"] = "ALL"
            index.pop("non_key_attributes", None)
    return schema


def projection(items, events, raw_bytes):
    """GSI pack_timeline as built (INCLUDE: no payload; a page fetches the packs it opens) against ALL (every
    pack written and stored twice): write units per event and stored bytes over raw bytes."""
    from chalicelib.repository import PACK_TIMELINE_INDEX
    from devtools.table import load_schema

    schema = load_schema()
    copied = _projected_all(schema, PACK_TIMELINE_INDEX)
    return {
        "pack_timeline_include_wru_per_event": _per_event(items, events, schema),
        "pack_timeline_all_wru_per_event": _per_event(items, events, copied),
        "pack_timeline_include_stored_bytes_ratio": round(_stored_bytes(items, schema) / raw_bytes, 3),
        "pack_timeline_all_stored_bytes_ratio": round(_stored_bytes(items, copied) / raw_bytes, 3),
    }


# --- reads ------------------------------------------------------------------------------------------

def truth(batches, matches, limit):
    """The newest ``limit`` events matching, by full timestamp (the mix's ISO 8601 text sorts as its time)."""
    matching = [event for batch in batches for event in batch if matches(event)]
    matching.sort(key=lambda event: event["timestamp"], reverse=True)
    return matching[:limit]


def is_exact(page, expected, sent):
    """``page`` (events as answered) holds the true newest events, newest first, each as it was sent.

    Events at one full timestamp may come in any order among themselves, and at
    the page's oldest timestamp any of them may be the ones included.
    """
    found = [sent.get(data.identity(event)) for event in page]
    if len(page) != len(expected) or None in found or len({data.identity(event) for event in found}) != len(found):
        return False
    if [event["timestamp"] for event in found] != [event["timestamp"] for event in expected]:
        return False
    return all(_answered_as_sent(answered, event) for answered, event in zip(page, found, strict=True))


def _answered_as_sent(answered, event):
    return (answered["service_name"], answered["level"], answered["message"], answered["metadata"],
            answered["log_type"], answered["timestamp"]) == (
        event["service_name"], event["level"], event["message"], event["metadata"],
        event.get("log_type", "application"), event["timestamp"][:23] + "Z")


class _PageRecorder:
    """The service's repository, keeping each page it answers (for ``events_decoded``)."""

    def __init__(self, repository):
        self._repository = repository
        self.pages = []

    def recent(self, *args, **kwargs):
        page = self._repository.recent(*args, **kwargs)
        self.pages.append(page)
        return page


def _load(repository, batches, now_ms):
    from chalicelib import events as ev
    from chalicelib import settings

    for batch in batches:
        events = [ev.normalize_event(raw, now_ms, settings.retention_days()) for raw in batch]
        if not all(outcome.stored for outcome in repository.put_events(events, CALLER_ARN, now_ms)):
            raise RuntimeError("loading the table failed")


def _read(app, query):
    status, body = invoke(app, lambda_event("GET", "/logs/recent", query=query))
    if status != 200:
        raise RuntimeError(f"GET /logs/recent answered {status}: {str(body)[:300]}")
    return body["logs"]


def _reads(batches, now_ms, limit, repeats):
    """Items read, events decoded and exactness of each view, packed; the CPU of each, packed and today."""
    from app import app
    from chalicelib import service, settings
    from devtools.table import create_table

    sent = {data.identity(event): event for batch in batches for event in batch}
    if len(sent) != sum(map(len, batches)):
        raise RuntimeError("two events of the mix are alike: the reads could not be checked")
    views = reads(limit)
    figures = {}
    answers = {}
    with mock_aws():
        service.reset()
        client = boto3.client("dynamodb")
        for table_name in (settings.table_name(), ONE_ITEM_TABLE):
            create_table(client, table_name)
        _load(repository_on(client), batches, now_ms)
        # The newest quarter holds every view's newest events (the rarest, ERROR, is 1 %): loading the rest
        # one item an event would only make moto slower.
        newest = sorted(batches, key=lambda batch: batch[-1]["timestamp"])[-max(1, len(batches) // 4):]
        _load(repository_on(client, ONE_ITEM_TABLE, packed=False), newest, now_ms)
        for layout, table_name, options, loaded in (("packed", settings.table_name(), {}, batches),
                                                    ("today", ONE_ITEM_TABLE, {"packed": False}, newest)):
            read_client = boto3.client("dynamodb")
            meter = DynamoDBMeter().attach(read_client)
            recorder = AnswerRecorder().attach(read_client)
            repository = _PageRecorder(repository_on(read_client, table_name, **options))
            with serving(repository), frozen_clock(now_ms):
                for name, (query, matches) in views.items():
                    meter.reset()
                    page = _read(app, query)
                    figures[(layout, name)] = {
                        "items_read": meter.scanned + meter.keys_read, "read_units": meter.read_units,
                        "events_decoded": getattr(repository.pages[-1], "events_decoded", None),
                        "correct": is_exact(page, truth(loaded, matches, limit), sent)}
            answers[layout] = (recorder.answers, table_name, options)
        service.reset()
    cpu = _read_cpu(app, views, answers, now_ms, repeats)
    return figures, cpu


def _read_cpu(app, views, answers, now_ms, repeats):
    """Median CPU ms of the four reads, per layout, each Query answered from what moto answered."""
    runs = {}
    for layout, (recorded, table_name, options) in answers.items():
        client = replay_answers(boto3.client("dynamodb"), recorded)
        repository = repository_on(client, table_name, **options)

        def run(repository=repository):
            with serving(repository), frozen_clock(now_ms):
                for query, _ in views.values():
                    _read(app, query)

        runs[layout] = run
    return alternating_cpu_ms(runs, repeats)


def alternating_cpu_ms(runs, repeats):
    """``{name: median CPU ms}`` of each function, taken in turn so that each sees the same machine."""
    for run in runs.values():
        run()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.process_time()
            run()
            times[name].append((time.process_time() - start) * 1000)
    return {name: statistics.median(timed) for name, timed in times.items()}


def _ingest_cpu(batch, repeats):
    """Median CPU ms of one JSON request, packed and today, the client's sends short-circuited."""
    from app import app

    runs = {}
    for layout, options in (("packed", {}), ("today", {"packed": False})):
        client = stub_sends(boto3.client("dynamodb"))

        def run(client=client, options=options):
            with repository_client(client, **options):
                _post_logs(app, batch)

        runs[layout] = run
    return alternating_cpu_ms(runs, repeats)


def run(counts=None, read_events=40_000, limit=100, repeats=7, log=print):
    """``counts``: requests sent per request size (``{"1": ..., "1000": ...}``)."""
    configure()
    make_faithful()
    from chalicelib import settings
    from devtools.table import load_schema

    counts = counts or {"1": 200, "10": 50, "100": 10, "1000": 5}
    schema = load_schema()
    now_ms = int(time.time() * 1000)
    by_batch, today_by_batch, cost = _writes(counts, now_ms, log)
    events = COST_BATCH * len(cost["batches"])
    raw_bytes = _raw_bytes(cost["batches"])
    with_ids_wru, with_ids_rru = _with_event_id(counts["1000"], now_ms)
    otlp_wru = _otlp(counts["1000"], now_ms)

    read_batches = data.shipper_batches(read_events // COST_BATCH, COST_BATCH, now_ms, READ_SPAN_MS, seed=47)
    read_figures, read_cpu = _reads(read_batches, now_ms, limit, repeats)
    ingest_cpu = _ingest_cpu(cost["batches"][0], repeats)

    memory_mb = lambda_memory_mb()
    retention_days = settings.retention_days()
    stored_per_event = _stored_bytes(cost["items"], schema) / events
    from chalicelib.repository import WORKERS

    lambda_ms = pricing.lambda_duration_ms(ingest_cpu["packed"], math.ceil(cost["write_calls_per_request"] / WORKERS),
                                           memory_mb)
    usd, parts = pricing.usd_per_million_events(1 / COST_BATCH, by_batch[str(COST_BATCH)], lambda_ms, memory_mb)
    parts["dynamodb_storage"] = round(pricing.storage_usd_per_million_events(
        stored_per_event, retention_days, pricing.PRICES_USD["dynamodb_storage_gb_month"]), 4)
    usd = round(usd + parts["dynamodb_storage"], 4)
    cloudwatch_usd, cloudwatch_parts = pricing.cloudwatch_usd_per_million_events(raw_bytes / events, retention_days)

    names = list(reads(limit))
    result = {
        "event_json_bytes": round(raw_bytes / events, 1),
        "wru_per_event_by_batch": by_batch,
        "today_wru_per_event_by_batch": today_by_batch,
        "wru_per_event_with_event_id": with_ids_wru,
        "rru_per_event_with_event_id": with_ids_rru,
        "otlp_wru_per_record": otlp_wru,
        "stored_bytes_ratio": round(stored_per_event * events / raw_bytes, 3),
        "today_stored_bytes_ratio": round(_stored_bytes(cost["today_items"], schema) / raw_bytes, 3),
        "usd_per_million_events": usd,
        "usd_parts": parts,
        "cloudwatch_usd_per_million_events": cloudwatch_usd,
        "cloudwatch_usd_parts": cloudwatch_parts,
        "lambda_ms_per_request": lambda_ms,
        "retention_days": retention_days,
        "read_events": len(read_batches) * COST_BATCH,
        "limit": limit,
        "read_items": {name: read_figures[("packed", name)]["items_read"] for name in names},
        "read_units": {name: read_figures[("packed", name)]["read_units"] for name in names},
        "events_decoded_per_page": {name: read_figures[("packed", name)]["events_decoded"] for name in names},
        "today_read_items": {name: read_figures[("today", name)]["items_read"] for name in names},
        "correct": all(read_figures[("packed", name)]["correct"] for name in names),
        "today_correct": all(read_figures[("today", name)]["correct"] for name in names),
        "cpu_ratio": {"ingest": round(ingest_cpu["packed"] / ingest_cpu["today"], 3),
                      "read": round(read_cpu["packed"] / read_cpu["today"], 3)},
        "cpu_us_per_event": {
            "ingest": {layout: round(ms / COST_BATCH * 1000, 1) for layout, ms in ingest_cpu.items()},
            "read": {layout: round(ms / (limit * len(names)) * 1000, 1) for layout, ms in read_cpu.items()}},
        "compression": compression(cost["items"]),
        "projection": projection(cost["items"], events, raw_bytes),
    }
    log(f"packing: {result['wru_per_event_by_batch']} write units per event by request size "
        f"(today {today_by_batch}), OTLP {otlp_wru}, with event_id {with_ids_wru}; stored bytes "
        f"{result['stored_bytes_ratio']} x raw (today {result['today_stored_bytes_ratio']}); ${usd}/M events "
        f"against CloudWatch Logs' ${cloudwatch_usd}/M; newest {limit} of {result['read_events']} events read "
        f"{result['read_items']} items, decoded {result['events_decoded_per_page']} events, correct "
        f"{result['correct']}; CPU packed/today {result['cpu_ratio']}; compression {result['compression']}")
    return result
