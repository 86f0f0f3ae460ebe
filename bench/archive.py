"""The archive (issue 21): what keeping events a year in S3 costs, against CloudWatch Logs, and the round trip.

The table holds ``bench.data``'s realistic mix (``requests`` shipper requests of 1,000 events within the last
hour, 90 % from the hot service, written in time order, packed through the repository into moto with the table's
stream on). The stream's records go to the ``archive`` function in the batches Lambda makes of them (1,000
records, the event source mapping's batch size, or 6 MB of JSON, whichever comes first) through
``devtools.stream_delivery``; the first attempt at the second batch (the first, if there is one) dies after
writing all its objects, the worst a redelivery can meet. Then:

* ``bytes_per_event_ratio``: archive object bytes per event over the raw JSON bytes per event (as sent).
* ``usd_per_million_events_year``: keeping a million events a year under infra's lifecycle: S3 Standard for
  ``TRANSITION_DAYS``, then Glacier Instant Retrieval to ``RETENTION_DAYS`` (at least 90 days there) with one
  lifecycle transition each, for objects of 128 KiB or more; objects under 128 KiB stay in Standard (S3's default
  minimum size for a transition: Glacier IR would bill them as 128 KiB, and the transition alone costs more than
  their year in Standard); one PUT per object (objects per million events as this run made them), and the
  function's Lambda time: ``handle``'s CPU time per event, measured with S3 answering at once (no emulator in
  it), stretched by the CPU share 512 MB gets, plus ``S3_PUT_MS`` per object written in turn, and one request per
  batch. KMS is left out: the bucket key makes S3 call KMS about once per bucket key, not per object.
  ``cloudwatch_usd_per_million_events_year``: CloudWatch Logs' storage of the same raw bytes for a year;
  ``cost_ratio_vs_cloudwatch`` the first over the second. ``usd_parts`` has every component.
* ``roundtrip_lost`` / ``roundtrip_duplicated``: log ids written and not found, and found more than once, in the
  archive read back with DuckDB over local copies of its objects (Hive partitions, gzip NDJSON).
"""
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path

import boto3
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from bench import data, pricing
from bench.env import configure
from bench.stub import repository_on

REQUEST_EVENTS = 1000
BUCKET = "simple-log-service-bench-archive"
MEMORY_MB = 512
TRANSITION_DAYS = 30
RETENTION_DAYS = 365
GLACIER_IR_MIN_BYTES = 128 * 1024
GLACIER_IR_MIN_DAYS = 90
# An assumption, stated: the in-region time of one PutObject of a few hundred KB, which the function waits for.
S3_PUT_MS = 30.0
STREAMS_ENDPOINT = "https://streams.dynamodb.us-east-1.amazonaws.com"


def _load(repository, batches, now_ms):
    from chalicelib import events as ev
    from chalicelib import settings

    log_ids = []
    for batch in batches:
        events = [ev.normalize_event(raw, now_ms, settings.retention_days()) for raw in batch]
        outcomes = repository.put_events(events, "arn:aws:sts::123456789012:assumed-role/shipper/bench", now_ms)
        if not all(outcome.stored for outcome in outcomes):
            raise RuntimeError("loading the table failed")
        log_ids += [outcome.log_id for outcome in outcomes]
    return log_ids


class _FailsOnce:
    """The archive function, whose first attempt at batch ``failing`` dies after writing all its objects."""

    def __init__(self, failing):
        self.failing = failing
        self.batches = 0
        self.failed = False

    def __call__(self, event, context):
        from app import archive

        archive(event, context)
        if self.batches == self.failing and not self.failed:
            self.failed = True
            raise RuntimeError("injected: the function dies after writing its objects")
        self.batches += 1


@contextlib.contextmanager
def _instant_puts():
    """The archive's S3 client answers every PutObject at once for the block (its request still built)."""
    from chalicelib import aws

    def answer(params, **_):
        return AWSResponse(params["url"], 200, {}, None), {}

    events = aws.client("s3").meta.events
    events.register_last("before-call.s3.PutObject", answer, unique_id="bench-instant")
    try:
        yield
    finally:
        events.unregister("before-call.s3.PutObject", unique_id="bench-instant")


def _handle_cpu_s(batches, repeats):
    """Median process CPU seconds of ``handle`` over every batch, S3 answering at once."""
    from chalicelib import archiving

    times = []
    with _instant_puts():
        for _ in range(repeats + 1):
            start = time.process_time()
            for batch in batches:
                archiving.handle({"Records": batch})
            times.append(time.process_time() - start)
    return statistics.median(times[1:])


def _moved(sizes):
    """The objects the lifecycle moves to Glacier IR (infra/archive.tf: 128 KiB or more)."""
    return [size for size in sizes if size >= GLACIER_IR_MIN_BYTES]


def _storage_usd(sizes):
    """``(Standard, Glacier IR)``: keeping objects of ``sizes`` bytes for ``RETENTION_DAYS`` under the lifecycle."""
    months = pricing.DAYS_PER_MONTH
    moved = _moved(sizes)
    standard_byte_days = sum(moved) * TRANSITION_DAYS + (sum(sizes) - sum(moved)) * RETENTION_DAYS
    standard = standard_byte_days / pricing.GB / months * pricing.PRICES_USD["s3_standard_gb_month"]
    glacier_days = max(RETENTION_DAYS - TRANSITION_DAYS, GLACIER_IR_MIN_DAYS)
    glacier = sum(moved) / pricing.GB * glacier_days / months * pricing.PRICES_USD["s3_glacier_ir_gb_month"]
    return standard, glacier


def usd_per_object():
    """What an object costs for itself, whatever it holds: its PUT and the function's wait for it."""
    return pricing.PRICES_USD["s3_put_request"] + S3_PUT_MS / 1000 * MEMORY_MB / 1024 * pricing.PRICES_USD[
        "lambda_gb_second"]


def costs(events, raw_bytes, sizes, invocations, cpu_s):
    """``(usd per million events a year, CloudWatch's, parts)`` for ``events`` archived in objects of ``sizes``
    bytes by ``invocations`` calls taking ``cpu_s`` of CPU together."""
    per_million = 1e6 / events
    standard, glacier = _storage_usd(sizes)
    stretch = max(1.0, pricing.LAMBDA_FULL_VCPU_MB / MEMORY_MB)
    seconds = cpu_s * stretch + len(sizes) * S3_PUT_MS / 1000
    parts = {
        "s3_standard_storage": standard * per_million,
        "s3_glacier_ir_storage": glacier * per_million,
        "s3_puts": len(sizes) * per_million * pricing.PRICES_USD["s3_put_request"],
        "s3_transitions": len(_moved(sizes)) * per_million * pricing.PRICES_USD["s3_glacier_ir_transition_request"],
        "lambda_duration": seconds * per_million * MEMORY_MB / 1024 * pricing.PRICES_USD["lambda_gb_second"],
        "lambda_requests": invocations * per_million * pricing.PRICES_USD["lambda_request"],
    }
    cloudwatch = 1e6 * raw_bytes / events / pricing.GB * 12 * pricing.PRICES_USD["cloudwatch_logs_storage_gb_month"]
    return sum(parts.values()), cloudwatch, parts


def run(requests=100, repeats=3, log=print):
    configure()
    import os

    os.environ["ARCHIVE_BUCKET"] = BUCKET
    from chalicelib import service, settings
    from devtools import archive_sql, stream_delivery
    from devtools.table import create_table

    now_ms = int(time.time() * 1000)
    batches = sorted(data.shipper_batches(requests, REQUEST_EVENTS, now_ms, 3_600_000, seed=83),
                     key=lambda batch: batch[-1]["timestamp"])
    raw_bytes = sum(len(json.dumps(event, separators=(",", ":")).encode("utf-8"))
                    for batch in batches for event in batch)

    with mock_aws():
        service.reset()
        client = boto3.client("dynamodb")
        create_table(client, settings.table_name(), stream=True)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        started = time.perf_counter()
        log_ids = _load(repository_on(client), batches, now_ms)
        arn = client.describe_table(TableName=settings.table_name())["Table"]["LatestStreamArn"]
        # botocore names an account endpoint (<account>.streams-ddb.<region>...) that moto does not answer.
        records = stream_delivery.stream_records(boto3.client("dynamodbstreams", endpoint_url=STREAMS_ENDPOINT), arn)
        record_batches = stream_delivery.batches(records)
        log(f"archive: {len(log_ids)} events written packed in {len(records)} items, "
            f"{time.perf_counter() - started:.0f} s")
        handler, dead = _FailsOnce(min(1, len(record_batches) - 1)), []
        for batch in record_batches:
            stream_delivery.deliver(handler, batch, dead.append)
        with tempfile.TemporaryDirectory() as directory:
            sizes = archive_sql.download(boto3.client("s3"), BUCKET, Path(directory))
            found = [event["log_id"] for event, *_ in archive_sql.rows(Path(directory))]
        cpu_s = _handle_cpu_s(record_batches, repeats)
    service.reset()

    events = len(log_ids)
    usd, cloudwatch, parts = costs(events, raw_bytes, sizes, len(record_batches), cpu_s)
    small = sum(size < GLACIER_IR_MIN_BYTES for size in sizes)
    goal = 0.2 * cloudwatch
    figures = {
        "events": events,
        "stream_records": len(records),
        "batches": len(record_batches),
        "injected_failures": int(handler.failed),
        "dead_lettered": len(dead),
        "objects": len(sizes),
        "objects_per_million_events": round(len(sizes) * 1e6 / events),
        "objects_under_128kib": small,
        "median_object_bytes": int(statistics.median(sizes)),
        # The goal holds only while a million events make fewer objects than this (a quiet stream's batches, closed
        # by the batching window, make small ones), each object costing what it costs whatever it holds.
        "max_objects_per_million_events_for_goal": int(
            (goal - usd) / usd_per_object() + len(sizes) * 1e6 / events),
        "raw_bytes_per_event": round(raw_bytes / events, 1),
        "archive_bytes_per_event": round(sum(sizes) / events, 1),
        "bytes_per_event_ratio": round(sum(sizes) / raw_bytes, 3),
        "handle_cpu_us_per_event": round(cpu_s / events * 1e6, 2),
        "usd_per_million_events_year": round(usd, 5),
        "usd_parts": {name: round(value, 6) for name, value in parts.items()},
        "cloudwatch_usd_per_million_events_year": round(cloudwatch, 5),
        "cost_ratio_vs_cloudwatch": round(usd / cloudwatch, 3),
        "roundtrip_lost": len(set(log_ids) - set(found)),
        "roundtrip_duplicated": len(found) - len(set(found)),
    }
    log(f"archive: {events} events in {len(sizes)} objects ({small} under 128 KiB, median "
        f"{figures['median_object_bytes']} B) from {len(record_batches)} batches; "
        f"{figures['archive_bytes_per_event']} B/event against {figures['raw_bytes_per_event']} raw "
        f"(ratio {figures['bytes_per_event_ratio']}), those under 128 KiB kept in Standard; "
        f"handle {figures['handle_cpu_us_per_event']} us CPU/event")
    log("archive: a million events a year: " + ", ".join(f"{name} ${value:.6f}" for name, value in parts.items())
        + f" = ${usd:.5f}; CloudWatch Logs storage ${cloudwatch:.5f}; ratio {figures['cost_ratio_vs_cloudwatch']}; "
        f"an object costs ${usd_per_object():.7f} whatever it holds: the goal holds up to "
        f"{figures['max_objects_per_million_events_for_goal']} objects per million events "
        f"(this mix: {figures['objects_per_million_events']})")
    log(f"archive: round trip through DuckDB with {figures['injected_failures']} injected failure: "
        f"{figures['roundtrip_lost']} lost, {figures['roundtrip_duplicated']} duplicated, {len(dead)} dead-lettered")
    return figures
