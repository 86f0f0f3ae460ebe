"""LogRepository contract suite, against moto's DynamoDB."""
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from bench.sizes import item_size
from chalicelib import aws, ids, service
from chalicelib import events as ev
from chalicelib.errors import StorageUnavailable
from chalicelib.query import RecentQuery
from chalicelib.repository import MAX_ITEM_BYTES, READ_UNITS, LogRepository
from tests.conftest import TABLE_NAME

NOW = 1_795_000_000_000  # a fixed clock: the repository takes "now" as an argument
RETENTION = 7
SHARDS = 4
WRITER = "arn:aws:sts::123456789012:assumed-role/writer/session-1"
OTHER_SESSION = "arn:aws:sts::123456789012:assumed-role/writer/session-2"
OTHER_ROLE = "arn:aws:sts::123456789012:assumed-role/another-writer/session-1"


def make_event(service="billing", message="m", timestamp_ms=NOW, **fields):
    values = {"level": "INFO", "log_type": "application", "metadata": None, "event_id": None}
    values.update(fields)
    return ev.LogEvent(service_name=service, message=message, timestamp_ms=timestamp_ms, **values)


def stamped(timestamp_ms=NOW, **fields):
    """An event that came without a timestamp: the server stamped it with its time of receipt."""
    return make_event(timestamp_ms=timestamp_ms, server_stamped=True, **fields)


def query(limit=100, service_name=None, level=None, log_type=None, since_ms=NOW - ev.DAY_MS, until_ms=NOW + 1,
          min_level=None):
    return RecentQuery(limit, service_name, level, log_type, since_ms, until_ms, None, (None,) * 7, min_level)


class Recorder:
    """Counts DynamoDB calls and items read, at the botocore level."""

    def __init__(self, client):
        self.calls = []
        self.scanned = 0
        self.units = 0
        client.meta.events.register("after-call.dynamodb", self._after)
        client.meta.events.register("before-call.dynamodb.Scan", self._no_scan)
        # Read units are counted from storage's answers, whether or not the service asks for them.
        client.meta.events.register("before-parameter-build.dynamodb.Query",
                                    lambda params, **_: params.setdefault("ReturnConsumedCapacity", "TOTAL"))

    def _after(self, event_name, parsed, **kwargs):
        self.calls.append(event_name.rsplit(".", 1)[-1])
        self.scanned += parsed.get("ScannedCount", 0)
        if event_name.endswith(".Query"):
            self.units += parsed.get("ConsumedCapacity", {}).get("CapacityUnits", 0)
        if event_name.endswith(".BatchGetItem") and "ConsumedCapacity" in parsed:
            # A cursor's packs that reach below where it stopped are read by key (writes read keys unmetered).
            self.scanned += sum(len(items) for items in parsed.get("Responses", {}).values())
            self.units += sum(use.get("CapacityUnits", 0) for use in parsed["ConsumedCapacity"])

    @staticmethod
    def _no_scan(**kwargs):
        raise AssertionError("the service must never Scan")


@pytest.fixture
def recorder(dynamodb):
    return Recorder(dynamodb)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture(params=["packed", "items"])
def repo(request, dynamodb, recorder, sleeps):
    """Every behaviour holds in both layouts: packs, and the one item per event written before them."""
    return LogRepository(dynamodb, TABLE_NAME, RETENTION, SHARDS, SHARDS, max_attempts=4, sleep=sleeps.append,
                         packed=request.param == "packed")


@pytest.fixture
def item_repo(dynamodb, recorder, sleeps):
    """The one-item-per-event layout, for tests that look at its items or its calls."""
    return LogRepository(dynamodb, TABLE_NAME, RETENTION, SHARDS, SHARDS, max_attempts=4, sleep=sleeps.append,
                         packed=False)


def store(repo, events, ingested_by=WRITER):
    outcomes = repo.put_events(events, ingested_by, NOW)
    assert all(outcome.stored for outcome in outcomes if outcome is not None)
    return [outcome.log_id for outcome in outcomes]


def read_all(repo, q, now_ms=NOW):
    seen, after, pages = [], None, 0
    while True:
        page = repo.recent(q, now_ms, after=after)
        seen.extend(page.events)
        pages += 1
        if page.next_after is None:
            return seen, pages
        after = page.next_after


def raw_items():
    """Every item in the table, whatever its kind, read with Scan: a test's look at storage, not the service's
    (on a client of its own: the recorder refuses a Scan on the service's)."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    items, request = [], {"TableName": TABLE_NAME}
    while True:
        page = client.scan(**request)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def all_items(client):
    items = []
    for shard in range(SHARDS):
        for service_name in ("billing", "auth", "search"):
            response = client.query(
                TableName=TABLE_NAME, KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": f"S#{service_name}#{shard}"}})
            items.extend(response["Items"])
    return items


# --- writes --------------------------------------------------------------------

def test_a_stored_event_reads_back_with_every_field(repo):
    (log_id,) = store(repo, [make_event(message="hello", metadata={"k": [1, 2.5]}, event_id="e-1",
                                        level="WARN", log_type="audit")])
    (stored,) = repo.recent(query(), NOW).events
    assert stored == {
        "log_id": log_id, "service_name": "billing", "level": "WARN", "log_type": "audit", "message": "hello",
        "timestamp": ev.format_time(NOW), "metadata": {"k": [1, 2.5]}, "event_id": "e-1",
        "ingested_at": ev.format_time(NOW), "ingested_by": WRITER,
    }


def test_put_events_returns_the_stored_event_for_each_position(repo):
    outcomes = repo.put_events([make_event(message="a"), None, make_event(message="c")], None, NOW)
    assert outcomes[1] is None
    assert [o.event["message"] for o in (outcomes[0], outcomes[2])] == ["a", "c"]
    assert outcomes[0].event["ingested_by"] is None


def test_events_in_the_same_millisecond_never_overwrite_each_other(repo):
    log_ids = store(repo, [make_event(message=str(n)) for n in range(30)])
    assert len(set(log_ids)) == 30
    assert len(repo.recent(query(), NOW).events) == 30


@pytest.mark.parametrize("with_event_id", [False, True])
def test_events_of_one_request_at_one_timestamp_keep_their_order(repo, with_event_id):
    store(repo, [make_event(message=str(n), event_id=f"e-{n}" if with_event_id else None) for n in range(10)])
    assert [e["message"] for e in repo.recent(query(), NOW).events] == [str(n) for n in reversed(range(10))]


@pytest.mark.parametrize("with_event_id", [False, True])
def test_events_within_one_millisecond_sort_by_the_nanoseconds_the_sender_gave(repo, with_event_id):
    nanos = [900_000, 5, 450_000, 0, 999_999]
    store(repo, [make_event(message=str(n), sub_ms_ns=n, event_id=f"e-{n}" if with_event_id else None)
                 for n in nanos])
    assert [e["message"] for e in repo.recent(query(), NOW).events] == [str(n) for n in sorted(nanos, reverse=True)]


def test_a_resend_of_an_event_with_sub_millisecond_time_is_recognised(repo, dynamodb):
    batch = [make_event(message=str(n), sub_ms_ns=n * 1000, event_id=f"e-{n}") for n in range(5)]
    first = store(repo, batch)
    again = repo.put_events(batch, WRITER, NOW + 1)
    assert [o.log_id for o in again] == first and all(o.repeat for o in again)
    assert len(all_items(dynamodb)) == 5


def test_resending_an_event_with_its_timestamp_writes_nothing_and_answers_what_this_caller_sent(repo, dynamodb,
                                                                                                    recorder):
    (first,) = store(repo, [make_event(event_id="order-1", message="first")], ingested_by=WRITER)
    calls_before = len(recorder.calls)

    (outcome,) = repo.put_events([make_event(event_id="order-1", message="first")], OTHER_SESSION, NOW + 50)

    assert outcome.log_id == first and outcome.stored and outcome.repeat
    assert outcome.event["ingested_by"] == OTHER_SESSION and outcome.event["ingested_at"] == ev.format_time(NOW + 50)
    assert recorder.calls[calls_before:] == ["BatchGetItem"]
    (stored,) = repo.recent(query(), NOW + 50).events
    assert (stored["message"], stored["ingested_by"], stored["ingested_at"]) == ("first", WRITER, ev.format_time(NOW))
    assert len(all_items(dynamodb)) == 1


@pytest.mark.parametrize("make", [make_event, lambda **fields: stamped(**fields)])
@pytest.mark.parametrize("change", [{"message": "ERROR PAYMENT DB DOWN"}, {"level": "ERROR"},
                                    {"log_type": "audit"}, {"metadata": {"k": 1}}])
def test_a_resend_with_other_content_is_a_conflict_that_stores_and_changes_nothing(repo, dynamodb, recorder,
                                                                                  make, change):
    (first,) = store(repo, [make(event_id="E", message="all good")], ingested_by=WRITER)
    calls_before = len(recorder.calls)

    (outcome,) = repo.put_events([make(event_id="E", **{"message": "all good", **change})], OTHER_SESSION, NOW)

    assert outcome.conflict and not outcome.stored and not outcome.repeat and outcome.event is None
    # An event without a timestamp puts its claim (which finds the first send's); nothing else is written.
    writes = [call for call in recorder.calls[calls_before:] if call in ("BatchWriteItem", "PutItem")]
    assert writes == ([] if make is make_event else ["PutItem"])
    (stored,) = repo.recent(query(), NOW).events
    assert (stored["log_id"], stored["message"], stored["level"]) == (first, "all good", "INFO")
    assert len(all_items(dynamodb)) == 1


def test_a_resend_is_compared_as_sent_an_empty_metadata_object_being_none(repo):
    (first,) = store(repo, [make_event(event_id="E", metadata={})])
    (outcome,) = repo.put_events([make_event(event_id="E")], WRITER, NOW)
    assert outcome.repeat and outcome.log_id == first
    (other,) = repo.put_events([make_event(event_id="E", metadata={"a": True})], WRITER, NOW)
    assert other.conflict


def test_a_resend_downloads_only_the_keys_and_digest_of_what_it_sent(repo, dynamodb):
    store(repo, [make_event(event_id="big", message="x" * 200_000)])
    sent = []
    dynamodb.meta.events.register("before-parameter-build.dynamodb.BatchGetItem",
                                  lambda params, **_: sent.append(params))

    (outcome,) = repo.put_events([make_event(event_id="big", message="x" * 200_000)], WRITER, NOW + 1)

    assert outcome.repeat
    (request,) = [params["RequestItems"][TABLE_NAME] for params in sent]
    assert set(request["ExpressionAttributeNames"].values()) == {"pk", "sk", "digest", "guard_of"}


@pytest.mark.parametrize("first_batch, resend", [
    (["A", "B"], ["B"]),
    (["A", "B", "C"], ["C", "A"]),
    (["plain", "A"], ["A"]),
    (["A"], ["plain", "B", "A"]),
])
def test_events_sharing_a_timestamp_are_recognised_whatever_batch_they_are_resent_in(repo, dynamodb, first_batch,
                                                                                    resend):
    def batch(names):
        return [make_event(message=name, event_id=None if name == "plain" else name) for name in names]

    first = dict(zip(first_batch, store(repo, batch(first_batch)), strict=True))
    again = repo.put_events(batch(resend), WRITER, NOW + 1)

    for name, outcome in zip(resend, again, strict=True):
        if name in first and name != "plain":
            assert outcome.repeat and outcome.log_id == first[name], name
    stored = [e["message"] for e in repo.recent(query(), NOW + 1).events]
    named = {name for name in first_batch + resend if name != "plain"}
    assert sorted(stored) == sorted([*named, *["plain"] * (first_batch + resend).count("plain")])
    service_view = [e["message"] for e in repo.recent(query(service_name="billing"), NOW + 1).events]
    assert sorted(service_view) == sorted(stored), "a guard was read as an event"


@pytest.mark.parametrize("make", [make_event, lambda **fields: stamped(**fields)])
def test_two_first_sends_with_other_content_that_race_store_exactly_one_of_them(dynamodb, make):
    repos = [LogRepository(dynamodb, TABLE_NAME, RETENTION, SHARDS, SHARDS, packed=False) for _ in range(4)]
    start = threading.Barrier(len(repos))

    def send(pair):
        number, repository = pair
        start.wait()
        return repository.put_events([make(event_id="race", message=f"sender {number}")], WRITER, NOW)[0]

    with ThreadPoolExecutor(len(repos)) as pool:
        outcomes = list(pool.map(send, enumerate(repos)))

    (stored,) = repos[0].recent(query(), NOW).events
    winners = [outcome for outcome in outcomes if outcome.stored]
    assert len(winners) == 1 and winners[0].event["message"] == stored["message"]
    assert sum(outcome.conflict for outcome in outcomes) == 3


def test_resending_an_event_without_a_timestamp_answers_the_first_log_id_and_time(repo, dynamodb):
    (first,) = store(repo, [stamped(event_id="order-1", message="first")])

    (outcome,) = repo.put_events([stamped(event_id="order-1", message="first", timestamp_ms=NOW + 9_000)],
                                 WRITER, NOW + 9_000)

    assert outcome.log_id == first and outcome.repeat
    assert outcome.event["message"] == "first" and outcome.event["timestamp"] == ev.format_time(NOW)
    assert [e["message"] for e in repo.recent(query(until_ms=NOW + 10_000), NOW + 9_000).events] == ["first"]
    assert len(all_items(dynamodb)) == 1


def test_the_same_event_id_at_another_timestamp_is_another_event(repo):
    log_ids = store(repo, [make_event(event_id="x"), make_event(event_id="x", timestamp_ms=NOW - 5)])
    assert log_ids[0] != log_ids[1]
    assert len(repo.recent(query(), NOW).events) == 2


@pytest.mark.parametrize("make", [make_event, lambda **fields: stamped(**fields)])
def test_another_caller_role_with_the_same_event_id_stores_its_own_event(repo, make):
    (mine,) = store(repo, [make(event_id="inv-42", message="mine")], ingested_by=WRITER)
    (theirs,) = store(repo, [make(event_id="inv-42", message="theirs")], ingested_by=OTHER_ROLE)
    (again,) = store(repo, [make(event_id="inv-42", message="mine")], ingested_by=OTHER_SESSION)

    assert mine != theirs and again == mine
    assert sorted(e["message"] for e in repo.recent(query(), NOW).events) == ["mine", "theirs"]


def test_a_resend_after_the_event_expired_stores_a_new_event_and_nothing_old_comes_back(repo, dynamodb):
    (first,) = store(repo, [stamped(event_id="late", message="old")])
    later = NOW + RETENTION * ev.DAY_MS + 1000

    (outcome,) = repo.put_events([stamped(event_id="late", message="new", timestamp_ms=later)], WRITER, later)

    assert outcome.stored and not outcome.repeat and outcome.log_id != first
    window = query(since_ms=later - ev.DAY_MS, until_ms=later + 1)
    assert [e["message"] for e in repo.recent(window, later).events] == ["new"]
    assert all(int(item["expires_at"]["N"]) > later // 1000 for item in raw_items()
               if item["pk"]["S"].startswith("E#"))


def test_a_resend_rewrites_no_stored_bytes_however_large_the_event(repo, dynamodb, recorder):
    store(repo, [stamped(event_id="big", message="x" * 200_000), make_event(event_id="big2", message="y" * 200_000)])
    calls_before = len(recorder.calls)

    resends = [stamped(event_id="big", message="x" * 200_000), make_event(event_id="big2", message="y" * 200_000)]
    outcomes = repo.put_events(resends, WRITER, NOW + 1)

    assert all(outcome.repeat for outcome in outcomes)
    # The one PutItem is the claim of the event without a timestamp, which finds the first send's claim.
    assert "BatchWriteItem" not in recorder.calls[calls_before:] and recorder.calls[calls_before:].count("PutItem") == 1
    assert sorted(len(e["message"]) for e in repo.recent(query(), NOW + 1).events) == [200_000, 200_000]


@pytest.mark.parametrize("make", [make_event, lambda **fields: stamped(**fields)])
def test_concurrent_first_sends_of_one_event_store_it_once_with_one_log_id(dynamodb, make):
    repos = [LogRepository(dynamodb, TABLE_NAME, RETENTION, SHARDS, SHARDS, packed=False) for _ in range(4)]
    start = threading.Barrier(len(repos))

    def send(repository):
        start.wait()
        return repository.put_events([make(event_id="race", message="m")], WRITER, NOW)[0].log_id

    with ThreadPoolExecutor(len(repos)) as pool:
        log_ids = list(pool.map(send, repos))

    assert len(set(log_ids)) == 1
    assert [e["log_id"] for e in repos[0].recent(query(), NOW).events] == log_ids[:1]


def test_a_batch_repeating_an_event_id_stores_it_once(repo):
    log_ids = store(repo, [make_event(event_id="x", message="1"), make_event(message="2"),
                           make_event(event_id="x", message="1"), stamped(event_id="y"), stamped(event_id="y")])
    assert log_ids[0] == log_ids[2] != log_ids[1]
    assert log_ids[3] == log_ids[4]
    assert sorted(e["message"] for e in repo.recent(query(), NOW).events) == ["1", "2", "m"]


def test_a_batch_repeating_an_event_id_with_other_content_stores_the_first_and_rejects_the_second(repo):
    outcomes = repo.put_events([make_event(event_id="x", message="1"), make_event(event_id="x", message="3"),
                                stamped(event_id="y", message="a"), stamped(event_id="y", message="b")], WRITER, NOW)
    assert [(o.stored, o.conflict) for o in outcomes] == [(True, False), (False, True)] * 2
    assert sorted(e["message"] for e in repo.recent(query(), NOW).events) == ["1", "a"]


def test_the_same_event_id_in_two_services_is_two_events(repo):
    log_ids = store(repo, [make_event(service="billing", event_id="x"), make_event(service="auth", event_id="x")])
    assert log_ids[0] != log_ids[1]
    assert len(repo.recent(query(), NOW).events) == 2


def test_ttl_attribute_is_the_event_time_plus_retention(repo, dynamodb):
    store(repo, [make_event(timestamp_ms=NOW - 1000)])
    (item,) = all_items(dynamodb)
    assert int(item["expires_at"]["N"]) == (NOW - 1000 + RETENTION * ev.DAY_MS) // 1000


def test_every_item_of_every_write_path_expires_with_its_event(dynamodb, sleeps):
    """Any kind of item the repository writes, now or later, must carry expires_at within retention."""
    repo = LogRepository(dynamodb, TABLE_NAME, RETENTION, SHARDS, SHARDS, max_attempts=4, sleep=sleeps.append)
    lossy, _ = flaky_repo(dynamodb, sleeps, lost_responses=100)
    paths = [
        [make_event(message="plain")],
        [make_event(message=str(n), timestamp_ms=NOW - n) for n in range(30)],
        [make_event(event_id="with-time", message="m" * 5000, metadata={"k": "v" * 1000})],
        [stamped(event_id="no-time", metadata={"k": "v"})],
        [make_event(event_id="with-time"), stamped(event_id="no-time"), stamped(event_id="no-time")],
    ]
    for events in paths:
        repo.put_events(events, WRITER, NOW)
        repo.put_events(events, OTHER_ROLE, NOW + 1)
    with pytest.raises(StorageUnavailable):
        lossy.put_events([stamped(event_id="lost-then-resent")], WRITER, NOW)
    repo.put_events([stamped(event_id="lost-then-resent")], WRITER, NOW + 2)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: repo.put_events([stamped(event_id="race")], WRITER, NOW), range(4)))

    items = raw_items()
    kinds = {item["pk"]["S"][0] for item in items}
    assert kinds == {"S", "E"}
    newest_event_ms = NOW + 2
    for item in items:
        assert "N" in item["expires_at"], item
        assert NOW // 1000 < int(item["expires_at"]["N"]) <= (newest_event_ms + RETENTION * ev.DAY_MS) // 1000
    claims = [item for item in items if item["pk"]["S"].startswith("E#")]
    assert claims and all(set(claim) == {"pk", "sk", "log_id", "expires_at"} for claim in claims)


# --- retries, failures and the deadline --------------------------------------------

class FlakyClient:
    """Delegates to a real client, but answers as DynamoDB does once botocore's own retries gave up.

    ``unprocessed_rounds``: BatchWriteItem stores half and hands the rest back;
    ``fail_rounds``: BatchWriteItem, and PutItem of an event, raise ``error``;
    ``claim_failures``: PutItem of a claim is throttled; ``lost_responses``:
    writes are applied, then the answer is lost.
    """

    def __init__(self, client, unprocessed_rounds=0, fail_rounds=0, error=None, claim_failures=0, lost_responses=0):
        self._client = client
        self.unprocessed_rounds = unprocessed_rounds
        self.fail_rounds = fail_rounds
        self.error = error
        self.claim_failures = claim_failures
        self.lost_responses = lost_responses
        self.batch_calls = 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def _lose(self, call, **kwargs):
        call(**kwargs)
        self.lost_responses -= 1
        raise ReadTimeoutError(endpoint_url="http://127.0.0.1:1")

    def batch_write_item(self, RequestItems):
        self.batch_calls += 1
        if self.lost_responses:
            self._lose(self._client.batch_write_item, RequestItems=RequestItems)
        if self.fail_rounds:
            self.fail_rounds -= 1
            raise self.error
        if self.unprocessed_rounds:
            self.unprocessed_rounds -= 1
            (table, requests), = RequestItems.items()
            half = len(requests) // 2
            if half:
                self._client.batch_write_item(RequestItems={table: requests[:half]})
            return {"UnprocessedItems": {table: requests[half:]}}
        return self._client.batch_write_item(RequestItems=RequestItems)

    def put_item(self, **kwargs):
        if self.lost_responses:
            self._lose(self._client.put_item, **kwargs)
        if self.fail_rounds and kwargs["Item"]["sk"]["S"] != "E":
            self.fail_rounds -= 1
            raise self.error
        if self.claim_failures:
            self.claim_failures -= 1
            raise throttled()
        return self._client.put_item(**kwargs)


def throttled():
    return ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                       "BatchWriteItem")


def flaky_repo(dynamodb, sleeps, **failures):
    client = FlakyClient(dynamodb, **failures)
    return LogRepository(client, TABLE_NAME, RETENTION, SHARDS, SHARDS, max_attempts=4, sleep=sleeps.append,
                         packed=False), client


def test_unprocessed_items_are_retried_with_growing_jittered_backoff(dynamodb, sleeps):
    repo, client = flaky_repo(dynamodb, sleeps, unprocessed_rounds=3)
    outcomes = repo.put_events([make_event(message=str(n)) for n in range(8)], None, NOW)
    assert all(o.stored for o in outcomes)
    assert client.batch_calls == 4
    assert len(sleeps) == 3
    assert all(0 <= pause <= 0.025 * 2 ** attempt for attempt, pause in enumerate(sleeps))
    assert len(repo.recent(query(), NOW).events) == 8


def test_items_still_unprocessed_after_retries_are_reported_not_dropped(dynamodb, sleeps):
    repo, _ = flaky_repo(dynamodb, sleeps, unprocessed_rounds=100)
    outcomes = repo.put_events([make_event(message=str(n)) for n in range(8)], None, NOW)
    stored = [o for o in outcomes if o.stored]
    failed = [o for o in outcomes if not o.stored]
    assert stored and failed
    assert all(o.error and o.event is None for o in failed)
    assert {e["log_id"] for e in repo.recent(query(), NOW).events} == {o.log_id for o in stored}


@pytest.mark.parametrize("error", [throttled(), ReadTimeoutError(endpoint_url="http://127.0.0.1:1")])
def test_an_error_botocore_gave_up_on_is_not_retried_again_and_nothing_is_stored(dynamodb, sleeps, error):
    repo, client = flaky_repo(dynamodb, sleeps, fail_rounds=100, error=error)
    with pytest.raises(StorageUnavailable):
        repo.put_events([make_event()], None, NOW)
    assert client.batch_calls == 1 and sleeps == []
    assert repo.recent(query(), NOW).events == []


def test_a_non_transient_storage_error_is_not_retried(dynamodb, sleeps):
    error = ClientError({"Error": {"Code": "ValidationException", "Message": "bad"}}, "BatchWriteItem")
    repo, client = flaky_repo(dynamodb, sleeps, fail_rounds=100, error=error)
    with pytest.raises(ClientError):
        repo.put_events([make_event()], None, NOW)
    assert client.batch_calls == 1


def test_a_throttled_claim_is_retryable_and_a_resend_stores_it_once(dynamodb, sleeps):
    repo, _ = flaky_repo(dynamodb, sleeps, claim_failures=1)
    outcomes = repo.put_events([stamped(event_id="a"), make_event(message="plain")], None, NOW)
    assert not outcomes[0].stored and outcomes[0].error
    assert outcomes[1].stored
    (again,) = repo.put_events([stamped(event_id="a")], None, NOW)
    assert again.stored and not again.repeat
    assert sorted(e["message"] for e in repo.recent(query(), NOW).events) == ["m", "plain"]


@pytest.mark.parametrize("make", [make_event, lambda **fields: stamped(**fields)])
def test_a_resend_after_lost_responses_keeps_the_log_id_and_stores_once(dynamodb, sleeps, make):
    lossy, _ = flaky_repo(dynamodb, sleeps, lost_responses=100)
    with pytest.raises(StorageUnavailable):
        lossy.put_events([make(event_id="a")], WRITER, NOW)
    repo, _ = flaky_repo(dynamodb, sleeps)

    (again,) = repo.put_events([make(event_id="a")], WRITER, NOW + 10)

    assert again.stored
    assert [e["log_id"] for e in repo.recent(query(), NOW + 10).events] == [again.log_id]


def test_a_resend_completes_an_event_whose_claim_was_stored_but_write_was_not(dynamodb, sleeps):
    repo, _ = flaky_repo(dynamodb, sleeps, fail_rounds=100, error=throttled())
    with pytest.raises(StorageUnavailable):
        repo.put_events([stamped(event_id="a")], None, NOW)
    retry_repo, _ = flaky_repo(dynamodb, sleeps)
    (again,) = retry_repo.put_events([stamped(event_id="a", message="resent", timestamp_ms=NOW + 10)], None, NOW + 10)
    assert again.stored and not again.repeat and again.event["timestamp"] == ev.format_time(NOW)
    (stored,) = repo.recent(query(), NOW + 10).events
    assert (stored["log_id"], stored["message"], stored["timestamp"]) == (again.log_id, "resent", ev.format_time(NOW))


def test_a_non_transient_claim_error_propagates(dynamodb, sleeps):
    class Broken(FlakyClient):
        def put_item(self, **kwargs):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutItem")

    repo = LogRepository(Broken(dynamodb), TABLE_NAME, RETENTION, SHARDS, SHARDS, max_attempts=2,
                         sleep=sleeps.append, packed=False)
    with pytest.raises(ClientError):
        repo.put_events([stamped(event_id="a")], None, NOW)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_past_the_deadline_no_new_attempt_starts_and_the_rest_is_retryable(dynamodb):
    clock = FakeClock()
    deadline = aws.Deadline(1_000, clock=clock)
    client = FlakyClient(dynamodb, unprocessed_rounds=100)
    repo = LogRepository(client, TABLE_NAME, RETENTION, SHARDS, SHARDS, max_attempts=20,
                         sleep=lambda seconds: setattr(clock, "now", clock.now + 0.6), packed=False)

    with aws.within(deadline):
        outcomes = repo.put_events([make_event(message=str(n)) for n in range(8)], None, NOW)

    assert client.batch_calls == 2
    assert [o.stored for o in outcomes].count(True) == 6
    assert all(o.error for o in outcomes if not o.stored)


def test_a_botocore_call_past_the_deadline_is_not_sent(dynamodb):
    clock = FakeClock()
    service.reset()
    client = aws.client("dynamodb")
    repo = LogRepository(client, TABLE_NAME, RETENTION, SHARDS, SHARDS, packed=False)
    sent = []
    client.meta.events.register("before-send.dynamodb", lambda **kwargs: sent.append(kwargs))

    with aws.within(aws.Deadline(1_000, clock=clock)):
        clock.now = 2.0
        with pytest.raises(StorageUnavailable):
            repo.put_events([make_event()], None, NOW)
        with pytest.raises(StorageUnavailable):
            repo.recent(query(), NOW)

    assert sent == []
    assert repo.recent(query(), NOW).events == []
    service.reset()


def test_the_deadline_leaves_a_margin_of_the_lambda_time_left(monkeypatch):
    monkeypatch.setenv("STORAGE_READ_TIMEOUT_S", "5")

    class Context:
        @staticmethod
        def get_remaining_time_in_millis():
            return 20_000

    clock = FakeClock()
    deadline = aws.Deadline.for_lambda(Context(), clock=clock)
    # 20 s left, less a 2 s connect, a 5 s read and 1 s for the answer.
    assert deadline.remaining_s() == 12.0
    assert aws.Deadline.for_lambda(None, clock=clock).remaining_s() == 12.0


def test_read_throttling_is_storage_unavailable(dynamodb, sleeps):
    class ThrottledReads(FlakyClient):
        def query(self, **kwargs):
            raise throttled()

    repo = LogRepository(ThrottledReads(dynamodb), TABLE_NAME, RETENTION, SHARDS, SHARDS, sleep=sleeps.append,
                         packed=False)
    with pytest.raises(StorageUnavailable):
        repo.recent(query(), NOW)


def test_a_severity_index_still_being_built_is_storage_unavailable_not_a_crash(dynamodb, sleeps):
    class Backfilling(FlakyClient):
        def query(self, **kwargs):
            if kwargs.get("IndexName") == "severity":
                message = "Cannot read from backfilling global secondary index: severity"
                raise ClientError({"Error": {"Code": "ValidationException", "Message": message}}, "Query")
            return self._client.query(**kwargs)

    repo = LogRepository(Backfilling(dynamodb), TABLE_NAME, RETENTION, SHARDS, SHARDS, sleep=sleeps.append,
                         packed=False)
    with pytest.raises(StorageUnavailable):
        repo.recent(query(level="ERROR"), NOW)
    assert repo.recent(query(), NOW).events == []


def test_a_non_transient_read_error_propagates(dynamodb, sleeps):
    class Denied(FlakyClient):
        def query(self, **kwargs):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Query")

    repo = LogRepository(Denied(dynamodb), TABLE_NAME, RETENTION, SHARDS, SHARDS, sleep=sleeps.append,
                         packed=False)
    with pytest.raises(ClientError):
        repo.recent(query(), NOW)


# --- reads ---------------------------------------------------------------------

def seed(repo, count, services=("billing", "auth", "search"), step_ms=1000):
    events = [make_event(service=services[n % len(services)], message=str(n), timestamp_ms=NOW - n * step_ms,
                         level=("ERROR" if n % 5 == 0 else "INFO"), log_type=("audit" if n % 2 else "application"))
              for n in range(count)]
    for start in range(0, count, 1000):
        store(repo, events[start:start + 1000])
    return events


def expected_order(events, predicate=lambda e: True):
    return [e.message for e in sorted(events, key=lambda e: e.timestamp_ms, reverse=True) if predicate(e)]


def test_newest_first_across_all_services(repo):
    events = seed(repo, 40)
    assert [e["message"] for e in repo.recent(query(limit=15), NOW).events] == expected_order(events)[:15]


def test_ties_in_timestamp_are_broken_by_log_id_descending(repo):
    store(repo, [make_event(message=str(n)) for n in range(5)])
    store(repo, [make_event(message=f"later-{n}") for n in range(5)])
    returned = repo.recent(query(), NOW).events
    assert [e["log_id"] for e in returned] == sorted((e["log_id"] for e in returned), reverse=True)


def test_following_pages_visits_every_event_exactly_once_in_order(repo):
    events = seed(repo, 97, step_ms=7)
    seen, pages = read_all(repo, query(limit=10))
    assert [e["message"] for e in seen] == expected_order(events)
    assert pages == 10


def test_service_filter_pages_through_only_that_service(repo):
    events = seed(repo, 60)
    seen, _ = read_all(repo, query(limit=7, service_name="auth"))
    assert [e["message"] for e in seen] == expected_order(events, lambda e: e.service_name == "auth")


@pytest.mark.parametrize("level, log_type", [("ERROR", None), (None, "audit"), ("ERROR", "audit")])
def test_level_and_type_filters(repo, level, log_type):
    events = seed(repo, 60)
    seen, _ = read_all(repo, query(limit=4, level=level, log_type=log_type))

    def matches(e):
        return (level is None or e.level == level) and (log_type is None or e.log_type == log_type)

    assert [e["message"] for e in seen] == expected_order(events, matches)


def test_time_window_is_inclusive_and_exact(repo):
    events = seed(repo, 30)
    since, until = NOW - 20_000, NOW - 10_000
    seen, _ = read_all(repo, query(since_ms=since, until_ms=until))
    assert [e["message"] for e in seen] == expected_order(events, lambda e: since <= e.timestamp_ms <= until)
    assert len(seen) == 11


def test_expired_events_are_never_returned(repo):
    store(repo, [make_event(message="old", timestamp_ms=NOW - ev.DAY_MS), make_event(message="new")])
    later = NOW + (RETENTION - 1) * ev.DAY_MS + 1
    wide = query(since_ms=NOW - 2 * ev.DAY_MS, until_ms=later)
    assert [e["message"] for e in repo.recent(wide, later).events] == ["new"]


def test_an_empty_or_inverted_window_reads_nothing(repo, recorder):
    seed(repo, 5)
    calls_before = len(recorder.calls)
    page = repo.recent(query(since_ms=NOW - 10, until_ms=NOW - 20), NOW)
    assert page.events == [] and page.next_after is None and len(recorder.calls) == calls_before
    assert repo.recent(query(), NOW, after=ids.ALPHABET[0] * ids.LENGTH).events == []


@pytest.mark.parametrize("service_name", [None, "billing"])
def test_no_next_page_when_the_last_page_is_exactly_full_and_nothing_remains(repo, service_name):
    seed(repo, 10, services=("billing",))
    page = repo.recent(query(limit=10, service_name=service_name), NOW)
    assert len(page.events) == 10
    assert page.next_after is None


def test_a_next_page_is_offered_only_when_an_event_is_left_for_it(repo):
    seed(repo, 11)
    page = repo.recent(query(limit=10), NOW)
    assert page.next_after == page.events[-1]["log_id"]
    follow = repo.recent(query(limit=10), NOW, after=page.next_after)
    assert len(follow.events) == 1 and follow.next_after is None


# --- the severity indexes ------------------------------------------------------------

SEVERITY_MIX = ("INFO", "DEBUG", "WARN", "INFO", "ERROR", "INFO", "FATAL", "TRACE", "WARN", "INFO")


def seed_levels(repo, count, services=("billing", "auth"), step_ms=1000):
    events = [make_event(service=services[n // len(SEVERITY_MIX) % len(services)], message=str(n),
                         timestamp_ms=NOW - n * step_ms, level=SEVERITY_MIX[n % len(SEVERITY_MIX)])
              for n in range(count)]
    for start in range(0, count, 1000):
        store(repo, events[start:start + 1000])
    return events


@pytest.mark.parametrize("service_name", [None, "auth"])
@pytest.mark.parametrize("level, min_level, expected", [
    ("ERROR", None, {"ERROR"}), ("FATAL", None, {"FATAL"}), ("WARN", None, {"WARN"}),
    (None, "WARN", {"WARN", "ERROR", "FATAL"}), (None, "ERROR", {"ERROR", "FATAL"}), (None, "FATAL", {"FATAL"}),
])
def test_severe_levels_page_newest_first_from_the_sparse_indexes_without_a_level_filter(
        repo, recorder, dynamodb, service_name, level, min_level, expected):
    events = seed_levels(repo, 200)
    queries = []
    dynamodb.meta.events.register("before-parameter-build.dynamodb.Query",
                                 lambda params, **_: queries.append(params))

    seen, pages = read_all(repo, query(limit=7, service_name=service_name, level=level, min_level=min_level))

    wanted = expected_order(events, lambda e: e.level in expected and service_name in (None, e.service_name))
    assert [e["message"] for e in seen] == wanted
    assert len(wanted) >= 10 and pages > 1
    assert {q["IndexName"] for q in queries} == {"service_severity" if service_name else "severity"}
    assert not any("#level" in q["ExpressionAttributeNames"] for q in queries)


@pytest.mark.parametrize("service_name", [None, "auth"])
@pytest.mark.parametrize("min_level, expected", [
    ("INFO", {"INFO", "WARN", "ERROR", "FATAL"}), ("DEBUG", {"DEBUG", "INFO", "WARN", "ERROR", "FATAL"}),
    ("TRACE", {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}),
])
def test_min_level_below_warn_pages_the_general_view_with_a_level_filter(repo, service_name, min_level, expected):
    events = seed_levels(repo, 200)

    seen, pages = read_all(repo, query(limit=20, service_name=service_name, min_level=min_level))

    wanted = expected_order(events, lambda e: e.level in expected and service_name in (None, e.service_name))
    assert [e["message"] for e in seen] == wanted and pages > 1


def test_ties_on_the_severity_index_are_broken_by_log_id_descending(repo):
    store(repo, [make_event(level="ERROR", message=str(n)) for n in range(6)]
          + [make_event(level="WARN", message=f"w{n}") for n in range(6)])
    first = repo.recent(query(min_level="WARN", limit=5), NOW)
    returned = first.events
    rest = repo.recent(query(min_level="WARN"), NOW, after=first.next_after).events
    ids_in_order = [e["log_id"] for e in returned + rest]
    assert ids_in_order == sorted(ids_in_order, reverse=True) and len(ids_in_order) == 12


def test_expired_severe_events_are_never_returned(repo):
    store(repo, [make_event(level="ERROR", message="old", timestamp_ms=NOW - ev.DAY_MS),
                 make_event(level="ERROR", message="new")])
    later = NOW + (RETENTION - 1) * ev.DAY_MS + 1
    wide = query(level="ERROR", since_ms=NOW - 2 * ev.DAY_MS, until_ms=later)
    assert [e["message"] for e in repo.recent(wide, later).events] == ["new"]


def test_only_severe_events_carry_the_sparse_index_keys(repo, dynamodb):
    store(repo, [make_event(level=level, message=level) for level in ev.LEVELS])
    for item in raw_items():
        levels = set(item["levels"]["SS"]) if "levels" in item else {item["level"]["S"]}  # a pack, or an event
        assert ("vpk" in item) == ("wpk" in item) == (levels <= {"WARN", "ERROR", "FATAL"})
        assert "vpk" not in item or (len(levels) == 1 and item["vpk"]["S"].startswith(f"V#{min(levels)}#"))


@pytest.mark.parametrize("service_name", [None, "billing"])
def test_newest_errors_cost_about_twice_the_page_however_rare_they_are(repo, recorder, service_name):
    events = [make_event(service="billing", message=str(n), timestamp_ms=NOW - n,
                         level="ERROR" if n % 50 == 0 else "INFO") for n in range(5000)]
    for start in range(0, len(events), 1000):
        store(repo, events[start:start + 1000])
    before = recorder.scanned

    page = repo.recent(query(limit=50, level="ERROR", service_name=service_name), NOW)

    assert [e["message"] for e in page.events] == [str(n) for n in range(0, 2500, 50)]
    assert recorder.scanned - before <= 2 * 50 + 2 * 8


# --- the read budget -------------------------------------------------------------

def test_a_read_stops_at_its_budget_with_a_cursor_that_resumes_exactly_there(repo, recorder):
    events = seed(repo, 200)
    budget = 60
    wanted = expected_order(events, lambda e: e.log_type == "audit" and e.level == "INFO")
    seen, after, pages = [], None, 0
    while True:
        before = recorder.scanned
        page = repo.recent(query(limit=50, level="INFO", log_type="audit"), NOW, after=after, budget=budget)
        assert recorder.scanned - before <= budget + SHARDS * 8, "one request read far past its budget"
        assert page.items_read == recorder.scanned - before
        seen.extend(e["message"] for e in page.events)
        pages += 1
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == wanted
    assert pages > 2


def test_a_budget_spent_before_any_match_still_moves_the_cursor_on(item_repo):
    repo = item_repo
    store(repo, [make_event(message=str(n), timestamp_ms=NOW - n, log_type="noise") for n in range(300)]
          + [make_event(message="needle", timestamp_ms=NOW - 1000, log_type="rare")])
    pages, after, found = 0, None, []
    while True:
        page = repo.recent(query(limit=10, log_type="rare"), NOW, after=after, budget=40)
        pages += 1
        found.extend(e["message"] for e in page.events)
        if page.next_after is None:
            break
        assert page.next_after != after
        after = page.next_after
    assert found == ["needle"] and pages > 3


@pytest.mark.parametrize("service_name", [None, "billing"])
def test_a_read_costs_about_twice_the_page_however_large_the_table(repo, recorder, service_name):
    seed(repo, 3000, services=("billing",) * 9 + ("auth",), step_ms=10)
    before_calls, before_scanned = len(recorder.calls), recorder.scanned
    page = repo.recent(query(limit=100, service_name=service_name), NOW)
    calls = recorder.calls[before_calls:]
    scanned = recorder.scanned - before_scanned
    assert len(page.events) == 100
    # All services: the packs the page opens are fetched from the table (GSI pack_timeline holds no payload).
    assert set(calls) <= {"Query", "BatchGetItem"} and calls.count("BatchGetItem") <= 2
    assert scanned <= 2 * 100 + 2 * SHARDS
    assert page.items_read == scanned and page.calls == len(calls)


# --- read units --------------------------------------------------------------------

def test_moto_charges_a_query_for_every_item_it_evaluates_as_dynamodb_does(repo, dynamodb):
    store(repo, [make_event(message="x" * 10_000, log_type="noise", timestamp_ms=NOW - n) for n in range(3)])
    items = raw_items()

    response = dynamodb.query(
        TableName=TABLE_NAME, KeyConditionExpression="pk = :p", FilterExpression="log_type = :nomatch",
        ExpressionAttributeValues={":p": items[0]["pk"], ":nomatch": {"S": "nomatch"}},
        ReturnConsumedCapacity="TOTAL")

    evaluated = [item for item in items if item["pk"] == items[0]["pk"]]
    assert response["Count"] == 0 and response["ScannedCount"] == len(evaluated)
    assert response["ConsumedCapacity"]["CapacityUnits"] == math.ceil(
        sum(item_size(item) for item in evaluated) / 4096) / 2


def test_the_largest_storable_item_is_within_what_the_read_budget_assumes(repo):
    largest = make_event(service="s" * 128, log_type="t" * 64, message="\x01" * ev.MAX_MESSAGE_BYTES,
                         metadata={"k": "m" * (ev.MAX_METADATA_BYTES - 8)}, event_id="e" * 128, level="ERROR")
    store(repo, [largest], ingested_by="arn:aws:sts::123456789012:assumed-role/" + "r" * 64 + "/" + "s" * 64)
    (item,) = raw_items()
    assert item_size(item) <= MAX_ITEM_BYTES


def large_events(count, log_type="big"):
    return [make_event(message="\x01" * ev.MAX_MESSAGE_BYTES, log_type=log_type, timestamp_ms=NOW - n)
            for n in range(count)]


def test_a_filter_that_matches_nothing_over_large_items_stops_at_the_read_units_budget(item_repo, recorder):
    repo = item_repo
    events = large_events(75)
    for start in range(0, len(events), 25):
        store(repo, events[start:start + 25])
    pages, after = 0, None
    while True:
        before = recorder.units
        page = repo.recent(query(limit=1, log_type="nomatch"), NOW, after=after)
        assert recorder.units - before <= READ_UNITS, "one request consumed more than its read units"
        assert page.units_read == recorder.units - before
        assert page.events == []
        pages += 1
        if page.next_after is None:
            break
        assert page.next_after != after
        after = page.next_after
    assert pages >= 3


def test_a_read_cut_short_by_its_deadline_answers_what_it_found_with_a_cursor(dynamodb):
    clock = FakeClock()
    service.reset()
    client = aws.client("dynamodb")
    repo = LogRepository(client, TABLE_NAME, RETENTION, SHARDS, SHARDS, packed=False)
    events = seed(repo, 40)
    queries = []

    def time_passes(**_):
        queries.append(1)
        if len(queries) == 2 * SHARDS:  # every shard's first page is in (both timelines'); the deadline comes
            # before any other
            clock.now = 2.0

    client.meta.events.register("after-call.dynamodb.Query", time_passes)

    with aws.within(aws.Deadline(1_000, clock=clock)):
        page = repo.recent(query(limit=30), NOW)

    assert 0 < len(page.events) < 30 and page.next_after is not None
    seen = [e["message"] for e in page.events]
    after = page.next_after
    while after is not None:
        follow = repo.recent(query(limit=30), NOW, after=after)
        seen.extend(e["message"] for e in follow.events)
        after = follow.next_after
    assert seen == expected_order(events)
    service.reset()


# --- identity guards: one event per identity, whatever happens between sends -----------------------

class PutHook:
    """Delegates to a real client; ``on_put(client, params)`` stands in for PutItem."""

    def __init__(self, client, on_put):
        self._client, self._on_put = client, on_put

    def __getattr__(self, name):
        return getattr(self._client, name)

    def put_item(self, **params):
        return self._on_put(self._client, params)


def guarded(**fields):
    """A batch whose event A (with an event_id) comes second at its timestamp, so its identity has a guard."""
    return [make_event(message="p"), make_event(message="A", event_id="A", **fields)]


def event_items(dynamodb):
    return sorted(item["message"]["S"] for item in all_items(dynamodb) if "guard_of" not in item)


def test_a_guard_written_whose_event_was_not_is_completed_by_a_resend(dynamodb, sleeps):
    def event_throttled(client, params):
        if "guard_of" not in params["Item"] and params["Item"].get("event_id"):
            raise throttled()
        return client.put_item(**params)

    (plain, first) = LogRepository(PutHook(dynamodb, event_throttled), TABLE_NAME, RETENTION, SHARDS, SHARDS,
                                   sleep=sleeps.append, packed=False).put_events(guarded(), WRITER, NOW)
    assert plain.stored and not first.stored and first.error

    repo = LogRepository(dynamodb, TABLE_NAME, RETENTION, SHARDS, SHARDS, packed=False)
    (again,) = repo.put_events([make_event(message="A", event_id="A")], WRITER, NOW + 1)
    (once_more,) = repo.put_events([make_event(message="A", event_id="A")], WRITER, NOW + 2)

    assert again.stored and not again.repeat and again.log_id == first.log_id
    assert once_more.repeat and once_more.log_id == first.log_id
    assert event_items(dynamodb) == ["A", "p"]


@pytest.mark.parametrize("lost", ["guard", "event"])
def test_a_write_whose_answer_was_lost_and_that_botocore_sent_again_is_stored(dynamodb, lost):
    def applied_then_sent_again(client, params):
        if ("guard_of" in params["Item"]) == (lost == "guard") and params["Item"].get("sk", {}).get("S") != "E":
            client.put_item(**params)
        return client.put_item(**params)

    outcomes = LogRepository(PutHook(dynamodb, applied_then_sent_again), TABLE_NAME, RETENTION, SHARDS,
                             SHARDS, packed=False).put_events(guarded(), WRITER, NOW)

    assert all(outcome.stored and not outcome.error for outcome in outcomes)
    assert event_items(dynamodb) == ["A", "p"]


def test_a_send_that_meets_another_sends_guard_before_its_event_stores_the_event_once(dynamodb):
    """S2 = [p, A] has written A's guard but not yet A; S1 = [A] read A's home key just before."""
    racing = {}

    def guard_lands_first(client, params):
        if not racing:
            home = params["Item"]["sk"]["S"]
            racing["guard"] = {"pk": params["Item"]["pk"], "sk": {"S": home}, "guard_of": {
                "S": ids.with_sequence(home, 1)}, "expires_at": params["Item"]["expires_at"]}
            client.put_item(TableName=TABLE_NAME, Item=racing["guard"])
        return client.put_item(**params)

    (s1,) = LogRepository(PutHook(dynamodb, guard_lands_first), TABLE_NAME, RETENTION, SHARDS,
                          SHARDS, packed=False).put_events([make_event(message="A", event_id="A")], WRITER, NOW)
    s2 = LogRepository(dynamodb, TABLE_NAME, RETENTION, SHARDS, SHARDS, packed=False).put_events(guarded(), WRITER, NOW)

    assert s1.stored and s1.log_id == racing["guard"]["guard_of"]["S"]
    assert s2[1].repeat and s2[1].log_id == s1.log_id
    assert event_items(dynamodb) == ["A", "p"]


def test_a_second_copy_in_a_request_is_judged_against_what_is_stored_not_against_the_first_copy(repo):
    (stored,) = store(repo, [make_event(message="A", event_id="A")])

    other, same = repo.put_events([make_event(message="A-other", event_id="A"), make_event(message="A", event_id="A")],
                                  WRITER, NOW)

    assert other.conflict and not other.stored
    assert same.repeat and same.log_id == stored


def test_a_conflict_beside_a_throttled_event_is_answered_not_turned_into_a_503(dynamodb, sleeps):
    LogRepository(dynamodb, TABLE_NAME, RETENTION, SHARDS, SHARDS, packed=False).put_events(
        [make_event(message="A", event_id="A")], WRITER, NOW)
    repo, _ = flaky_repo(dynamodb, sleeps, fail_rounds=100, error=throttled())

    conflict, plain = repo.put_events([make_event(message="A2", event_id="A"), make_event(message="plain")],
                                      WRITER, NOW)

    assert conflict.conflict and not plain.stored and plain.error
