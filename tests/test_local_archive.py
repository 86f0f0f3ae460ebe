"""The local stack archives: its poller hands the stream's INSERT records to the ``archive`` function as the event
source mapping does, and what ``make run`` archives reads back with ``slog archive get``."""
import io
import json
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws
from rich.console import Console
from slog import cli

from devtools.local_archive import StreamPoller
from devtools.local_stack import running_stack
from devtools.table import create_table
from tests.conftest import ROOT, free_port

TABLE = "archive-poller-test"


@pytest.fixture
def stream():
    """A moto table with its stream (new images), and a poller of it whose function records what it is handed
    and fails while ``failures`` is positive."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(dynamodb, TABLE, stream=True)
        calls, dead, failures = [], [], []

        def function(event, context):
            calls.append(event)
            if failures:
                failures.pop()
                raise RuntimeError("the function failed")

        # botocore would address streams by the ARN's account, a host name moto's in-process mock does not know.
        streams = boto3.client("dynamodbstreams", region_name="us-east-1",
                               config=Config(account_id_endpoint_mode="disabled"))
        poller = StreamPoller(dynamodb, streams, TABLE, function, dead.append)
        yield dynamodb, poller, calls, dead, failures


def put(dynamodb, n):
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": f"p{n}"}, "sk": {"S": "s"}, "payload": {"B": b"\x00\xff"}})


def test_the_poller_hands_insert_records_as_lambda_does_and_reads_on_from_where_it_stopped(stream):
    dynamodb, poller, calls, dead, _ = stream
    put(dynamodb, 1)
    put(dynamodb, 2)
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "p1"}, "sk": {"S": "s"}})

    assert poller.poll() == 2
    put(dynamodb, 3)
    assert poller.poll() == 1
    assert poller.poll() == 0

    assert [[r["dynamodb"]["Keys"]["pk"]["S"] for r in call["Records"]] for call in calls] == [["p1", "p2"], ["p3"]]
    record = calls[0]["Records"][0]
    assert record["eventName"] == "INSERT" and record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"] == dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    assert record["dynamodb"]["NewImage"]["payload"] == {"B": "AP8="}  # base64 text, as in Lambda's JSON
    assert record["dynamodb"]["StreamViewType"] == "NEW_IMAGE"
    json.dumps(calls)  # what Lambda hands a function is JSON
    assert dead == []


def test_a_batch_that_keeps_failing_goes_to_the_dead_letter_queue_and_the_poller_moves_on(stream):
    dynamodb, poller, calls, dead, failures = stream
    put(dynamodb, 1)
    failures.extend([True] * 100)

    assert poller.poll() == 1
    failures.clear()
    put(dynamodb, 2)
    assert poller.poll() == 1

    (message,) = dead
    assert message["DDBStreamBatchInfo"]["batchSize"] == 1
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in calls[-1]["Records"]] == ["p2"]


@pytest.mark.slow
def test_events_sent_to_the_local_stack_are_archived_once_and_read_back_with_slog(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "SLOG_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(ROOT / "local" / "aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    services = [f"archive-{uuid.uuid4().hex[:8]}", f"team/archive:{uuid.uuid4().hex[:8]}"]
    lines = tmp_path / "events.jsonl"
    lines.write_text("".join(json.dumps({"service_name": services[n % 2], "level": ["INFO", "ERROR"][n % 3 == 0],
                                         "message": f"event {n} \u00e9\u6f22"}) + "\n" for n in range(60)))
    dynamodb_port = free_port()
    printed = tmp_path / "make-run.log"
    with printed.open("w") as log, running_stack(free_port(), dynamodb_port, log=log) as base:
        code, _, err = slog("send", "--endpoint", base, "--file", str(lines))
        assert code == 0, err
        stored = {service: slog_json("recent", "--endpoint", base, "--service", service, "--limit", "100")[0]["logs"]
                  for service in services}

        def archived(service, *filters):
            return slog_json("archive", "get", "--endpoint", base, "--s3-endpoint", f"http://127.0.0.1:{dynamodb_port}",
                             "--service", service, "--since", "1h", *filters, lines=True)

        deadline = time.monotonic() + 60
        while [len(archived(service)[0]) for service in services] != [30, 30]:
            assert time.monotonic() < deadline, "the events were not archived within 60 s"
            time.sleep(1)
        for service in services:
            events, err = archived(service)
            assert events == sorted(stored[service], key=lambda event: event["log_id"])
            assert "30 events from" in err
        errors, _ = archived(services[0], "--min-level", "error")
        assert {event["level"] for event in errors} == {"ERROR"}
        assert len(errors) == len([n for n in range(0, 60, 2) if n % 3 == 0])
    assert "Archive: s3://simple-log-service-local-archive in the emulator" in printed.read_text()


def slog(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out=Console(file=out, width=300, soft_wrap=True),
                    err=Console(file=err, width=300, soft_wrap=True))
    return code, out.getvalue(), err.getvalue()


def slog_json(*argv, lines=False):
    code, out, err = slog(*argv, "--json")
    assert code == 0, err
    return ([json.loads(line) for line in out.splitlines()] if lines else json.loads(out)), err
