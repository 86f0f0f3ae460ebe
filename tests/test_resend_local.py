"""Resends against the local stack, as the ingest and full-access roles would send them.

A resend never reads, replaces or resurrects anyone's event: it answers with
the first ``log_id`` and what this caller sent, stored events stay as they
were, and one role cannot take another role's ``event_id``.
"""
import configparser
import json
import time
import uuid

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from chalicelib.events import DAY_MS, format_time
from devtools.local_stack import running_stack
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.slow

CREDENTIALS = configparser.ConfigParser()
CREDENTIALS.read(ROOT / "local" / "aws-credentials")
RETENTION_DAYS = int(json.loads((ROOT / ".chalice" / "config.json").read_text())
                     ["stages"]["local"]["environment_variables"]["LOG_RETENTION_DAYS"])


@pytest.fixture(scope="module")
def stack():
    with running_stack(free_port(), free_port()) as url:
        yield url


def call(stack, profile, method, route, body=None, params=None):
    section = CREDENTIALS[profile]
    credentials = Credentials(section["aws_access_key_id"], section["aws_secret_access_key"])
    prepared = requests.Request(method, stack + route.lstrip("/"), params=params,
                                data=json.dumps(body).encode() if body is not None else None,
                                headers={"Content-Type": "application/json"} if body is not None else {}).prepare()
    signed = AWSRequest(method=method, url=prepared.url, data=prepared.body or b"",
                        headers={"Content-Type": "application/json"} if body is not None else {})
    SigV4Auth(credentials, "execute-api", "us-east-1").add_auth(signed)
    return requests.request(method, prepared.url, data=prepared.body, headers=dict(signed.headers.items()), timeout=60)


def post(stack, profile, event):
    response = call(stack, profile, "POST", "/logs", body=event)
    assert response.status_code == 201, response.text
    return response.json()


def stored(stack, service_name):
    response = call(stack, "slog-full", "GET", "/logs/recent", params={"service_name": service_name, "limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["logs"]


def fresh_service():
    return f"resend-{uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize("with_timestamp", [False, True])
def test_an_ingest_resend_of_anothers_event_id_reads_nothing_and_loses_nothing(stack, with_timestamp):
    service_name = fresh_service()
    event = {"service_name": service_name, "level": "INFO", "event_id": "inv-42"}
    if with_timestamp:
        event["timestamp"] = format_time(int(time.time() * 1000) - 60_000)
    theirs = post(stack, "slog-full", {**event, "message": "full's secret", "metadata": {"card": "4111"}})

    mine = post(stack, "slog-ingest", {**event, "message": "ingest's own"})

    assert mine["message"] == "ingest's own" and mine["metadata"] == {}
    assert "log-ingest" in mine["ingested_by"] and mine["log_id"] != theirs["log_id"]
    assert {(e["log_id"], e["message"]) for e in stored(stack, service_name)} == {
        (theirs["log_id"], "full's secret"), (mine["log_id"], "ingest's own")}


@pytest.mark.parametrize("with_timestamp", [False, True])
def test_a_resend_with_other_content_changes_nothing_stored(stack, with_timestamp):
    service_name = fresh_service()
    event = {"service_name": service_name, "level": "INFO", "event_id": "order-7"}
    if with_timestamp:
        event["timestamp"] = int(time.time() * 1000) - 60_000
    first = post(stack, "slog-ingest", {**event, "message": "the real one", "metadata": {"n": 1}})

    again = call(stack, "slog-ingest", "POST", "/logs", body={**event, "message": "x"})

    assert again.status_code == 409 and again.json()["Message"].startswith("event_id: ")
    same = post(stack, "slog-ingest", {**event, "message": "the real one", "metadata": {"n": 1}})
    assert same["log_id"] == first["log_id"] and same["timestamp"] == first["timestamp"]
    (kept,) = stored(stack, service_name)
    assert kept == first


def test_an_event_past_retention_cannot_be_resent(stack):
    service_name = fresh_service()
    too_old = int(time.time() * 1000) - RETENTION_DAYS * DAY_MS - 60_000

    response = call(stack, "slog-ingest", "POST", "/logs", body={
        "service_name": service_name, "level": "INFO", "message": "old", "event_id": "e", "timestamp": too_old})

    assert response.status_code == 400 and response.json()["Message"].startswith("timestamp: ")
    assert stored(stack, service_name) == []
