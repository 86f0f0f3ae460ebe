"""What is specific to packs (issue 19): cursors that stop inside packs, the decode budget, read units over
large packs, whole-or-nothing writes, retention and ``until`` within a pack, the upgrade from the one-item
layout, and what a pack keeps of each event. tests/test_repository.py runs every other behaviour on both
layouts.

The true order is computed from what was written: newest first is descending log id (ties in time are broken
by log id), so the log ids the writes answered, sorted, are what every read must return.
"""
import base64
import hashlib
import random

import boto3
import pytest

from chalicelib import cursor, ids
from chalicelib import events as ev
from chalicelib.repository import PACK_TIMELINE_INDEX, READ_UNITS, LogRepository, packs
from chalicelib.repository.reads import MAX_REFS
from tests.conftest import TABLE_NAME
from tests.test_repository import (
    NOW,
    OTHER_ROLE,
    RETENTION,
    SHARDS,
    WRITER,
    PutHook,
    Recorder,
    make_event,
    query,
    raw_items,
    throttled,
)

RETENTION_MS = RETENTION * ev.DAY_MS


@pytest.fixture
def recorder(dynamodb):
    return Recorder(dynamodb)


@pytest.fixture
def repo(dynamodb, recorder):
    return LogRepository(dynamodb, TABLE_NAME, RETENTION, SHARDS, SHARDS, max_attempts=4, sleep=lambda _: None)


def old_layout(client):
    """The repository as it wrote before packs: one item per event."""
    return LogRepository(client, TABLE_NAME, RETENTION, SHARDS, SHARDS, max_attempts=4, sleep=lambda _: None,
                         packed=False)


def write(repo, events, ingested_by=WRITER, now_ms=NOW, content_ids=False):
    """Store ``events`` (all of them must be stored); ``{log_id: event}``."""
    outcomes = repo.put_events(events, ingested_by, now_ms, content_ids)
    assert all(outcome.stored and not outcome.repeat for outcome in outcomes)
    written = {outcome.log_id: event for outcome, event in zip(outcomes, events, strict=True)}
    assert len(written) == len(events), "two events were answered one log id"
    return written


def pack_items():
    return [item for item in raw_items() if packs.is_pack(item)]


def matches(event, service_name=None, level=None, min_level=None, log_type=None):
    return ((service_name is None or event.service_name == service_name)
            and (level is None or event.level == level)
            and (min_level is None or event.level in ev.levels_at_least(min_level))
            and (log_type is None or event.log_type == log_type))


def true_order(written, **view):
    return sorted((log_id for log_id, event in written.items() if matches(event, **view)), reverse=True)


def follow(repo, q, now_ms=NOW, after=None, **limits):
    """Every page from ``after`` on: ``(events, pages)``; each page must move the cursor on."""
    seen, pages = [], []
    while True:
        page = repo.recent(q, now_ms, after=after, **limits)
        assert len(page.events) <= q.limit
        seen.extend(page.events)
        pages.append(page)
        if page.next_after is None:
            return seen, pages
        assert page.next_after != after, "a page did not move the cursor on"
        after = page.next_after


def assert_read_exactly(repo, written, limit, now_ms=NOW, **view):
    """Pages of ``limit`` through ``view`` return every matching event once, newest first, with its content."""
    seen, pages = follow(repo, query(limit=limit, until_ms=now_ms + 1, **view), now_ms)
    assert [event["log_id"] for event in seen] == true_order(written, **view), (view, limit)
    for event in seen:
        sent = written[event["log_id"]]
        assert (event["service_name"], event["level"], event["log_type"], event["message"]) == (
            sent.service_name, sent.level, sent.log_type, sent.message)
        assert event["timestamp"] == ev.format_time(sent.timestamp_ms)
    return pages


VIEWS = [
    {},
    {"service_name": "auth"},
    {"level": "ERROR"},
    {"min_level": "WARN"},
    {"service_name": "auth", "level": "ERROR"},
    {"log_type": "audit"},
    {"level": "DEBUG"},
]
LEVEL_MIX = ("INFO", "DEBUG", "ERROR", "INFO", "WARN", "INFO", "ERROR", "FATAL")


def overlapping_requests(repo, requests, per_service, services=("billing", "auth", "search"), seed=19):
    """``requests`` requests, each with ``per_service`` events of each service at random times within the same
    second: their packs all overlap one another."""
    rng = random.Random(seed)
    written = {}
    for number in range(requests):
        events = [make_event(service=service, message=f"r{number}-{service}-{n}",
                             timestamp_ms=NOW - rng.randrange(1000), level=rng.choice(LEVEL_MIX),
                             log_type=rng.choice(("audit", "application")))
                  for service in services for n in range(per_service)]
        written.update(write(repo, events))
    return written


# --- cursors inside packs ----------------------------------------------------------------

@pytest.mark.parametrize("limit, service_name", [(1, None), (7, None), (7, "billing"), (100, None), (100, "billing")])
def test_a_cursor_that_stops_inside_a_pack_returns_every_event_once_in_order(repo, limit, service_name):
    written = write(repo, [make_event(message=str(n), timestamp_ms=NOW - n * 3) for n in range(250)])
    assert sorted(int(item[packs.COUNT]["N"]) for item in pack_items()) == [50, 100, 100]

    assert_read_exactly(repo, written, limit, service_name=service_name)


def test_many_overlapping_packs_of_many_requests_page_exactly_through_every_view(repo):
    written = overlapping_requests(repo, requests=10, per_service=4)
    assert len(pack_items()) > 30

    for view in VIEWS:
        assert_read_exactly(repo, written, 5, **view)


def test_more_overlapping_packs_than_a_cursor_can_name_still_page_exactly(repo):
    rng = random.Random(40)
    written = {}
    for number in range(MAX_REFS + 8):
        # Each request's pack reaches from the oldest tenth of the second to the newest one.
        written.update(write(repo, [make_event(message=f"{number}-old", timestamp_ms=NOW - 999 + rng.randrange(100)),
                                    make_event(message=f"{number}-new", timestamp_ms=NOW - rng.randrange(100))]))
    assert len(pack_items()) == MAX_REFS + 8

    pages = assert_read_exactly(repo, written, 3)
    # Past the newest events every pack is open with events left: more than a cursor names.
    assert any(page.next_after.endswith("|*") for page in pages[:-1])



def test_a_cursor_naming_packs_of_long_service_names_stays_within_a_cursors_length(repo):
    """32 open packs of 128-character service names would name 5 KB: the cursor falls back to the span."""
    rng = random.Random(32)
    written = {}
    for number in range(MAX_REFS):
        service_name = f"{number:02d}" + "s" * 126
        written.update(write(repo, [
            make_event(service=service_name, message=f"{number}-old", timestamp_ms=NOW - 999 + rng.randrange(100)),
            make_event(service=service_name, message=f"{number}-new", timestamp_ms=NOW - rng.randrange(100))]))

    seen, pages = follow(repo, query(limit=MAX_REFS))
    assert [event["log_id"] for event in seen] == true_order(written)
    keys = cursor.CursorKeys(("k", "secret"))
    for page in pages[:-1]:
        token = cursor.encode(keys, cursor.Position(page.next_after, NOW - ev.DAY_MS, NOW + 1, ("x" * 128,) * 7))
        assert len(token) <= cursor.MAX_CURSOR_CHARS
        assert cursor.decode(keys, token).after == page.next_after
    assert any(page.next_after.split("|")[1] == "*" for page in pages[:-1])

# --- the decode budget --------------------------------------------------------------------

class BatchGets:
    """The packs read whole by key (those a cursor names), as storage answered them; not the payloads fetched
    for packs met in GSI pack_timeline, which are within the read budget."""

    def __init__(self, client):
        self.items, self.units = [], 0
        client.meta.events.register("before-parameter-build.dynamodb.BatchGetItem", self._before)
        client.meta.events.register("after-call.dynamodb.BatchGetItem", self._after)

    @staticmethod
    def _before(params, context, **kwargs):
        context["whole_packs"] = not any("ProjectionExpression" in read for read in params["RequestItems"].values())

    def _after(self, parsed, context, **kwargs):
        if not context["whole_packs"]:
            return
        self.items.extend(item for found in parsed.get("Responses", {}).values() for item in found)
        self.units += sum(use.get("CapacityUnits", 0) for use in parsed.get("ConsumedCapacity", []))

    def since(self, start):
        return self.items[start:]


def test_the_decode_budget_stops_a_page_with_a_cursor_and_following_it_returns_everything_once(repo, dynamodb):
    written = write(repo, [make_event(message=str(n), timestamp_ms=NOW - n * 5) for n in range(1000)])
    assert sorted({int(item[packs.COUNT]["N"]) for item in pack_items()}) == [100]
    gets = BatchGets(dynamodb)
    budget = 150

    seen, after, pages = [], None, 0
    while True:
        start = len(gets.items)
        page = repo.recent(query(limit=500), NOW, after=after, decoded=budget)
        named = sum(int(item[packs.COUNT]["N"]) for item in gets.since(start))
        assert page.events_decoded <= budget + named
        seen.extend(event["log_id"] for event in page.events)
        pages += 1
        if page.next_after is None:
            break
        assert page.next_after != after
        after = page.next_after

    assert seen == true_order(written)
    assert pages >= 1000 // budget


def test_packs_whose_rows_a_filter_drops_are_fetched_many_to_a_call(repo, dynamodb):
    # 15 packs that pass the Query's filters (their level and log type sets) and answer nothing: counting on each
    # pack's events to fill the page would fetch them one call each.
    write(repo, [make_event(message=str(n), timestamp_ms=NOW - n, level="INFO" if n % 100 == 0 else "DEBUG",
                            log_type="rare" if n % 100 == 0 else "noise") for n in range(1500)])
    calls = []
    dynamodb.meta.events.register("before-call.dynamodb.BatchGetItem", lambda **kwargs: calls.append(1))

    page = repo.recent(query(limit=10, level="DEBUG", log_type="rare"), NOW)

    assert page.events == [] and page.events_decoded == 1500
    assert len(calls) <= 2


def test_a_decode_budget_spent_before_any_match_still_moves_the_cursor_on(repo, dynamodb):
    # Every noise pack holds DEBUG events and an INFO "rare" one: it passes the Query's filters on its levels and
    # log types, and only decoding it shows that no event in it is both.
    noise = [make_event(message=str(n), timestamp_ms=NOW - n, level="INFO" if n % 100 == 0 else "DEBUG",
                        log_type="rare" if n % 100 == 0 else "noise") for n in range(1500)]
    needle = make_event(message="needle", timestamp_ms=NOW - 5000, level="DEBUG", log_type="rare")
    write(repo, [*noise, needle])
    gets = BatchGets(dynamodb)
    budget = 150

    found, after, pages = [], None, 0
    while True:
        start = len(gets.items)
        page = repo.recent(query(limit=10, level="DEBUG", log_type="rare"), NOW, after=after, decoded=budget)
        assert page.events_decoded <= budget + sum(int(item[packs.COUNT]["N"]) for item in gets.since(start))
        found.extend(event["message"] for event in page.events)
        pages += 1
        if page.next_after is None:
            break
        assert page.next_after != after
        after = page.next_after

    assert found == ["needle"] and pages > 5


# --- read units -----------------------------------------------------------------------------

def incompressible(length, seed):
    return base64.b64encode(random.Random(seed).randbytes(length * 3 // 4)).decode("ascii")


def pages_within_read_units(repo, q, recorder, gets):
    """``(log ids, pages)`` of every page of ``q``, each checked to consume at most ``READ_UNITS`` read units
    besides the packs its cursor names (read whatever the budget), as ``units_read`` says."""
    seen, pages, after = [], 0, None
    while True:
        units_before, named_before = recorder.units, gets.units
        page = repo.recent(q, NOW, after=after)
        spent = recorder.units - units_before
        assert spent <= READ_UNITS + (gets.units - named_before), "one request consumed more than its read units"
        assert page.units_read == spent
        seen.extend(event["log_id"] for event in page.events)
        pages += 1
        if page.next_after is None:
            return seen, pages
        assert page.next_after != after
        after = page.next_after


def test_a_filter_that_matches_nothing_over_large_incompressible_packs_stays_within_the_read_units(
        repo, dynamodb, recorder):
    events = [make_event(message=incompressible(128 * 1024, n), timestamp_ms=NOW - n * 10) for n in range(120)]
    for start in range(0, len(events), 30):
        write(repo, events[start:start + 30])
    gets = BatchGets(dynamodb)
    assert len(pack_items()) == 120

    # The service view: its Queries read the packs whole (the all-services view's index holds no payload).
    seen, pages = pages_within_read_units(repo, query(limit=1, log_type="nomatch", service_name="billing"),
                                          recorder, gets)
    assert seen == [] and pages >= 2


def test_the_all_services_view_fetches_large_packs_within_the_read_units_and_follows_them_exactly(
        dynamodb, recorder):
    repo = LogRepository(dynamodb, TABLE_NAME, RETENTION, SHARDS, SHARDS)
    events = [make_event(message=incompressible(128 * 1024, n), timestamp_ms=NOW - n * 10) for n in range(120)]
    written = {}
    for start in range(0, len(events), 30):
        written.update(write(repo, events[start:start + 30]))
    gets = BatchGets(dynamodb)

    # 120 packs of 128 KiB are about 2,000 read units (eventually consistent): a page fetches what its budget
    # pays for.
    seen, pages = pages_within_read_units(repo, query(limit=1000), recorder, gets)
    assert seen == true_order(written)
    assert pages >= 2


# --- GSI pack_timeline: packs without their payload ------------------------------------------------

def test_the_all_services_view_reads_packs_from_an_index_without_their_payload_and_fetches_what_it_opens(
        repo, dynamodb):
    written = {}
    for number in range(20):  # 20 packs, 2 seconds apart
        written.update(write(repo, [make_event(message=f"{number}-{n}", timestamp_ms=NOW - number * 2000 - n)
                                    for n in range(50)]))
    fetched = []
    dynamodb.meta.events.register("before-parameter-build.dynamodb.BatchGetItem", lambda params, **_: fetched.extend(
        key["sk"]["S"] for read in params["RequestItems"].values() for key in read["Keys"]))
    entries = dynamodb.query(TableName=TABLE_NAME, IndexName=PACK_TIMELINE_INDEX,
                             KeyConditionExpression="ppk = :p", ExpressionAttributeValues={":p": {"S": "P#0"}})
    assert entries["Items"] and not any(packs.PAYLOAD in entry for entry in entries["Items"])

    page = repo.recent(query(limit=120), NOW)

    assert [event["log_id"] for event in page.events] == true_order(written)[:120]
    # The newest 120 events are in the newest three packs: those, and not the 17 others, are fetched.
    assert sorted(fetched) == sorted(item["sk"]["S"] for item in pack_items())[-3:]


def test_a_pack_deleted_between_its_index_entry_and_its_fetch_is_skipped(repo, dynamodb):
    written = {}
    for number in range(3):
        written.update(write(repo, [make_event(message=f"{number}-{n}", timestamp_ms=NOW - number * 2000 - n)
                                    for n in range(50)]))
    newest = max(pack_items(), key=lambda item: item["sk"]["S"])

    def retention_ends(params, **_):  # DynamoDB's TTL deletes the newest pack after the Query saw it
        boto3.client("dynamodb").delete_item(TableName=TABLE_NAME, Key={"pk": newest["pk"], "sk": newest["sk"]})

    dynamodb.meta.events.register_first("before-parameter-build.dynamodb.BatchGetItem", retention_ends)
    page = repo.recent(query(limit=100), NOW)

    deleted = {row[0] for row in packs.rows(newest)}
    assert [event["log_id"] for event in page.events] == [
        log_id for log_id in true_order(written) if log_id not in deleted][:100]


# --- writes: whole or nothing, and resends ---------------------------------------------------------

def test_a_pack_whose_put_failed_is_exactly_its_events_retryable_and_a_resend_stores_them_once(dynamodb, recorder):
    events = ([make_event(message=f"b{n}", timestamp_ms=NOW - n * 4) for n in range(150)]
              + [make_event(service="auth", message=f"a{n}", timestamp_ms=NOW - n * 7,
                            level="ERROR" if n % 3 == 0 else "INFO") for n in range(30)])
    failed = []

    def one_pack_throttled(client, params):
        item = params["Item"]
        # The newer of billing's two general packs (cut at 100 events, oldest first) holds its newest 50.
        if "." in item["sk"]["S"] and item["service_name"]["S"] == "billing" and item[packs.COUNT]["N"] == "50":
            failed.append(item)
            raise throttled()
        return client.put_item(**params)

    flaky = LogRepository(PutHook(dynamodb, one_pack_throttled), TABLE_NAME, RETENTION, SHARDS, SHARDS,
                          max_attempts=4, sleep=lambda _: None)
    outcomes = flaky.put_events(events, WRITER, NOW)

    (pack,) = failed
    retryable = [index for index, outcome in enumerate(outcomes) if not outcome.stored]
    assert {outcomes[index].log_id for index in retryable} == {row[0] for row in packs.rows(pack)}
    assert [events[index].message for index in retryable] == [f"b{n}" for n in range(50)]
    assert all(outcomes[index].error and outcomes[index].event is None for index in retryable)
    repo = LogRepository(dynamodb, TABLE_NAME, RETENTION, SHARDS, SHARDS)
    stored = {outcome.log_id for outcome in outcomes if outcome.stored}
    assert {event["log_id"] for event in follow(repo, query(limit=100), NOW)[0]} == stored
    items_before = len(raw_items())

    again = repo.put_events([events[index] for index in retryable], WRITER, NOW + 1000)

    assert all(outcome.stored and not outcome.repeat for outcome in again)
    assert [outcome.log_id for outcome in again] == [outcomes[index].log_id for index in retryable]
    assert len(raw_items()) == items_before + 1
    seen = [event["log_id"] for event in follow(repo, query(limit=100), NOW + 1000)[0]]
    assert seen == sorted(stored | {outcome.log_id for outcome in again}, reverse=True) and len(seen) == 180
    once_more = repo.put_events([events[index] for index in retryable], WRITER, NOW + 2000)
    assert all(outcome.repeat for outcome in once_more) and len(raw_items()) == items_before + 1


@pytest.mark.parametrize("content_ids", [False, True], ids=["json", "otlp"])
def test_an_identical_resend_writes_nothing_and_costs_one_conditional_put_per_pack(repo, recorder, content_ids):
    def event(n, service):
        fields = {"service": service, "message": f"{service} {n}", "timestamp_ms": NOW - n * 13,
                  "level": ("INFO", "WARN", "ERROR")[n % 3], "metadata": {"n": n}}
        if content_ids:  # OTLP's event id: a digest of the record
            fields["event_id"] = hashlib.sha256(repr(sorted(fields.items())).encode()).hexdigest()[:32]
        return make_event(**fields)

    batch = [event(n, service) for n in range(200) for service in ("billing", "auth")]
    first = repo.put_events(batch, WRITER, NOW, content_ids)
    assert all(outcome.stored for outcome in first)
    items = raw_items()
    pack_count = len(pack_items())
    assert pack_count == len(items) > 6
    calls_before = len(recorder.calls)

    again = repo.put_events(batch, WRITER, NOW + 5000, content_ids)

    assert all(outcome.stored and outcome.repeat for outcome in again)
    assert [outcome.log_id for outcome in again] == [outcome.log_id for outcome in first]
    assert recorder.calls[calls_before:] == ["PutItem"] * pack_count
    assert len(raw_items()) == len(items)


# --- retention and windows ---------------------------------------------------------------------

def test_a_pack_expires_with_its_newest_event_and_no_byte_outlives_retention_by_more_than_a_span(repo):
    events = [make_event(message=str(n), timestamp_ms=NOW - n * 37, level=("INFO", "ERROR")[n % 2])
              for n in range(400)]
    written = write(repo, events)
    for item in pack_items():
        times = [ids.time_of(row[0]) for row in packs.rows(item)]
        assert int(item["expires_at"]["N"]) == (max(times) + RETENTION_MS) // 1000
        assert max(times) - min(times) <= packs.PACK_SPAN_MS
        assert item["lo"]["S"] == min(row[0] for row in packs.rows(item))
    assert sum(int(item[packs.COUNT]["N"]) for item in pack_items()) == len(written)


def test_an_expired_event_in_a_live_pack_is_not_returned(repo):
    written = write(repo, [make_event(message=str(n), timestamp_ms=NOW - n * 300, level=level)
                           for n in range(4) for level in ("INFO", "ERROR")])
    assert len(pack_items()) == 2
    now_ms = NOW - 900 + RETENTION_MS + 500  # the two oldest of each pack expired; the packs live on
    assert all(int(item["expires_at"]["N"]) > now_ms // 1000 for item in pack_items())
    live = {log_id: event for log_id, event in written.items() if event.timestamp_ms > now_ms - RETENTION_MS}
    assert len(live) == 4

    for view in ({}, {"service_name": "billing"}, {"level": "ERROR"}, {"min_level": "WARN"}):
        seen, _ = follow(repo, query(limit=1, since_ms=NOW - ev.DAY_MS, until_ms=now_ms, **view), now_ms)
        assert [event["log_id"] for event in seen] == true_order(live, **view), view


def test_until_cutting_through_a_pack_returns_the_events_at_or_before_it_and_none_after(repo):
    written = write(repo, [make_event(message=f"{level}{n}", timestamp_ms=NOW - n * 100, level=level)
                           for n in range(10) for level in ("INFO", "WARN")])
    assert len(pack_items()) == 2
    until = NOW - 500  # an event's time: it is in
    wanted = {log_id: event for log_id, event in written.items() if event.timestamp_ms <= until}

    for view in ({}, {"service_name": "billing"}, {"min_level": "WARN"}, {"level": "INFO"}):
        for limit in (2, 100):
            seen, _ = follow(repo, query(limit=limit, until_ms=until, **view), NOW)
            assert [event["log_id"] for event in seen] == true_order(wanted, **view), (view, limit)
            assert len(seen) == len(true_order(written, **view)) // 2


# --- the upgrade from one item per event --------------------------------------------------------

def layouts_interleaved(dynamodb, repo):
    """Events written before the upgrade and after it, at interleaved times, of the same services."""
    rng = random.Random(3)
    written = {}
    for layout, parity in ((old_layout(dynamodb), 0), (repo, 1)):
        for number in range(2):
            written.update(write(layout, [
                make_event(service=service, message=f"{parity}-{number}-{service}-{n}",
                           timestamp_ms=NOW - (2 * rng.randrange(600) + parity), level=rng.choice(LEVEL_MIX),
                           log_type=rng.choice(("audit", "application")))
                for service in ("billing", "auth") for n in range(6)]))
    return written


@pytest.mark.parametrize("limit", [1, 7, 50])
def test_events_of_both_layouts_read_merged_in_order_through_every_view(dynamodb, repo, limit):
    written = layouts_interleaved(dynamodb, repo)
    items = raw_items()
    assert 0 < len(pack_items()) < len(items) and len(items) - len(pack_items()) == 24

    for view in VIEWS if limit > 1 else VIEWS[:1]:
        assert_read_exactly(repo, written, limit, **view)


def old_events_and_a_cursor(dynamodb, repo):
    """300 events written before the upgrade, 2 ms apart, and a cursor issued by the first page of 250 of them
    (at ``NOW - 498``): it names no pack, there being none yet."""
    old = {}
    for number in range(3):
        old.update(write(old_layout(dynamodb), [make_event(message=f"old-{number}-{n}",
                                                           timestamp_ms=NOW - 2 * (number * 100 + n))
                                                for n in range(100)]))
    first = repo.recent(query(limit=250), NOW)
    assert [event["log_id"] for event in first.events] == true_order(old)[:250]
    return old, first.next_after


def test_a_cursor_issued_over_the_old_layout_alone_still_pages_exactly_after_packed_writes(dynamodb, repo):
    old, after = old_events_and_a_cursor(dynamodb, repo)
    # Packs above the cursor, and below it, at times between the old events' (none reaches across it).
    new = write(repo, [make_event(message=f"above-{n}", timestamp_ms=NOW - 2 * n - 1) for n in range(100)])
    new.update(write(repo, [make_event(message=f"below-{n}", timestamp_ms=NOW - 501 - 2 * n,
                                       level=("INFO", "ERROR")[n % 2]) for n in range(60)]))
    assert len(pack_items()) == 3

    for view in ({}, {"min_level": "WARN"}):
        seen, _ = follow(repo, query(limit=7, **view), NOW, after=after)
        below = {log_id: event for log_id, event in {**old, **new}.items() if log_id < after}
        assert [event["log_id"] for event in seen] == true_order(below, **view), view


def test_a_pack_written_after_a_cursor_and_reaching_below_it_is_returned_by_the_next_pages(dynamodb, repo):
    old, after = old_events_and_a_cursor(dynamodb, repo)
    # One pack from NOW - 401 down to NOW - 599: keyed above the cursor, with 51 events below it.
    new = write(repo, [make_event(message=f"across-{n}", timestamp_ms=NOW - 401 - 2 * n) for n in range(100)])
    assert len(pack_items()) == 1

    seen, _ = follow(repo, query(limit=7), NOW, after=after)

    below = {log_id: event for log_id, event in {**old, **new}.items() if log_id < after}
    assert [event["log_id"] for event in seen] == true_order(below)


# --- content ----------------------------------------------------------------------------------------

def test_a_pack_keeps_every_character_metadata_key_order_event_id_and_caller_of_each_event(repo):
    message = 'quote " backslash \\ tab \t newline \n nul \x00 bell \x07 emoji 😀🧵 CJK 日本語の記録 é'
    metadata = {"zeta": 1, "alpha": {"y": [1, "\\\""], "b": None}, "mid": "😀", "": "empty key"}
    mine = [
        make_event(message=message, metadata=metadata, timestamp_ms=NOW - 10),
        make_event(message="no metadata", timestamp_ms=NOW - 20),
        make_event(message="empty metadata", metadata={}, timestamp_ms=NOW - 30),
        make_event(message="otlp", event_id="0af7651916cd43dd8448eb211c80319c", timestamp_ms=NOW - 40),
    ]
    theirs = [make_event(message=f"theirs {n}", timestamp_ms=NOW - 15 - n * 10) for n in range(3)]
    mine_ids = write(repo, mine, content_ids=True)
    theirs_ids = write(repo, theirs, ingested_by=OTHER_ROLE, now_ms=NOW + 7)
    anonymous = write(repo, [make_event(message="anonymous", timestamp_ms=NOW - 5)], ingested_by=None)
    assert len(pack_items()) == 3

    seen = {event["log_id"]: event for event in repo.recent(query(), NOW + 7).events}

    assert len(seen) == 8
    by_message = {event["message"]: event for event in seen.values()}
    assert list(by_message[message]["metadata"]) == list(metadata)
    assert list(by_message[message]["metadata"]["alpha"]) == ["y", "b"]
    assert by_message[message]["metadata"] == metadata
    assert by_message["no metadata"]["metadata"] == {} and by_message["empty metadata"]["metadata"] == {}
    assert by_message["otlp"]["event_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert by_message[message]["event_id"] is None
    for log_id in mine_ids:
        assert (seen[log_id]["ingested_by"], seen[log_id]["ingested_at"]) == (WRITER, ev.format_time(NOW))
    for log_id in theirs_ids:
        assert (seen[log_id]["ingested_by"], seen[log_id]["ingested_at"]) == (OTHER_ROLE, ev.format_time(NOW + 7))
    (log_id,) = anonymous
    assert seen[log_id]["ingested_by"] is None


def test_two_identical_events_without_event_id_at_one_timestamp_in_one_request_are_both_stored(repo):
    twins = [make_event(message="twin"), make_event(message="twin")]
    written = write(repo, twins)

    seen = repo.recent(query(), NOW).events
    assert sorted(event["log_id"] for event in seen) == sorted(written) and len(seen) == 2
    again = repo.put_events(twins, WRITER, NOW + 1)
    assert [outcome.log_id for outcome in again] == list(written) and all(outcome.repeat for outcome in again)
    assert len(repo.recent(query(), NOW + 1).events) == 2
