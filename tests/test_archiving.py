"""The archive: events written through the repository, the table's stream (moto), Lambda's delivery
(``devtools.stream_delivery``) and the archive function into S3 (moto), then read back with DuckDB over local
copies of the objects, in the layout Athena reads (Hive partitions of gzip NDJSON)."""
import gzip
import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from app import archive
from chalicelib import archiving, aws, service
from chalicelib import events as ev
from chalicelib.repository import events_of_image
from devtools import archive_sql, stream_delivery
from devtools.table import create_table
from tests.conftest import TABLE_NAME

BUCKET = "simple-log-service-test-archive"
WRITER = "arn:aws:sts::123456789012:assumed-role/writer/session-1"
NOW = int(datetime(2030, 1, 2, 1, 30, tzinfo=UTC).timestamp() * 1000)
MINUTE = 60_000
# A service name with the characters a partition path must quote.
ODD_SERVICE = "team/payments:v2"


def iso(ms):
    return ev.format_time(ms)


def raw(service_name, offset_minutes, message, level="INFO", **fields):
    return {"service_name": service_name, "level": level, "timestamp": iso(NOW - offset_minutes * MINUTE),
            "message": message, **fields}


def requests():
    """Requests of several services over four hours (two UTC dates): packed events, events with an event_id
    (two at one timestamp: an identity guard), events the server stamps (an event id claim)."""
    checkout = [raw("checkout", 200 - 8 * number, f"order {number} placed", level=("INFO", "WARN", "ERROR")[number % 3],
                    metadata={"request_id": f"req-{number}", "amount": number * 1.5})
                for number in range(24)]
    odd = [raw(ODD_SERVICE, 100 - 20 * number, f"paiement {number} reçu ✓", event_id=f"pay-{number}",
               metadata={"currency": "€"}) for number in range(5)]
    odd.append(raw(ODD_SERVICE, 100, "same time, another event", event_id="pay-twin"))
    stamped = [{"service_name": "auth", "level": "DEBUG", "message": f"login {number}", "event_id": f"login-{number}"}
               for number in range(3)]
    auth = [raw("auth", 30 - number, f"token refreshed {number}", log_type="access") for number in range(4)]
    return [checkout, odd, stamped, auth]


def write(requests_):
    """Store the requests through the repository; the log ids stored."""
    log_ids = []
    for batch in requests_:
        events = [ev.normalize_event(body, NOW, 7) for body in batch]
        outcomes = service.repository().put_events(events, WRITER, NOW)
        assert all(outcome.stored for outcome in outcomes)
        log_ids += [outcome.log_id for outcome in outcomes]
    return log_ids


@pytest.fixture
def table(test_stage_env, monkeypatch):
    """A fresh moto table with its stream (new images), and the archive bucket."""
    monkeypatch.setenv("ARCHIVE_BUCKET", BUCKET)
    with mock_aws():
        service.reset()
        client = boto3.client("dynamodb")
        create_table(client, TABLE_NAME, stream=True)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield client
    service.reset()


def stream_records(client):
    """Every record of the table's stream so far, in stream order, as Lambda hands them."""
    arn = client.describe_table(TableName=TABLE_NAME)["Table"]["LatestStreamArn"]
    # botocore names an account endpoint (<account>.streams-ddb.<region>...) that moto does not answer.
    streams = boto3.client("dynamodbstreams", endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com")
    return stream_delivery.stream_records(streams, arn)


def deliver_all(records, handler=archive, size=5, retries=stream_delivery.MAXIMUM_RETRY_ATTEMPTS):
    """Deliver ``records`` in batches of ``size``, as the mapping would; the dead-letter messages."""
    dead = []
    for start in range(0, len(records), size):
        stream_delivery.deliver(handler, records[start:start + size], dead.append, retries=retries)
    return dead


def archived_rows(tmp_path):
    """The archive's events through DuckDB over local copies of its objects: ``[(event, service, dt, hour)]``."""
    archive_sql.download(boto3.client("s3"), BUCKET, tmp_path)
    return archive_sql.rows(tmp_path)


def api_events():
    """Every event ``GET /logs/recent`` answers over the whole window, page after page."""
    params, found = {"since": [iso(NOW - 6 * 60 * MINUTE)], "until": [iso(NOW + 1)], "limit": ["7"]}, []
    while True:
        page = service.recent(params, now=NOW)
        found += [json.loads(text) for text in page.log_texts]
        if page.next_cursor is None:
            return found
        params = {"cursor": [page.next_cursor]}


def by_log_id(events):
    return sorted(events, key=lambda event: event["log_id"])


def assert_archive_holds_exactly(tmp_path, expected):
    rows = archived_rows(tmp_path)
    assert by_log_id(event for event, *_ in rows) == by_log_id(expected)
    return rows


# --- the round trip --------------------------------------------------------------------------------------------

def test_every_stored_event_is_archived_once_with_every_field_the_api_answers(table, tmp_path):
    log_ids = write(requests())
    records = stream_records(table)

    assert deliver_all(records) == []

    answered = api_events()
    assert sorted(event["log_id"] for event in answered) == sorted(log_ids)
    rows = assert_archive_holds_exactly(tmp_path, answered)
    for event, service_partition, dt, hour in rows:
        assert (service_partition, dt, hour) == archiving.partition(event)
        assert event["timestamp"].startswith(f"{dt}T{hour}:")
    assert {(service_name, dt) for _, service_name, dt, _ in rows} >= {("checkout", "2030-01-01"),
                                                                       ("checkout", "2030-01-02")}


def test_guards_and_claims_are_in_the_stream_but_not_in_the_archive(table, tmp_path):
    write(requests())
    records = stream_records(table)
    images = [record["dynamodb"]["NewImage"] for record in records]
    assert any("guard_of" in image for image in images) and any(image["sk"]["S"] == "E" for image in images)

    assert deliver_all(records) == []

    assert len(archived_rows(tmp_path)) == len(api_events())


def test_a_service_name_with_slash_and_colon_is_one_quoted_partition(table, tmp_path):
    write(requests())
    deliver_all(stream_records(table))

    keys = [entry["Key"] for entry in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    odd = [key for key in keys if "payments" in key]
    assert odd and all(key.startswith("events/service=team%2Fpayments%3Av2/dt=") for key in odd)
    assert {event["service_name"] for event, *_ in archived_rows(tmp_path) if "payments" in event["service_name"]} \
        == {ODD_SERVICE}


def test_an_object_is_gzip_ndjson_sorted_by_log_id_named_after_its_first_record(table):
    write(requests())
    records = stream_records(table)

    deliver_all(records, size=len(records))

    s3 = boto3.client("s3")
    keys = [entry["Key"] for entry in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    first = records[0]["dynamodb"]["SequenceNumber"].zfill(40) + "-" + records[0]["eventID"]
    assert any(key.endswith(f"/{first}.json.gz") for key in keys)
    for key in keys:
        lines = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()).decode("utf-8").splitlines()
        log_ids = [json.loads(line)["log_id"] for line in lines]
        assert log_ids == sorted(log_ids)
        assert all(line == json.dumps(json.loads(line), ensure_ascii=False, separators=(",", ":")) for line in lines)


def test_removes_and_modifies_are_not_archived(table, tmp_path):
    write(requests())
    records = stream_records(table)
    deliver_all(records)
    before = archived_rows(tmp_path / "before")
    item = records[0]["dynamodb"]["Keys"]
    table.delete_item(TableName=TABLE_NAME, Key={name: {"S": value["S"]} for name, value in item.items()})
    removes = stream_records(table)[len(records):]
    assert [record["eventName"] for record in removes] == ["REMOVE"]
    # The service never updates an item; were one updated, its new image is no new event.
    modify = {**records[-1], "eventName": "MODIFY",
              "dynamodb": {**records[-1]["dynamodb"], "SequenceNumber": "9" * 30}}

    assert deliver_all([*removes, modify]) == []

    assert by_log_id(event for event, *_ in archived_rows(tmp_path / "after")) == by_log_id(
        event for event, *_ in before)


def test_the_archive_logs_what_it_wrote_in_one_json_line(table, caplog):
    write(requests()[3:])
    records = stream_records(table)

    with caplog.at_level("INFO", logger="chalicelib.archiving"):
        archive({"Records": records}, None)

    (line,) = [entry.getMessage() for entry in caplog.records if entry.name == "chalicelib.archiving"]
    assert json.loads(line)["archived"]["records"] == len(records)
    assert json.loads(line)["archived"]["events"] == 4
    assert json.loads(line)["archived"]["objects"] == 1
    assert json.loads(line)["archived"]["bytes"] > 0


def test_the_archive_function_needs_its_bucket(table, monkeypatch):
    write(requests()[3:])
    monkeypatch.delenv("ARCHIVE_BUCKET")

    with pytest.raises(Exception, match="ARCHIVE_BUCKET"):
        archive({"Records": stream_records(table)}, None)


# --- faults ----------------------------------------------------------------------------------------------------

class FailingPuts:
    """Within the block, the archive's S3 client raises on the PutObject calls ``schedule`` names: for each
    handler call in turn, fail after that many objects were written (None: let the call succeed)."""

    def __init__(self, schedule):
        self.schedule = list(schedule)
        self.left = None
        self.failures = 0

    def __enter__(self):
        aws.client("s3").meta.events.register("before-call.s3.PutObject", self._before_put, unique_id="faults")
        return self

    def __exit__(self, *_):
        aws.client("s3").meta.events.unregister("before-call.s3.PutObject", unique_id="faults")

    def handler(self, event, context):
        self.left = self.schedule.pop(0) if self.schedule else None
        return archive(event, context)

    def _before_put(self, **_):
        if self.left is not None:
            if self.left == 0:
                self.failures += 1
                raise RuntimeError("injected: the function dies here")
            self.left -= 1


def test_a_batch_that_fails_once_is_retried_and_archived_once(table, tmp_path):
    write(requests())
    records = stream_records(table)
    with FailingPuts([0]) as faults:
        assert deliver_all(records, handler=faults.handler) == []

    assert faults.failures == 1
    assert_archive_holds_exactly(tmp_path, api_events())


def test_a_handler_that_dies_after_writing_objects_leaves_no_event_twice(table, tmp_path):
    write(requests())
    records = stream_records(table)
    with FailingPuts([2, 1]) as faults:
        assert deliver_all(records, handler=faults.handler, size=len(records)) == []

    assert faults.failures == 2
    assert_archive_holds_exactly(tmp_path, api_events())


def test_a_batch_that_always_fails_goes_to_the_dead_letter_queue_and_the_rest_is_archived(table, tmp_path):
    write(requests())
    records = stream_records(table)
    poison = next(index for index, record in enumerate(records) if "pack" in record["dynamodb"]["NewImage"])
    lost = {event["log_id"] for event in events_of_image(records[poison]["dynamodb"]["NewImage"])}
    records[poison]["dynamodb"]["NewImage"]["pack"] = {"B": "bm90IHpsaWI="}  # undecodable: fails every attempt

    dead = deliver_all(records, size=8)

    (message,) = dead
    info = message["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == records[poison]["dynamodb"]["SequenceNumber"]
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    expected = [event for event in api_events() if event["log_id"] not in lost]
    assert_archive_holds_exactly(tmp_path, expected)


# --- the naming argument, over failure schedules --------------------------------------------------------------

@pytest.fixture
def small_stream(table):
    """Records of two services over two hours, interleaved, and the events they hold."""
    for number in range(6):
        write([[raw(("checkout", "auth")[number % 2], 40 + 15 * (number % 3) - number, f"line {number}",
                    level=("INFO", "ERROR")[number % 2])]])
    return stream_records(table), api_events()


class InstantBucket:
    """Within the block, the archive's S3 client answers every PutObject at once and keeps the objects here: the
    schedules below make hundreds of deliveries, and an emulator would take minutes."""

    def __init__(self):
        self.objects = {}

    def __enter__(self):
        # Last: after ``FailingPuts``, which decides first whether this call dies.
        aws.client("s3").meta.events.register_last("before-call.s3.PutObject", self._put, unique_id="instant")
        return self

    def __exit__(self, *_):
        aws.client("s3").meta.events.unregister("before-call.s3.PutObject", unique_id="instant")

    def _put(self, params, **_):
        self.objects[params["context"]["input_params"]["Key"]] = params["body"].getvalue()
        return AWSResponse(params["url"], 200, {}, None), {}

    def log_ids(self):
        return [json.loads(line)["log_id"] for body in self.objects.values()
                for line in gzip.decompress(body).splitlines()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedule=st.lists(st.one_of(st.none(), st.integers(0, 3)), max_size=8), size=st.integers(2, 6))
def test_any_schedule_of_failed_attempts_leaves_each_event_once(small_stream, schedule, size):
    records, events = small_stream

    with InstantBucket() as bucket, FailingPuts(schedule) as faults:
        dead = deliver_all(records, handler=faults.handler, size=size, retries=len(schedule) + 1)

    assert dead == []
    assert sorted(bucket.log_ids()) == sorted(event["log_id"] for event in events)


# --- delivery semantics ----------------------------------------------------------------------------------------

def records_numbered(count):
    return [{"eventID": f"e{number}", "eventName": "INSERT", "dynamodb": {"SequenceNumber": str(100 + number)}}
            for number in range(count)]


def test_a_failed_batch_is_split_in_two_and_each_half_delivered_in_order():
    calls, failures = [], iter([True])

    def handler(event, context):
        calls.append([record["eventID"] for record in event["Records"]])
        if next(failures, False):
            raise RuntimeError("once")

    assert stream_delivery.deliver(handler, records_numbered(5), dead_letter=[].append) == 0
    assert calls == [["e0", "e1", "e2", "e3", "e4"], ["e0", "e1"], ["e2", "e3", "e4"]]


def test_a_record_that_always_fails_is_dead_lettered_after_the_retries_and_the_rest_delivered():
    delivered, dead = [], []

    def handler(event, context):
        ids = [record["eventID"] for record in event["Records"]]
        if "e2" in ids:
            raise RuntimeError("poison")
        delivered.extend(ids)

    assert stream_delivery.deliver(handler, records_numbered(4), dead.append, shard_id="shard-1",
                                   stream_arn="arn:stream") == 1
    assert delivered == ["e0", "e1", "e3"]
    assert [message["DDBStreamBatchInfo"] for message in dead] == [{
        "shardId": "shard-1", "startSequenceNumber": "102", "endSequenceNumber": "102", "batchSize": 1,
        "streamArn": "arn:stream"}]
    assert dead[0]["requestContext"]["approximateInvokeCount"] == stream_delivery.MAXIMUM_RETRY_ATTEMPTS + 1


def test_batches_are_cut_at_the_batch_size_and_at_lambdas_payload_limit():
    small = records_numbered(2500)
    large = [{**record, "dynamodb": {**record["dynamodb"], "NewImage": {"pack": {"B": "x" * 1_000_000}}}}
             for record in records_numbered(13)]

    assert [len(batch) for batch in stream_delivery.batches(small)] == [1000, 1000, 500]
    assert [len(batch) for batch in stream_delivery.batches(large)] == [6, 6, 1]
    assert [record for batch in stream_delivery.batches(large) for record in batch] == large


def test_a_record_from_the_streams_api_is_handed_over_as_lambda_hands_it():
    created = datetime(2030, 1, 2, tzinfo=UTC)
    record = {"eventID": "e", "eventName": "INSERT", "dynamodb": {
        "ApproximateCreationDateTime": created, "SequenceNumber": "1", "Keys": {"pk": {"S": "a"}},
        "NewImage": {"pk": {"S": "a"}, "pack": {"B": b"\x00\xff"}, "m": {"M": {"l": {"L": [{"B": b"x"}]}}},
                     "bs": {"BS": [b"y"]}, "n": {"N": "1"}}}}

    made = stream_delivery.lambda_record(record, "arn:stream")

    assert made["eventSourceARN"] == "arn:stream"
    assert made["dynamodb"]["ApproximateCreationDateTime"] == created.timestamp()
    assert made["dynamodb"]["NewImage"] == {"pk": {"S": "a"}, "pack": {"B": "AP8="},
                                            "m": {"M": {"l": {"L": [{"B": "eA=="}]}}}, "bs": {"BS": ["eQ=="]},
                                            "n": {"N": "1"}}
    json.dumps(made)
