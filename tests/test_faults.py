"""Fault injection: DynamoDB throttles, hands items back unprocessed, and times out, often.

The faults are injected into the very botocore client the service uses, with
its own events: ``before-send`` (first in line, ahead of moto) answers with a
throttling error, fails to connect, or lets moto apply the write and then
loses the response (a read timeout after the fact, the nasty case);
``provide-client-params`` / ``after-call`` hold back part of a BatchWriteItem
and return it as ``UnprocessedItems``, as DynamoDB does under load. botocore's
own retries (standard mode, as configured in ``chalicelib.aws``) and the
repository's run for real; only their sleeping is skipped.
"""
import json
import random
import threading
import types
from collections import Counter

import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from moto.core.models import botocore_stubber

from chalicelib import aws, service, settings
from chalicelib.repository import LogRepository
from tests.conftest import TABLE_NAME

EVENTS = 2000
BATCH = 500
SERVICES = ("checkout", "search", "billing")


class _Body:
    def __init__(self, payload):
        self._payload = payload

    def stream(self, **_):
        yield self._payload


class FaultInjector:
    """Makes a DynamoDB client unreliable at fixed rates; counts what it did."""

    def __init__(self, seed, throttle=0.25, connect_timeout=0.1, lost_response=0.1, unprocessed=0.3):
        self.rates = {"throttle": throttle, "connect_timeout": connect_timeout, "lost_response": lost_response}
        self.unprocessed = unprocessed
        self.enabled = True
        self.counts = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def attach(self, client):
        client.meta.events.register_first("before-send.dynamodb", self._before_send)
        client.meta.events.register("provide-client-params.dynamodb.BatchWriteItem", self._hold_back)
        client.meta.events.register("after-call.dynamodb.BatchWriteItem", self._hand_back)
        client.meta.events.register("provide-client-params.dynamodb.BatchGetItem", self._hold_back_keys)
        client.meta.events.register("after-call.dynamodb.BatchGetItem", self._hand_back_keys)

    def _draw(self):
        with self._lock:
            return self._rng.random()

    def _before_send(self, request, **_):
        if not self.enabled:
            return None
        draw = self._draw()
        if draw < self.rates["throttle"]:
            self.counts["throttle"] += 1
            body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                               "message": "injected: rate of requests exceeds the allowed throughput"})
            return AWSResponse(request.url, 400, {"content-type": "application/x-amz-json-1.0"},
                               _Body(body.encode()))
        draw -= self.rates["throttle"]
        if draw < self.rates["connect_timeout"]:
            self.counts["connect_timeout"] += 1
            raise ConnectTimeoutError(endpoint_url=request.url)
        draw -= self.rates["connect_timeout"]
        if draw < self.rates["lost_response"]:
            self.counts["lost_response"] += 1
            botocore_stubber("before-send", request)
            raise ReadTimeoutError(endpoint_url=request.url)
        return None

    def _hold_back(self, params, context, **_):
        if not self.enabled:
            return
        held, kept = {}, {}
        for table, requests in params["RequestItems"].items():
            keep = [request for request in requests if self._draw() >= self.unprocessed] or requests[:1]
            kept[table] = keep
            held[table] = [request for request in requests if request not in keep]
        params["RequestItems"] = kept
        context["held_back"] = held
        self.counts["unprocessed_items"] += sum(len(requests) for requests in held.values())

    def _hold_back_keys(self, params, context, **_):
        if not self.enabled:
            return
        held = {}
        for table, request in params["RequestItems"].items():
            keep = [key for key in request["Keys"] if self._draw() >= self.unprocessed] or request["Keys"][:1]
            held[table] = {**request, "Keys": [key for key in request["Keys"] if key not in keep]}
            request["Keys"] = keep
        context["held_keys"] = held
        self.counts["unprocessed_keys"] += sum(len(request["Keys"]) for request in held.values())

    def _hand_back_keys(self, http_response, parsed, context, **_):
        held = {table: request for table, request in context.get("held_keys", {}).items() if request["Keys"]}
        if http_response.status_code == 200 and held:
            parsed.setdefault("UnprocessedKeys", {}).update(held)

    def _hand_back(self, http_response, parsed, context, **_):
        held = {table: requests for table, requests in context.get("held_back", {}).items() if requests}
        if http_response.status_code == 200 and held:
            unprocessed = parsed.setdefault("UnprocessedItems", {})
            for table, requests in held.items():
                unprocessed.setdefault(table, []).extend(requests)


@pytest.fixture
def flaky(api, monkeypatch):
    """The app's DynamoDB client made unreliable; retries run without sleeping."""
    client = aws.client("dynamodb")
    injector = FaultInjector(seed=20261128)
    injector.attach(client)
    repository = LogRepository(client, TABLE_NAME, settings.retention_days(), settings.service_shards(),
                               settings.timeline_shards(), max_attempts=3, sleep=lambda seconds: None)
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=lambda seconds: None))
    cached = service.repository
    service.repository = lambda: repository
    yield injector
    service.repository = cached


def _events(count, now_ms=None):
    """Events with event_ids; with ``now_ms``, every other one carries its own timestamp (the derived-key
    path) and the rest are stamped by the service (the claim path)."""
    rng = random.Random(5)
    events = [
        {"service_name": rng.choice(SERVICES), "level": "INFO", "message": f"event {number} " + "x" * 120,
         "event_id": f"evt-{number:06d}", "metadata": {"n": number}}
        for number in range(count)
    ]
    if now_ms is not None:
        for number, event in enumerate(events[::2]):
            event["timestamp"] = now_ms - 60_000 + number
    return events


def _post(api, events):
    """``{event_id: log_id or None}`` and ``{event_id: rejection}`` for one batch."""
    response = api.http.post("/logs", body=json.dumps({"logs": events}), headers={"content-type": "application/json"})
    body = response.json_body
    if response.status_code == 503:
        assert response.headers.get("Retry-After")
        return {event["event_id"]: None for event in events}, {
            event["event_id"]: {"retryable": True, "Code": "ServiceUnavailableError"} for event in events}
    assert response.status_code in (201, 207), body
    rejected = {events[rejection["index"]]["event_id"]: rejection for rejection in body["rejected"]}
    return {event["event_id"]: log_id for event, log_id in zip(events, body["log_ids"], strict=True)}, rejected


def _stored(dynamodb):
    """Every event item in the table (claims left out), read with moto's Scan: a test, not the service."""
    items, request = [], {"TableName": TABLE_NAME}
    while True:
        page = dynamodb.scan(**request)
        items.extend(item for item in page["Items"] if item["pk"]["S"].startswith("S#"))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _by_event_id(items):
    found = {}
    for item in items:
        found.setdefault(item["event_id"]["S"], []).append(item)
    return found


@pytest.mark.slow
def test_under_heavy_faults_no_accepted_event_is_lost_or_doubled_and_resending_completes(api, dynamodb, flaky):
    events = _events(EVENTS, service.now_ms())
    by_id = {event["event_id"]: event for event in events}

    accepted, rejected = {}, {}
    for start in range(0, EVENTS, BATCH):
        log_ids, rejections = _post(api, events[start:start + BATCH])
        accepted.update({event_id: log_id for event_id, log_id in log_ids.items() if log_id is not None})
        rejected.update(rejections)

    # Events with event_ids are read for, then written one by one: DynamoDB hands back keys, not items.
    assert {"throttle", "connect_timeout", "lost_response", "unprocessed_keys"} <= set(flaky.counts)
    assert accepted and rejected, "the faults should leave some events stored and some not"
    assert set(accepted) | set(rejected) == set(by_id)
    assert not set(accepted) & set(rejected)
    assert all(rejection["retryable"] and rejection["Code"] == "ServiceUnavailableError"
               for rejection in rejected.values())

    stored = _by_event_id(_stored(dynamodb))
    assert all(len(copies) == 1 for copies in stored.values()), "an event was stored twice"
    for event_id, log_id in accepted.items():
        assert event_id in stored, f"accepted event {event_id} was lost"
        assert stored[event_id][0]["sk"]["S"] == log_id
        assert stored[event_id][0]["message"]["S"] == by_id[event_id]["message"]

    # The client resends exactly the retryable events, same event_ids, until none is left. An event with an
    # event_id now needs up to three calls to get through (its claim, a read, a conditional put), each faulted
    # at the rates above, and once botocore's retry quota is spent a call gets one attempt: 40 rounds left one
    # event of a few hundred behind in 2 of about 12 runs on a loaded machine. Rounds end when none is left.
    pending = sorted(rejected)
    for _ in range(200):
        if not pending:
            break
        still = []
        for start in range(0, len(pending), BATCH):
            log_ids, rejections = _post(api, [by_id[event_id] for event_id in pending[start:start + BATCH]])
            assert all(rejection["retryable"] for rejection in rejections.values())
            accepted.update({event_id: log_id for event_id, log_id in log_ids.items() if log_id is not None})
            still.extend(rejections)
        pending = sorted(still)
    assert not pending, f"{len(pending)} events never got stored"

    flaky.enabled = False
    stored = _by_event_id(_stored(dynamodb))
    assert set(stored) == set(by_id)
    assert all(len(copies) == 1 for copies in stored.values()), "an event was stored twice"
    assert {event_id: copies[0]["sk"]["S"] for event_id, copies in stored.items()} == accepted
    assert all(copies[0]["message"]["S"] == by_id[event_id]["message"] for event_id, copies in stored.items())


def _claims(dynamodb):
    page = dynamodb.scan(TableName=TABLE_NAME)
    return {item["pk"]["S"]: item for item in page["Items"] if item["pk"]["S"].startswith("E#")}


def test_an_event_whose_claim_was_stored_behind_lost_responses_keeps_its_log_id_when_resent(api, dynamodb, flaky):
    flaky.rates = {"throttle": 0.0, "connect_timeout": 0.0, "lost_response": 1.0}
    flaky.unprocessed = 0.0
    event = _events(1)[0]

    log_ids, rejections = _post(api, [event])
    assert log_ids == {event["event_id"]: None} and rejections[event["event_id"]]["retryable"]
    (claim,) = _claims(dynamodb).values()
    claimed_log_id = claim["log_id"]["S"]
    assert not _stored(dynamodb)

    flaky.enabled = False
    log_ids, rejections = _post(api, [event])
    stored = _by_event_id(_stored(dynamodb))[event["event_id"]]
    assert not rejections
    assert len(stored) == 1
    assert log_ids[event["event_id"]] == stored[0]["sk"]["S"] == claimed_log_id
