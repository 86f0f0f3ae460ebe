"""``slog archive get`` against moto's S3, over objects laid out as the archive function writes them."""
import gzip
import io
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import boto3
import pytest
from moto import mock_aws
from rich.console import Console
from slog import cli

from chalicelib import ids
from tests.conftest import ROOT

BUCKET = "simple-log-service-test-archive"
ENDPOINT = "https://abc123defg.execute-api.us-east-1.amazonaws.com/api/"
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def event(moment, message, service="checkout", level="INFO", sequence=0):
    """An event as the API answers it (and the archive holds it)."""
    ms = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    return {"log_id": ids.new_log_id(ms, sequence=sequence), "service_name": service, "level": level,
            "log_type": "application", "message": message,
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "metadata": {"request_id": "r-1"}, "event_id": None, "ingested_at": "2026-03-10T09:00:00.000Z",
            "ingested_by": "arn:aws:sts::000000000000:assumed-role/ingest/s"}


def archive_batch(s3, events, sequence_number, event_id):
    """Write ``events`` as the archive function writes one batch whose records all hold an event (the first
    record ``sequence_number``/``event_id``): one object per (service, dt, hour), its events sorted by log id,
    gzip level 6 of compact NDJSON, UTF-8. Returns the keys written."""
    partitions = defaultdict(list)
    for item in events:
        moment = datetime.fromisoformat(item["timestamp"])
        partitions[(item["service_name"], f"{moment:%Y-%m-%d}", f"{moment:%H}")].append(item)
    keys = []
    for (service, dt, hour), found in partitions.items():
        key = (f"events/service={quote(service, safe='')}/dt={dt}/hour={hour}/"
               f"{int(sequence_number):040d}-{event_id}.json.gz")
        lines = "".join(json.dumps(item, separators=(",", ":"), ensure_ascii=False) + "\n"
                        for item in sorted(found, key=lambda item: item["log_id"]))
        s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(lines.encode("utf-8"), compresslevel=6))
        keys.append(key)
    return keys


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out=Console(file=out, width=300, soft_wrap=True),
                    err=Console(file=err, width=300, soft_wrap=True))
    return code, out.getvalue(), err.getvalue()


def get(*argv, service="checkout", since=T0, until=T0 + timedelta(hours=3)):
    return run("archive", "get", "--endpoint", ENDPOINT, "--bucket", BUCKET, "--service", service,
               "--since", since.isoformat(), "--until", until.isoformat(), *argv)


def messages(out):
    return [json.loads(line)["message"] for line in out.splitlines()]


def test_the_window_holds_its_edges_to_the_millisecond_oldest_first(s3):
    since, until = T0 + timedelta(minutes=30), T0 + timedelta(hours=2, minutes=15)
    ms = timedelta(milliseconds=1)
    first = event(since, "first")
    archive_batch(s3, [event(since - ms, "before"), first, event(T0 + timedelta(hours=1), "middle"),
                       event(until, "last"), event(until + ms, "after")], 7, "e7")

    code, out, err = get("--json", since=since, until=until)

    assert code == 0, err
    assert messages(out) == ["first", "middle", "last"]
    assert json.loads(out.splitlines()[0]) == first


def test_events_of_one_hour_from_several_objects_come_in_the_apis_order(s3):
    same = T0 + timedelta(minutes=5)
    archive_batch(s3, [event(same, "second of the request", sequence=1), event(T0 + timedelta(minutes=9), "later")],
                  20, "b")
    archive_batch(s3, [event(same, "first of the request", sequence=0), event(T0 + timedelta(minutes=1), "early")],
                  10, "a")

    code, out, err = get("--json")

    assert code == 0, err
    assert messages(out) == ["early", "first of the request", "second of the request", "later"]


def test_a_log_id_archived_twice_is_answered_once(s3):
    twice = event(T0 + timedelta(minutes=5), "stored by two requests")
    archive_batch(s3, [twice], 10, "a")
    archive_batch(s3, [twice, event(T0 + timedelta(minutes=6), "other")], 30, "c")

    code, out, err = get("--json")

    assert code == 0, err
    assert messages(out) == ["stored by two requests", "other"]
    assert "2 events from 2 objects" in err


def test_a_service_name_with_a_slash_and_a_colon_reads_its_own_partitions_only(s3):
    moment = T0 + timedelta(minutes=1)
    keys = archive_batch(s3, [event(moment, "mine", service="team/pay:v2"), event(moment, "parent", service="team"),
                              event(moment, "sibling", service="team/pay")], 5, "x")

    code, out, err = get("--json", service="team/pay:v2")

    assert code == 0, err
    assert messages(out) == ["mine"]
    assert keys[0].startswith("events/service=team%2Fpay%3Av2/dt=2026-03-10/hour=09/")


def test_level_and_min_level_filter_as_the_api_does(s3):
    archive_batch(s3, [event(T0 + timedelta(minutes=n), level, level=level)
                       for n, level in enumerate(["DEBUG", "INFO", "WARN", "ERROR", "FATAL"])], 1, "l")

    assert messages(get("--json", "--min-level", "error")[1]) == ["ERROR", "FATAL"]
    assert messages(get("--json", "--level", "warning")[1]) == ["WARN"]
    code, _, err = get("--level", "LOUD")
    assert code == 2 and "--level 'LOUD' is not a level" in err


def test_the_read_stops_before_the_hour_that_would_pass_max_bytes_and_says_where_to_continue(s3):
    (first,) = archive_batch(s3, [event(T0 + timedelta(minutes=1), "hour 9")], 1, "a")
    archive_batch(s3, [event(T0 + timedelta(hours=1, minutes=1), f"hour 10 #{n}") for n in range(50)], 2, "b")
    archive_batch(s3, [event(T0 + timedelta(hours=2, minutes=1), "hour 11")], 3, "c")
    first_size = s3.head_object(Bucket=BUCKET, Key=first)["ContentLength"]

    code, out, err = get("--json", "--max-bytes", str(first_size + 100))

    assert code == 0, err
    assert messages(out) == ["hour 9"]
    assert f"1 event from 1 object ({first_size:,} bytes) in 1 hour of the archive" in err
    assert "stopped at --max-bytes" in err and "continue with --since 2026-03-10T10:00:00Z" in err


def test_a_window_longer_than_31_days_is_refused_before_anything_is_read(s3):
    code, out, err = get(until=T0 + timedelta(days=31, seconds=1))

    assert (code, out) == (2, "")
    assert "at most 31 days" in err


def test_lines_are_rendered_as_recent_does_log_content_cannot_drive_the_terminal(s3):
    archive_batch(s3, [event(T0 + timedelta(minutes=1), "boom \x1b[2J\nfake line", level="ERROR")], 1, "a")

    code, out, err = get()

    assert code == 0, err
    assert out.count("\n") == 1
    assert "\x1b" not in out
    assert "2026-03-10T09:01:00.000Z ERROR checkout boom \\x1b[2J\\nfake line request_id=r-1" in out
    assert "1 event from 1 object" in err


def test_the_bucket_comes_from_the_outputs_file(s3, tmp_path):
    archive_batch(s3, [event(T0 + timedelta(minutes=1), "found")], 1, "a")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"api_endpoint": {"value": ENDPOINT}, "archive_bucket": {"value": BUCKET}}))

    code, out, err = run("archive", "get", "--outputs", str(outputs), "--service", "checkout", "--json",
                         "--since", T0.isoformat(), "--until", (T0 + timedelta(hours=1)).isoformat())

    assert code == 0, err
    assert messages(out) == ["found"]


def test_without_a_bucket_a_deployed_stage_is_an_error_naming_the_options(s3):
    code, _, err = run("archive", "get", "--endpoint", ENDPOINT, "--service", "checkout", "--since", T0.isoformat(),
                       "--until", (T0 + timedelta(hours=1)).isoformat())

    assert code == 2 and "no archive bucket: pass --bucket NAME, or --outputs FILE" in err


def test_a_loopback_endpoint_reads_the_local_stacks_bucket_and_never_aws_s3(s3):
    local_bucket = json.loads((ROOT / "local" / "outputs.json").read_text())["archive_bucket"]["value"]
    argv = ("archive", "get", "--endpoint", "http://127.0.0.1:8000/", "--service", "checkout",
            "--since", T0.isoformat(), "--until", (T0 + timedelta(hours=1)).isoformat())

    code, _, err = run(*argv)
    assert code == 2 and "the local stack's archive is on its emulator" in err

    code, _, err = run(*argv, "--s3-endpoint", "http://127.0.0.1:1")
    assert code == 2 and f"cannot list s3://{local_bucket}/events/service=checkout/dt=2026-03-10/hour=09/" in err


def test_an_object_that_is_not_gzip_ndjson_is_one_error_line(s3):
    s3.put_object(Bucket=BUCKET, Key="events/service=checkout/dt=2026-03-10/hour=09/x.json.gz", Body=b"plain")

    code, _, err = get()

    assert code == 2
    assert err.strip() == ("slog: error: s3://simple-log-service-test-archive/events/service=checkout/dt=2026-03-10/"
                           "hour=09/x.json.gz is not an archive object (gzip NDJSON of events)")
