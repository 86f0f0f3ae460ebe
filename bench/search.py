"""Search (issue 20): finding one line among hundreds of thousands with ``q``, ``attr`` and ``trace_id``.

The table holds ``bench.data``'s realistic mix (``requests`` shipper requests of 1,000 events within the last
hour, 90 % from the hot service, written packed through the repository into moto in-process) and one needle:
an event whose message holds a token no other has, with its own request id and trace id. Every read goes
through the Lambda entry point, all services, the default window, following ``next_cursor`` from the first
page:

* ``needle_found``: for ``q``, ``attr`` and ``trace_id``, whether the needle is found, and only it;
  ``needle_reads`` the pages, events scanned and read units each took.
* ``budget_respected``: no page's ``scanned.events`` passed the documented bound (``max_events_per_request``).
* ``events_scanned_per_cpu_s``: events scanned per second of process CPU for a ``q`` that matches nothing,
  over the whole window: the reads are recorded from moto and replayed (each Query and BatchGetItem answered by
  moto's raw answer, which the client still parses), so no emulator time is in it; the median of ``repeats``.
* ``usd_per_gb_scanned``: the read units that scan consumed (Query and BatchGetItem, as DynamoDB charges them,
  priced per read request unit) per GB of the raw JSON of the events it examined; ``insights_usd_per_gb`` is
  CloudWatch Logs Insights' price.
* ``common_term_items_read``: items read (Query ``ScannedCount`` and packs fetched by key) for ``limit=100``
  and a term in about 10 % of the events (``common_term`` and its ``common_term_share``), first page;
  ``unfiltered_items_read`` the same for the unfiltered newest 100, and ``common_term_ratio`` the first over
  the second.
"""
import json
import statistics
import time

import boto3
from moto import mock_aws

from bench import data
from bench.env import configure, invoke, lambda_event
from bench.meter import DynamoDBMeter
from bench.stub import AnswerRecorder, frozen_clock, replay_answers, repository_on, serving
from devtools.moto_capacity import make_faithful

BATCH = 1000
NEEDLE_TOKEN = "zq-needle-7f3a9c"
NEEDLE_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
NEEDLE_REQUEST = "req-needle-0001"
INSIGHTS_USD_PER_GB = 0.005
# Words of the mix's messages: the one nearest 10 % of the events is the common term.
COMMON_CANDIDATES = ("cache", "search", "order", "checkout", "stripe", "shipped", "payment", "user")


def _needle(now_ms):
    return {"service_name": data.MIX_SERVICES[-1], "level": "INFO",
            "timestamp": data._iso((now_ms - 1_800_000) * 1000),
            "message": f"card check {NEEDLE_TOKEN} passed for user 424242",
            "metadata": {"request_id": NEEDLE_REQUEST, "trace_id": NEEDLE_TRACE, "latency_ms": 12}}


def _load(repository, batches, now_ms):
    from chalicelib import events as ev
    from chalicelib import settings

    for batch in batches:
        events = [ev.normalize_event(raw, now_ms, settings.retention_days()) for raw in batch]
        if not all(outcome.stored for outcome in repository.put_events(events, "bench", now_ms)):
            raise RuntimeError("loading the table failed")


def _pages(app, query):
    """Every page of ``query`` from the first, following cursors: ``[(logs, scanned)]``."""
    pages, cursor = [], None
    while True:
        params = {name: value if isinstance(value, list) else [value] for name, value in query.items()}
        if cursor is not None:
            params = {"cursor": [cursor]}
        status, body = invoke(app, lambda_event("GET", "/logs/recent", query=params))
        if status != 200:
            raise RuntimeError(f"GET /logs/recent answered {status}: {str(body)[:300]}")
        pages.append((body["logs"], body["scanned"]))
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def _share(term, events):
    return sum(term in event["message"].casefold() for event in events) / len(events)


def run(requests=200, repeats=3, log=print):
    configure()
    make_faithful()
    from app import app
    from chalicelib import service, settings
    from chalicelib.repository import DECODE_BUDGET, READ_BUDGET
    from chalicelib.repository.packs import MAX_PACK_EVENTS
    from chalicelib.repository.reads import MAX_REFS
    from devtools.table import create_table

    now_ms = int(time.time() * 1000)
    batches = data.shipper_batches(requests, BATCH, now_ms, 3_600_000, seed=61)
    needle = _needle(now_ms)
    batches[len(batches) // 2] = [*batches[len(batches) // 2][:-1], needle]
    events = [event for batch in batches for event in batch]
    raw_gb = sum(len(json.dumps(event, separators=(",", ":")).encode("utf-8")) for event in events) / 1e9
    # Decoded events, those of the packs a cursor names, and every item read a pack its filter ruled out.
    bound = DECODE_BUDGET + MAX_REFS * MAX_PACK_EVENTS + READ_BUDGET * MAX_PACK_EVENTS
    common = min(COMMON_CANDIDATES, key=lambda term: abs(_share(term, events) - 0.1))
    searches = {"q": {"q": NEEDLE_TOKEN}, "attr": {"attr": [f"request_id={NEEDLE_REQUEST}"]},
                "trace_id": {"trace_id": NEEDLE_TRACE.upper()}}

    figures, all_pages = {}, []
    with mock_aws():
        service.reset()
        client = boto3.client("dynamodb")
        create_table(client, settings.table_name())
        started = time.perf_counter()
        _load(repository_on(client), batches, now_ms)
        log(f"search: {len(events)} events written packed in {time.perf_counter() - started:.0f} s")
        read_client = boto3.client("dynamodb")
        meter = DynamoDBMeter().attach(read_client)
        recorder = AnswerRecorder().attach(read_client)
        with serving(repository_on(read_client)), frozen_clock(now_ms):
            found, reads = {}, {}
            for name, query in searches.items():
                meter.reset()
                pages = _pages(app, query)
                all_pages += pages
                logs = [log_entry for page, _ in pages for log_entry in page]
                found[name] = [entry["message"] for entry in logs] == [needle["message"]]
                reads[name] = {"pages": len(pages), "events_scanned": sum(s["events"] for _, s in pages),
                               "read_units": meter.read_units}
            meter.reset()
            nothing = {"q": "zz-absent-term-0"}
            scan_pages = _pages(app, nothing)
            all_pages += scan_pages
            scan_units = meter.read_units
            scanned = sum(s["events"] for _, s in scan_pages)
            meter.reset()
            first_common = _pages_first(app, {"q": common, "limit": "100"})
            common_items = meter.scanned + meter.keys_read
            meter.reset()
            _pages_first(app, {"limit": "100"})
            unfiltered_items = meter.scanned + meter.keys_read
        service.reset()
        recorded = recorder.answers

    cpu = _scan_cpu_ms(app, nothing, recorded, now_ms, repeats)
    figures.update({
        "events": len(events),
        "needle_found": found,
        "needle_reads": reads,
        "max_events_per_request": bound,
        "max_scanned_events_per_page": max(s["events"] for _, s in all_pages),
        "budget_respected": all(s["events"] <= bound for _, s in all_pages),
        "nomatch_pages": len(scan_pages),
        "nomatch_events_scanned": scanned,
        "nomatch_cpu_ms": round(cpu, 1),
        "events_scanned_per_cpu_s": round(scanned / (cpu / 1000)),
        "nomatch_read_units": scan_units,
        "raw_gb": round(raw_gb, 4),
        "usd_per_gb_scanned": round(scan_units * 0.125e-6 / (raw_gb * scanned / len(events)), 5),
        "insights_usd_per_gb": INSIGHTS_USD_PER_GB,
        "common_term": common,
        "common_term_share": round(_share(common, events), 3),
        "common_term_found": len(first_common),
        "common_term_items_read": common_items,
        "unfiltered_items_read": unfiltered_items,
        "common_term_ratio": round(common_items / unfiltered_items, 2),
    })
    log(f"search: needle found {found}; no-match scan of {scanned} events in {len(scan_pages)} pages: "
        f"{figures['events_scanned_per_cpu_s']} events per CPU second, {scan_units} read units = "
        f"${figures['usd_per_gb_scanned']}/GB (Insights ${INSIGHTS_USD_PER_GB}); common term {common!r} "
        f"({figures['common_term_share']:.0%}) read {common_items} items for 100 (unfiltered {unfiltered_items}); "
        f"budget respected {figures['budget_respected']}")
    return figures


def _pages_first(app, query):
    status, body = invoke(app, lambda_event("GET", "/logs/recent", query={k: [v] for k, v in query.items()}))
    if status != 200:
        raise RuntimeError(f"GET /logs/recent answered {status}")
    return body["logs"]


def _scan_cpu_ms(app, query, recorded, now_ms, repeats):
    """Median process CPU ms of the whole no-match scan, each read answered from what moto answered."""
    repository = repository_on(replay_answers(boto3.client("dynamodb"), recorded))
    times = []
    for _ in range(repeats + 1):
        with serving(repository), frozen_clock(now_ms):
            start = time.process_time()
            _pages(app, query)
            times.append((time.process_time() - start) * 1000)
    return statistics.median(times[1:])
