"""The slog client and CLI against the real local stack (``make run``'s, with SigV4 enforced).

The CLI runs with nothing but ``SLOG_ENDPOINT`` and
``AWS_SHARED_CREDENTIALS_FILE=local/aws-credentials`` set, as a user would.
"""
import contextlib
import http.server
import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from rich.console import Console
from rich.text import Text
from slog import cli, render
from slog import client as slog_client
from slog import otel as slog_otel
from slog.client import LogClient
from slog.config import _sts_client, build_target, region_for, resolve_endpoint
from slog.errors import ApiError, SlogError
from slog.sender import Line, Sender, batches, events_from_lines

from tests.conftest import ROOT

OUTPUTS = json.loads((ROOT / "local" / "outputs.json").read_text())


@pytest.fixture
def user_env(monkeypatch, local_stack, tmp_path):
    """Only SLOG_ENDPOINT and the local credentials file: no keys in the environment, no profile."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLOG_ENDPOINT", local_stack)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(ROOT / "local" / "aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", local_stack + "_local/sts")
    return local_stack


def run(*argv, terminal=False, err_terminal=False):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out=Console(file=out, width=200, force_terminal=terminal, soft_wrap=True),
                    err=Console(file=err, width=200, force_terminal=err_terminal, soft_wrap=True))
    return code, out.getvalue(), err.getvalue()


def read_back(service, limit=100):
    code, out, err = run("recent", "--service", service, "--limit", str(limit), "--json")
    assert code == 0, err
    return json.loads(out)


def service_name():
    return f"cli-{uuid.uuid4().hex[:8]}"


# --- send and read back -----------------------------------------------------------

def test_send_one_event_and_read_it_back_as_json(user_env):
    service = service_name()

    code, out, err = run("send", "--service", service, "--level", "warn", "--type", "audit",
                         "--metadata", '{"request_id": "r-1"}', "disk almost full")

    assert code == 0, err
    log_id = out.strip()
    body = read_back(service)
    assert body["count"] == 1 and set(body) >= {"count", "logs", "next_cursor"}
    (event,) = body["logs"]
    assert event["log_id"] == log_id
    assert (event["level"], event["log_type"], event["message"]) == ("WARN", "audit", "disk almost full")
    assert event["metadata"] == {"request_id": "r-1"}
    assert event["ingested_by"].endswith(":assumed-role/simple-log-service-local-log-full-access/local")


def test_search_finds_a_phrase_a_trace_and_an_attribute_through_the_local_stack(user_env):
    service = service_name()
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    for message, metadata in (("payment failed for order-8812", {"trace_id": trace, "request_id": "r-77"}),
                              ("payment ok for order-8813", {"request_id": "r-78"}), ("unrelated", None)):
        code, _, err = run("send", "--service", service, *(["--metadata", json.dumps(metadata)] if metadata else []),
                           message)
        assert code == 0, err

    def found(*argv):
        code, out, err = run("search", "--service", service, "--json", *argv)
        assert code == 0, err
        assert "scanned" in err
        return [json.loads(line)["message"] for line in out.splitlines()]

    assert found('"PAYMENT FAILED"') == ["payment failed for order-8812"]
    assert found("payment", "order-881") == ["payment ok for order-8813", "payment failed for order-8812"]
    assert found("--trace-id", trace.upper()) == ["payment failed for order-8812"]
    assert found("--attr", "request_id=r-78") == ["payment ok for order-8813"]


def test_send_file_of_json_and_text_lines_reports_the_bad_line_and_fails(user_env, tmp_path):
    service = service_name()
    path = tmp_path / "events.log"
    path.write_text("\n".join([
        json.dumps({"message": "json line", "level": "error", "metadata": {"k": 1}}),
        "plain text line",
        "",
        json.dumps({"message": "bad level", "level": "LOUD"}),
        json.dumps({"message": "other service", "service_name": f"{service}-b"}),
    ]) + "\n")

    code, out, err = run("send", "--file", str(path), "--service", service)

    assert code == 1
    assert "3 accepted, 1 rejected" in out
    assert "line 4: BadRequestError: level" in err
    messages = {event["message"]: event for event in read_back(service)["logs"]}
    assert set(messages) == {"json line", "plain text line"}
    assert messages["json line"]["level"] == "ERROR" and messages["plain text line"]["level"] == "INFO"
    assert read_back(f"{service}-b")["count"] == 1


def test_sending_the_same_file_again_stores_nothing_new(user_env, tmp_path):
    service = service_name()
    own_time = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    path = tmp_path / "events.log"
    path.write_text("".join(f"event {i}\n" for i in range(30))
                    + "".join(json.dumps({"message": f"json {i}"}) + "\n" for i in range(5))
                    + "".join(json.dumps({"message": f"timed {i}", "timestamp": own_time}) + "\n" for i in range(5)))

    first = run("send", "--file", str(path), "--service", service)
    second = run("send", "--file", str(path), "--service", service, "--json")

    assert first[0] == 0 and second[0] == 0
    assert json.loads(second[1])["accepted"] == 40
    assert read_back(service)["count"] == 40


def test_a_file_of_thousands_of_lines_goes_in_batches_and_reads_back_across_pages(user_env, tmp_path):
    service = service_name()
    path = tmp_path / "bulk.log"
    path.write_text("".join(json.dumps({"message": f"bulk {i}", "level": "debug"}) + "\n" for i in range(1200)))

    code, out, err = run("send", "--file", str(path), "--service", service)
    body = read_back(service, limit=1500)

    assert code == 0, err
    assert "1200 accepted, 0 rejected" in out
    assert body["count"] == 1200
    assert {event["message"] for event in body["logs"]} == {f"bulk {i}" for i in range(1200)}


def test_recent_prints_one_line_per_event_with_coloured_levels(user_env):
    service = service_name()
    run("send", "--service", service, "--level", "error", "it broke")

    code, out, _ = run("recent", "--service", service, "--since", "10m", terminal=True)

    assert code == 0
    assert "it broke" in out and "ERROR" in out
    assert "\x1b[1;31mERROR" in out  # bold red


def test_tail_shows_events_oldest_first_and_each_once(user_env):
    service = service_name()
    for message in ("first", "second"):
        run("send", "--service", service, message)

    code, out, _ = run("tail", "--service", service, "--interval", "0.01", "--max-polls", "2", "--json")

    assert code == 0
    assert [json.loads(line)["message"] for line in out.splitlines()] == ["first", "second"]


def test_tail_prints_one_compact_line_per_event(user_env):
    service = service_name()
    run("send", "--service", service, "--level", "error", "--metadata", '{"k": 1, "request_id": "r-1"}', "it failed")
    run("send", "--service", service, "--type", "audit", "audited")

    code, out, _ = run("tail", "--service", service, "--interval", "0.01", "--max-polls", "1")

    assert code == 0
    failed, audited = out.splitlines()
    assert failed.endswith(f" ERROR {service} it failed request_id=r-1")
    assert audited.endswith(f" INFO  {service} [audit] audited")


# --- who and where ----------------------------------------------------------------

def test_a_role_lacking_the_route_is_one_clear_line(user_env):
    code, out, err = run("send", "--profile", "slog-read", "hello")

    assert code == 2
    assert err.strip() == ("slog: error: access denied (403): role simple-log-service-local-log-read "
                           f"is not allowed to call POST {user_env}logs")
    assert "Traceback" not in err and out == ""


def test_role_arn_and_external_id_assume_a_role_through_the_local_sts(user_env):
    read_role = ["--role-arn", OUTPUTS["log_read_role_arn"]["value"],
                 "--external-id", OUTPUTS["read_external_id"]["value"]]

    allowed = run("recent", "--json", *read_role)
    refused = run("send", "hello", *read_role)
    wrong_id = run("recent", "--role-arn", OUTPUTS["log_read_role_arn"]["value"], "--external-id", "nope")

    assert allowed[0] == 0 and "logs" in json.loads(allowed[1])
    assert refused[0] == 2 and f"local-log-read is not allowed to call POST {user_env}logs" in refused[2]
    assert wrong_id[0] == 2 and "cannot assume role" in wrong_id[2]


def test_loopback_endpoint_without_credentials_uses_the_local_full_profile(user_env, monkeypatch, tmp_path):
    (tmp_path / "empty").write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "empty"))

    code, _, err = run("send", "--service", service_name(), "no credentials configured")

    assert code == 0, err


def test_endpoint_from_an_outputs_file(user_env, monkeypatch, tmp_path):
    monkeypatch.delenv("SLOG_ENDPOINT")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"api_endpoint": {"value": user_env.rstrip("/"), "sensitive": False}}))

    code, out, err = run("recent", "--outputs", str(outputs), "--limit", "1", "--json")

    assert code == 0, err
    assert "count" in json.loads(out)


@pytest.mark.parametrize("argv, message", [
    (["recent"], "no endpoint"),
    (["recent", "--endpoint", "ftp://x"], "not an http(s) URL"),
    (["recent", "--outputs", "/nonexistent/outputs.json"], "cannot read outputs file"),
    (["send"], "give either MESSAGE or --file"),
    (["send", "--metadata", "[1]", "x", "--endpoint", "http://127.0.0.1:9/"], "--metadata must be a JSON object"),
    (["recent", "--endpoint", "http://127.0.0.1:9/"], "cannot reach"),
])
def test_usage_and_connection_errors_are_one_line(monkeypatch, argv, message):
    monkeypatch.delenv("SLOG_ENDPOINT", raising=False)

    code, _, err = run(*argv)

    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_queries_are_signed_exactly_as_sent(user_env):
    client = LogClient(build_target())
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()  # "+00:00": a plus and colons to encode

    page = client.recent_page(service_name="team/a:b.c-d_e", since=since, log_type="x:y", limit=1)

    assert page["logs"] == [] and page["next_cursor"] is None


def test_a_value_with_a_space_gets_the_apis_answer_not_a_signature_refusal(user_env):
    code, _, err = run("recent", "--service", "two words")

    assert code == 2 and "(400 BadRequestError): service_name: " in err


def test_roles_are_assumed_where_botocore_is_configured_to_reach_sts(monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ENDPOINT_URL_STS", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    local = build_target(endpoint="http://127.0.0.1:8000/")

    assert _sts_client(local).meta.endpoint_url == "https://sts.us-east-1.amazonaws.com"
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:8000/_local/sts")
    assert _sts_client(build_target(endpoint="http://127.0.0.1:8000/")).meta.endpoint_url == \
        "http://127.0.0.1:8000/_local/sts"


def test_signing_region_comes_from_the_endpoint():
    assert region_for("https://abc123.execute-api.eu-west-2.amazonaws.com/api/") == "eu-west-2"
    assert region_for("http://127.0.0.1:8000/") == "us-east-1"
    assert region_for("https://logs.example.com/", explicit="ap-south-1") == "ap-south-1"


# --- what goes on the wire, against a stub API ------------------------------------------

STUB = "http://127.0.0.1:9/"
ISO_MS_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")
ISO_US_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")


@pytest.fixture
def local_keys(monkeypatch, tmp_path):
    """The local stack's keys, and nothing else of the environment: no keys, profile or endpoint."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "SLOG_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(ROOT / "local" / "aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))


@pytest.fixture
def stub(monkeypatch, local_keys):
    """A stub API on a loopback endpoint (no server: ``responses``), signed for with the local keys."""
    monkeypatch.setenv("SLOG_ENDPOINT", STUB)
    with responses.RequestsMock() as mock:
        yield mock


def sent(stub):
    return [json.loads(call.request.body) for call in stub.calls]


def accept_batch(request):
    count = len(json.loads(request.body)["logs"])
    return 201, {}, json.dumps({"accepted": count, "rejected": [], "log_ids": ["x"] * count})


def test_send_stamps_the_event_once_and_resends_it_unchanged(stub):
    stub.post(STUB + "logs", status=503, headers={"Retry-After": "0"},
              json={"Code": "ServiceUnavailableError", "Message": "busy"})
    stub.post(STUB + "logs", status=201, json={"log_id": "01KXAMPLE"})
    before = datetime.now(UTC).replace(microsecond=0)

    code, out, err = run("send", "--service", "svc", "hello")

    assert code == 0, err
    assert out.strip() == "01KXAMPLE"
    first, resent = sent(stub)
    assert resent == first
    assert ISO_MS_UTC.match(first["timestamp"])
    assert before <= datetime.fromisoformat(first["timestamp"]) <= datetime.now(UTC)


def test_lines_from_stdin_come_back_in_the_order_they_were_read(user_env, monkeypatch):
    service = service_name()
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"step {n}\n" for n in range(1, 11))))

    code, _, err = run("send", "--file", "-", "--service", service)

    assert code == 0, err
    assert [event["message"] for event in read_back(service)["logs"]] == [f"step {n}" for n in range(10, 0, -1)]


def test_lines_from_stdin_are_stamped_once_and_lines_of_a_file_are_not(stub, monkeypatch, tmp_path):
    stub.add_callback(responses.POST, STUB + "logs", callback=accept_batch)
    own = "2026-01-02T03:04:05.678Z"  # fixed: a line's own timestamp is sent as written (the stub stores nothing)
    text = "plain\n" + json.dumps({"message": "json"}) + "\n" + json.dumps({"message": "t", "timestamp": own}) + "\n"
    path = tmp_path / "app.log"
    path.write_text(text)
    monkeypatch.setattr("sys.stdin", io.StringIO(text))

    from_stdin = run("send", "--file", "-")
    from_file = run("send", "--file", str(path))

    assert from_stdin[0] == from_file[0] == 0
    stdin_events, file_events = (body["logs"] for body in sent(stub))
    stamps = [event["timestamp"] for event in stdin_events[:2]]
    assert all(ISO_US_UTC.match(stamp) for stamp in stamps) and stamps[0] < stamps[1]
    assert [event.get("timestamp") for event in stdin_events] == [*stamps, own]
    assert [event.get("timestamp") for event in file_events] == [None, None, own]


# --- pages: followed until the limit, however short ---------------------------------------

def page_of(count, cursor, start=0):
    return {"count": count, "next_cursor": cursor,
            "logs": [{"log_id": f"01PAGE{start + i:04d}", "service_name": "svc", "level": "ERROR",
                      "message": f"m{start + i}"} for i in range(count)]}


def asked(call):
    return dict(parse_qsl(urlsplit(call.request.url).query))


def test_recent_follows_the_cursor_past_short_and_empty_pages_until_it_has_the_limit(stub):
    for page in (page_of(2, "c1"), page_of(0, "c2", 2), page_of(2, "c3", 2), page_of(1, "c4", 4)):
        stub.get(STUB + "logs/recent", json=page)

    result = LogClient(build_target()).recent(limit=5, service_name="svc", min_level="ERROR")

    assert [event["message"] for event in result["logs"]] == ["m0", "m1", "m2", "m3", "m4"]
    assert [asked(call) for call in stub.calls] == [
        {"limit": "5", "service_name": "svc", "min_level": "ERROR"},
        {"limit": "3", "cursor": "c1"}, {"limit": "3", "cursor": "c2"}, {"limit": "1", "cursor": "c3"}]
    assert result["next_cursor"] == "c4"


def test_recent_stops_when_the_cursor_runs_out(stub):
    for page in (page_of(1, "c1"), page_of(0, None, 1)):
        stub.get(STUB + "logs/recent", json=page)

    result = LogClient(build_target()).recent(limit=10)

    assert result == {"count": 1, "logs": page_of(1, None)["logs"], "next_cursor": None}


@pytest.mark.parametrize("argv, reads", [(["recent", "--json"], 1),
                                         (["tail", "--max-polls", "1", "--interval", "0", "--json"], 3)])
def test_min_level_is_passed_to_the_service_as_given(stub, argv, reads):
    for _ in range(reads):
        stub.get(STUB + "logs/recent", json=page_of(0, None))

    code, _, err = run(*argv, "--min-level", "warning", "--service", "svc")

    assert code == 0, err
    assert all(asked(call)["min_level"] == "warning" for call in stub.calls)


# --- log content never drives the reader's terminal ---------------------------------------

FIXED_DAY = "2026-11-30"  # stub events only: no reader needs them to be recent
HOSTILE = (f"title\x1b]0;pwned\x07 clear\x1b[2J\x1b[H newline\n{FIXED_DAY}T00:00:00.000Z FATAL fake line "
           "[link=https://evil.example]click[/link] [/oops] csi\x9b31m rtl\u202etxt.exe")


def hostile_page(count=2):
    events = [{"log_id": f"01HOSTILE{i}", "timestamp": f"{FIXED_DAY}T10:00:0{i}.000Z", "service_name": "svc",
               "level": "ERROR", "log_type": "app\x1b[5m", "message": f"{i}: {HOSTILE}",
               "metadata": {"k\x1b": "v\x1b]8;;x\x07", "c1": "\x9b"}} for i in range(count)]
    return {"count": count, "logs": events, "next_cursor": None}


def assert_inert(out):
    for sequence in ("\x1b]", "\x1b[2J", "\x1b[H", "\x1b[5m", "\x07", "\x9b", "\u202e"):
        assert sequence not in out, repr(sequence)
    assert "\\x1b]0;pwned\\x07" in out and "\\x9b31m" in out and "\\u202etxt" in out
    assert "[link=https://evil.example]click[/link] [/oops]" in out


@pytest.mark.parametrize("argv, terminal", [
    (["recent"], True),
    (["recent"], False),
    (["tail", "--max-polls", "0"], True),
])
def test_events_print_as_inert_text_with_controls_made_visible(stub, argv, terminal):
    stub.get(STUB + "logs/recent", json=hostile_page())

    code, out, err = run(*argv, terminal=terminal)

    assert code == 0, err
    assert_inert(out)


def test_piped_recent_prints_one_whole_line_per_event_newest_first(stub):
    stub.get(STUB + "logs/recent", json=hostile_page(3))

    code, out, _ = run("recent", "--all-fields")

    lines = out.splitlines()
    assert code == 0 and len(lines) == 3
    assert [line.split(" ", 1)[0] for line in lines] == [f"{FIXED_DAY}T10:00:0{i}.000Z" for i in range(3)]
    assert all("ERROR svc [app\\x1b[5m] " in line and line.endswith(" k\\x1b=v\\x1b]8;;x\\x07 c1=\\x9b")
               for line in lines)


def test_json_output_is_exact_and_still_inert(stub):
    page = hostile_page()
    stub.get(STUB + "logs/recent", json=page)

    code, out, _ = run("recent", "--json")

    assert code == 0 and json.loads(out) == page
    assert not any(char in out for char in "\x1b\x07\x9b\u202e")


def test_a_service_error_message_prints_inert_on_one_line(stub):
    stub.get(STUB + "logs/recent", status=400, json={"Code": "BadRequestError", "Message": "bad\n\x1b[2J[/x]"})

    code, _, err = run("recent")

    assert code == 2
    assert err.strip() == f"slog: error: GET {STUB}logs/recent failed (400 BadRequestError): bad\\n\\x1b[2J[/x]"


# --- batching and retries, without a server --------------------------------------------

def test_the_client_keeps_to_the_services_limits():
    from chalicelib import events, query

    assert (slog_client.MAX_BATCH_EVENTS, slog_client.MAX_BODY_BYTES, slog_client.MAX_PAGE) == \
        (events.MAX_BATCH, events.MAX_BODY_BYTES, query.MAX_LIMIT)


def test_batches_stay_within_the_event_and_byte_limits():
    lines = [Line({"message": "x" * 1000, "event_id": str(i)}) for i in range(2500)]

    sized = list(batches(lines, max_events=1000, max_bytes=300_000))

    assert sum(len(batch) for batch in sized) == 2500
    for batch in sized:
        assert len(batch) <= 1000
        assert len(json.dumps({"logs": [line.event for line in batch]}, separators=(",", ":"))) <= 300_000


def test_file_lines_get_stable_event_ids_and_defaults():
    defaults = {"service_name": "svc", "level": "INFO", "log_type": None}

    first = list(events_from_lines(['{"message": "a", "event_id": "mine"}\n', "b\n", "\n", "{not json\n"],
                                   defaults, "abc"))
    again = list(events_from_lines(["b\n"], defaults, "abc"))

    assert [line.event["event_id"] for line in first] == ["mine", "slog-abc-2", "slog-abc-4"]
    assert first[1].event == {"service_name": "svc", "level": "INFO", "message": "b", "event_id": "slog-abc-2"}
    assert first[2].event["message"] == "{not json"
    assert again[0].event["event_id"] == "slog-abc-1"


class FakeClient:
    """Answers scripted responses to send_batch and records what was sent."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.sent = []

    def send_batch(self, events):
        self.sent.append([event["event_id"] for event in events])
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer(events)


def accept_all(events):
    return 201, {"accepted": len(events), "rejected": [], "log_ids": ["x"] * len(events)}


def throttle_first(events):
    rejected = [{"index": 0, "Code": "ServiceUnavailableError", "Message": "throttled", "retryable": True}]
    return 207, {"accepted": len(events) - 1, "rejected": rejected, "log_ids": [None] + ["x"] * (len(events) - 1)}


def test_retryable_rejections_are_resent_with_the_same_event_ids():
    client = FakeClient([throttle_first, ApiError(503, "ServiceUnavailableError", "busy", "POST", "/logs"),
                         accept_all])
    delays = []
    lines = [Line({"message": str(i), "event_id": f"e{i}"}, i + 1) for i in range(3)]

    summary = Sender(client, sleep=delays.append).send(lines)

    assert summary.ok and summary.accepted == 3 and summary.retries == 2
    assert client.sent == [["e0", "e1", "e2"], ["e0"], ["e0"]]
    assert delays == sorted(delays) and len(delays) == 2



def test_a_batch_answered_503_waits_at_least_its_retry_after_before_it_is_resent():
    busy = ApiError(503, "ServiceUnavailableError", "busy", "POST", "/logs", retry_after=7.0)
    client = FakeClient([busy, accept_all])
    delays = []

    summary = Sender(client, sleep=delays.append).send([Line({"message": "m", "event_id": "e0"}, 1)])

    assert summary.ok and client.sent == [["e0"], ["e0"]]
    assert delays == [7.0]

def test_rejections_still_retryable_after_every_attempt_count_as_rejected():
    client = FakeClient([throttle_first] * 3)
    lines = [Line({"message": str(i), "event_id": f"e{i}"}, i + 1) for i in range(2)]

    summary = Sender(client, attempts=3, sleep=lambda s: None).send(lines)

    assert not summary.ok
    assert [(r.line_no, r.code) for r in summary.rejected] == [(1, "ServiceUnavailableError")]


def test_reads_are_made_again_after_throttling_waiting_at_least_retry_after(stub):
    stub.get(STUB + "logs/recent", status=503, headers={"Retry-After": "3"},
             json={"Code": "ServiceUnavailableError", "Message": "busy"})
    stub.get(STUB + "logs/recent", status=429, json={"Code": "THROTTLED", "Message": "slow down"})
    stub.get(STUB + "logs/recent", json={"count": 0, "logs": [], "next_cursor": None})
    waits = []

    page = LogClient(build_target(), sleep=waits.append).recent_page(limit=5)

    assert page["logs"] == [] and len(stub.calls) == 3
    assert waits[0] == 3.0 and 0 < waits[1] < 3.0


def test_a_refused_event_is_not_resent(stub):
    stub.post(STUB + "logs", status=400, json={"Code": "BadRequestError", "Message": "level: missing"})

    with pytest.raises(ApiError):
        LogClient(build_target(), sleep=lambda s: None).send_event({"message": "m", "event_id": "e-1"})
    assert len(stub.calls) == 1


def test_an_event_without_event_id_is_sent_once_even_after_a_503(stub):
    stub.post(STUB + "logs", status=503, headers={"Retry-After": "0"},
              json={"Code": "ServiceUnavailableError", "Message": "busy"})

    with pytest.raises(ApiError) as raised:
        LogClient(build_target(), sleep=lambda s: None).send_event({"message": "m"})
    assert raised.value.status == 503 and len(stub.calls) == 1


def test_a_forbidden_batch_stops_the_send():
    client = FakeClient([ApiError(403, "AccessDeniedException", "no", "POST", "/logs")])

    with pytest.raises(ApiError):
        Sender(client, sleep=lambda s: None).send([Line({"message": "m", "event_id": "e"})])


def test_library_use_reports_api_errors_with_status(user_env):
    client = LogClient(build_target())

    with pytest.raises(ApiError) as raised:
        client.send_event({"service_name": "x", "level": "INFO"})

    assert raised.value.status == 400 and "message" in raised.value.message
    with pytest.raises(SlogError):
        client.recent_page(limit=0)


# --- where requests may go: no redirects, https unless loopback (issue 25, item 9) ----------------------

class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with ``self.server.answer`` (status, headers, body) and keeps what it received."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.server.received.append((self.command, self.path, dict(self.headers), self.rfile.read(length)))
        status, headers, body = self.server.answer
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def answering(status, headers=None, body=b""):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.answer, server.received = (status, headers or {}, body), []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def redirected(local_keys):
    """An API that answers 307 to another port, where a server would take the request and say it stored it."""
    stored = json.dumps({"log_id": "01STOLEN", "count": 0, "logs": [], "next_cursor": None}).encode()
    with answering(201, {"Content-Type": "application/json"}, stored) as (elsewhere, elsewhere_url), \
            answering(307, {"Location": elsewhere_url + "steal"}) as (_, api_url):
        yield api_url, elsewhere, elsewhere_url + "steal"


@pytest.mark.parametrize("argv", [["send", "hello"], ["recent"]])
def test_a_redirect_is_an_error_naming_its_location_and_nothing_reaches_it(redirected, argv):
    api_url, elsewhere, location = redirected

    code, out, err = run(*argv, "--endpoint", api_url)

    assert code == 2 and out == ""
    assert f"(307 Redirect): redirected to {location}, which slog does not follow" in err
    assert elsewhere.received == []


def test_the_opentelemetry_exporter_follows_no_redirect_and_does_not_count_it_as_sent(redirected, caplog):
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs.export import LogRecordExportResult

    api_url, elsewhere, location = redirected
    exporter = OTLPLogExporter(**slog_otel.otlp_exporter_args(endpoint=api_url))

    with caplog.at_level(logging.ERROR):
        result = exporter.export([])

    assert result == LogRecordExportResult.FAILURE
    assert f"redirected to {location}" in caplog.text
    assert elsewhere.received == []


@pytest.mark.parametrize("argv", [["recent"], ["send", "x"], ["tail", "--max-polls", "0"]])
def test_an_http_endpoint_that_is_not_loopback_is_refused_before_any_request(stub, argv):
    code, _, err = run(*argv, "--endpoint", "http://example.com")

    assert code == 2
    assert "endpoint http://example.com must be https (http only for loopback" in err
    assert len(stub.calls) == 0


def test_otlp_exporter_args_refuse_an_http_endpoint_that_is_not_loopback(stub):
    with pytest.raises(SlogError, match="must be https"):
        slog_otel.otlp_exporter_args(endpoint="http://logs.example.com/api")


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:8000", "http://[::1]:8000/", "http://localhost:8000/",
                                      "http://127.1.2.3/", "https://abc.execute-api.eu-west-1.amazonaws.com/api"])
def test_loopback_and_https_endpoints_are_taken(endpoint):
    assert resolve_endpoint(endpoint).startswith(endpoint)


# --- the endpoint is the API's base URL, and errors name the URL called (issue 18, item 3) ------------

@pytest.mark.parametrize("path, route", [("logs", "logs"), ("logs/", "logs"), ("logs/recent", "logs/recent"),
                                         ("api/v1/logs", "v1/logs")])
def test_an_endpoint_ending_in_a_route_is_refused_naming_the_base_url(stub, path, route):
    code, _, err = run("recent", "--endpoint", STUB + path)

    assert code == 2 and len(stub.calls) == 0
    assert f"ends in the route /{route}: give the API's base URL" in err


def test_an_error_names_the_url_actually_called(stub):
    stub.get(STUB + "api/logs/recent", status=403, json={
        "Message": "User: arn:aws:sts::000000000000:assumed-role/simple-log-service-local-log-ingest/local "
                   "is not authorized to perform: execute-api:Invoke"})

    code, _, err = run("recent", "--endpoint", STUB + "api", "--service", "svc")

    assert code == 2
    assert err.strip() == ("slog: error: access denied (403): role simple-log-service-local-log-ingest "
                           f"is not allowed to call GET {STUB}api/logs/recent")


def test_the_local_stacks_endpoint_with_the_route_appended_is_refused(user_env):
    code, _, err = run("recent", "--endpoint", user_env + "logs")

    assert code == 2 and f"give the API's base URL ({user_env})" in err


# --- tail starts with the newest --lines, then only what is new (issue 18, item 2) --------------------

def stored_events(count, start=1):
    return [{"log_id": f"01TAIL{i:04d}", "timestamp": f"{FIXED_DAY}T10:00:{i:02d}.000Z", "service_name": "svc",
             "level": "INFO", "log_type": "application", "message": f"event {i}"} for i in range(start, start + count)]


def test_tail_starts_with_the_newest_lines_oldest_first_then_prints_only_new_events(stub):
    store = stored_events(5)
    reads = []

    def recent(request):
        reads.append(dict(parse_qsl(urlsplit(request.url).query)))
        if len(reads) == 3:  # the first poll: one event arrived since tail started
            store.extend(stored_events(1, start=6))
        limit = int(reads[-1]["limit"])
        return 200, {}, json.dumps({"count": limit, "logs": store[::-1][:limit], "next_cursor": None})

    stub.add_callback(responses.GET, STUB + "logs/recent", callback=recent)

    code, out, err = run("tail", "--lines", "2", "--interval", "0", "--max-polls", "2", "--json")

    assert code == 0, err
    assert [json.loads(line)["message"] for line in out.splitlines()] == ["event 4", "event 5", "event 6"]


# --- compact lines (issue 18, item 6) ------------------------------------------------------------------

OTEL_EVENT = {
    "log_id": "01OTEL", "timestamp": f"{FIXED_DAY}T10:00:00.000Z", "service_name": "checkout", "level": "ERROR",
    "log_type": "application", "message": "payment failed", "ingested_by": "arn:aws:sts::0:assumed-role/x/y",
    "metadata": {"otel.trace_id": "5b8efff798038103d269b633813fc60c", "otel.span_id": "eee19b7ec3c1b174",
                 "otel.severity_number": 17, "attributes.order_id": 42, "scope.name": "app.checkout",
                 "resource.service.name": "checkout", "resource.telemetry.sdk.language": "python",
                 "resource.telemetry.sdk.name": "opentelemetry", "resource.telemetry.sdk.version": "1.45.2"}}


@pytest.mark.parametrize("command", [["recent"], ["tail", "--max-polls", "0"]])
@pytest.mark.parametrize("terminal", [True, False])
def test_an_opentelemetry_event_is_one_short_line_by_default(stub, command, terminal):
    stub.get(STUB + "logs/recent", json={"count": 1, "logs": [OTEL_EVENT], "next_cursor": None})

    code, out, _ = run(*command, terminal=terminal)

    assert code == 0
    (line,) = out.splitlines()
    assert "ERROR" in line and "[application]" not in line and "resource." not in line
    assert re.sub(r"\x1b\[[0-9;]*m", "", line) == (f"{FIXED_DAY}T10:00:00.000Z ERROR checkout payment failed "
                                                   "otel.trace_id=5b8efff798038103d269b633813fc60c")


def test_fields_adds_fields_and_all_fields_shows_every_one(stub):
    stub.get(STUB + "logs/recent", json={"count": 1, "logs": [OTEL_EVENT], "next_cursor": None})

    chosen = run("recent", "--fields", "attributes.order_id,ingested_by,absent")[1]
    every = run("recent", "--all-fields")[1]

    assert chosen.rstrip("\n").endswith(" payment failed otel.trace_id=5b8efff798038103d269b633813fc60c "
                                        "attributes.order_id=42 ingested_by=arn:aws:sts::0:assumed-role/x/y")
    assert "log_id=01OTEL " in every and every.rstrip("\n").endswith(" resource.telemetry.sdk.version=1.45.2")
    assert len(every.splitlines()) == 1


# --- time options and the retention (issue 18, item 10) -------------------------------------------------

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_since_that_is_not_a_time_names_every_form_slog_takes(stub):
    code, _, err = run("recent", "--since", "yesterday")

    assert code == 2 and len(stub.calls) == 0
    assert err.strip() == ("slog: error: --since 'yesterday' is not a time: give an age (15m, 2h, 3d), ISO 8601 "
                           "with a time zone (2026-11-28T10:30:00Z) or epoch milliseconds")


@pytest.mark.parametrize("value, sent, noted", [
    ("30d", "2026-10-31T12:00:00.000Z", True),
    ("6d", "2026-11-24T12:00:00.000Z", False),
    ("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z", True),
    ("1795953600000", "1795953600000", False),  # 2026-11-29T12:00:00Z
])
def test_a_time_before_the_default_retention_is_noted_on_stderr(value, sent, noted):
    err = io.StringIO()

    assert cli.parse_time_option("--since", value, Console(file=err, width=200), now=NOW) == sent
    assert ("is before the 7-day retention of a default stage" in err.getvalue()) is noted


def test_an_unsigned_request_to_the_local_stack_is_told_to_sign(local_stack):
    answer = requests.get(local_stack + "logs/recent", timeout=30)

    assert answer.status_code == 403
    assert answer.json()["Message"] == ("Missing Authentication Token: requests must be signed with AWS SigV4 "
                                        '(service execute-api); see README.md, "Calling the API"')


# --- credentials named by a relative path (issue 18, item 5) -------------------------------------------

@pytest.mark.parametrize("profile", [None, "slog-ingest"])
def test_a_credentials_file_named_relative_to_another_folder_is_one_line_saying_so(stub, monkeypatch, tmp_path,
                                                                                   profile):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "local/aws-credentials")
    if profile:
        monkeypatch.setenv("AWS_PROFILE", profile)
    expected = (f"AWS_SHARED_CREDENTIALS_FILE=local/aws-credentials: no such file (looked in {tmp_path}); name it "
                'by its absolute path: export AWS_SHARED_CREDENTIALS_FILE="$(pwd)/local/aws-credentials" '
                "at the repository root")

    code, _, err = run("recent")
    with pytest.raises(SlogError) as raised:
        slog_otel.otlp_exporter_args()

    assert code == 2 and err.strip() == f"slog: error: {expected}"
    assert str(raised.value) == expected and len(stub.calls) == 0


# --- the distribution: its own name, a wheel to install without a checkout (issue 18, item 9) ------------

@pytest.mark.slow
def test_make_client_wheel_builds_a_distribution_named_apart_from_pypis_slog(tmp_path):
    subprocess.run(["make", "-s", "client-wheel", f"WHEEL_DIR={tmp_path / 'dist'}"], cwd=ROOT, check=True,
                   capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--target", str(tmp_path / "site"), str(wheel)], check=True, capture_output=True)

    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    shown = subprocess.run([sys.executable, "-c", "import importlib.metadata as m, slog; "
                            "print(m.distribution('simple-log-service-client').entry_points['slog'].value, "
                            "slog.__file__)"], env=env, check=True, capture_output=True, text=True).stdout.split()
    usage = subprocess.run([str(tmp_path / "site" / "bin" / "slog"), "--help"], env=env, check=True,
                           capture_output=True, text=True).stdout

    assert wheel.name == "simple_log_service_client-1.0.0-py3-none-any.whl"
    assert shown == ["slog.cli:main", str(tmp_path / "site" / "slog" / "__init__.py")]
    assert usage.startswith("usage: slog ")


# --- search: text, trace and attribute filters, followed across pages (issue 20, item 3) ---------------

TRACE = "4BF92F3577B34DA6A3CE929D0E0E4736"  # any case: the service reads hex digits


def scanned_page(count, cursor, events, size, start=0):
    return {**page_of(count, cursor, start), "scanned": {"events": events, "bytes": size}}


def asked_pairs(call):
    return parse_qsl(urlsplit(call.request.url).query)


def test_search_sends_its_terms_and_filters_once_then_only_the_cursor(stub):
    stub.get(STUB + "logs/recent", json=scanned_page(1, "c1", 4000, 900_000))
    stub.get(STUB + "logs/recent", json=scanned_page(1, None, 100, 20_000, 1))

    code, _, err = run("search", "order-8812", '"payment failed"', "--service", "checkout", "--min-level", "warn",
                       "--trace-id", TRACE, "--attr", "request_id=r-77", "--attr", "expr=a=b", "--hours", "6",
                       "--limit", "50")

    assert code == 0, err
    first, then = (asked_pairs(call) for call in stub.calls)
    assert sorted(first) == sorted([
        ("limit", "50"), ("service_name", "checkout"), ("min_level", "warn"), ("q", 'order-8812 "payment failed"'),
        ("trace_id", TRACE), ("attr", "request_id=r-77"), ("attr", "expr=a=b"), ("hours", "6")])
    assert then == [("limit", "49"), ("cursor", "c1")]


@pytest.mark.parametrize("command, reads", [(["recent", "--hours", "2"], 1), (["tail", "--max-polls", "0"], 2)])
def test_recent_and_tail_take_the_same_filters(stub, command, reads):
    for _ in range(reads):
        stub.get(STUB + "logs/recent", json=page_of(0, None))

    code, _, err = run(*command, "--search", 'timeout "db 7"', "--trace-id", TRACE, "--attr", "k=v")

    assert code == 0, err
    for call in stub.calls:
        pairs = asked_pairs(call)
        assert {("q", 'timeout "db 7"'), ("trace_id", TRACE), ("attr", "k=v")} <= set(pairs)
    assert ("hours", "2") in asked_pairs(stub.calls[0]) or command[0] == "tail"


def test_since_and_hours_together_are_a_usage_error(stub, capsys):
    with pytest.raises(SystemExit) as exited:
        run("recent", "--since", "2h", "--hours", "3")

    assert exited.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert len(stub.calls) == 0


def sigv4_signature(credentials, url, params, amz_date):
    """The SigV4 signature of ``GET url`` with ``params`` canonicalised as the spec says (each name and value
    decoded, then encoded): what API Gateway computes from the parameters it was given."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method="GET", url=url, params=params, headers={"X-Amz-Date": amz_date})
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(credentials, "execute-api", "us-east-1")
    return signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)


def test_a_search_goes_percent_encoded_and_signed_as_the_gateway_reads_it(local_keys):
    q = 'a+b "two words" x/y=z&w 100% été'.ljust(512, ".")  # the most characters q may hold
    page = json.dumps({"count": 0, "logs": [], "next_cursor": None, "scanned": {"events": 0, "bytes": 0}})
    with answering(200, {"Content-Type": "application/json"}, page.encode()) as (api, url):
        code, _, err = run("recent", "--endpoint", url, "--search", q, "--service", "team/a",
                           "--attr", "path=/a b", "--attr", "k=1", "--attr", "x=+", "--attr", "é=ü")

    assert code == 0, err
    ((method, target, headers, _),) = api.received
    path, _, query = target.partition("?")
    assert method == "GET" and path == "/logs/recent"
    assert "+" not in query and "%20" in query and "%2B" in query and "/" not in query  # API Gateway: "+" is a plus
    params = parse_qsl(query)
    assert sorted(params) == sorted([("limit", "100"), ("service_name", "team/a"), ("q", q), ("attr", "path=/a b"),
                                     ("attr", "k=1"), ("attr", "x=+"), ("attr", "é=ü")])
    authorization = headers["Authorization"]
    expected = sigv4_signature(build_target(endpoint=url).credentials.get(), url + "logs/recent", params,
                               headers["X-Amz-Date"])
    assert authorization.endswith(f"Signature={expected}") and "SignedHeaders=host;x-amz-date," in authorization


@pytest.mark.parametrize("argv, message", [
    (["search", "--trace-id", "4bf92f35"], "--trace-id '4bf92f35' is not a trace id: give its 32 hex digits"),
    (["recent", "--trace-id", TRACE[:-1] + "g"], "is not a trace id"),
    (["recent", "--attr", "request_id"], "--attr 'request_id' is not KEY=VALUE"),
    (["tail", "--attr", "=r-77"], "--attr '=r-77' is not KEY=VALUE"),
    (["search", "--attr", "k" * 129 + "=v"], "is not KEY=VALUE (a metadata key of 1-128 characters"),
    (["recent", *[f"--attr=k{i}=v" for i in range(5)]], "--attr is given 5 times: at most 4"),
    (["recent", "--search", "x" * 513], "--search is 513 characters long: at most 512"),
    (["search", "x" * 300, "y" * 300], "TERMS is 601 characters long: at most 512"),
    (["search", "--service", "svc"], "search needs TERMS, --trace-id or --attr"),
    (["search", "x", "--max-scan", "0"], "--max-scan must be at least 1"),
])
def test_a_filter_the_service_would_refuse_is_one_line_naming_it_and_nothing_is_sent(stub, argv, message):
    code, out, err = run(*argv)

    assert code == 2 and out == "" and len(stub.calls) == 0
    assert err.startswith("slog: error: ") and message in err and len(err.strip().splitlines()) == 1


SEARCH_PAGES = [scanned_page(2, "c1", 1000, 250_000), scanned_page(0, "c2", 1000, 260_000, 2),
                scanned_page(1, None, 500, 120_000, 2)]


@pytest.mark.parametrize("options, reads, summary", [
    ([], 3, "3 events found, 2,500 events (630,000 bytes) scanned in 3 pages; "
            "stopped: no more events match in the window"),
    (["--limit", "2"], 1, "2 events found, 1,000 events (250,000 bytes) scanned in 1 page; "
                          "stopped: --limit 2 reached, more may match"),
    (["--max-scan", "2000"], 2, "2 events found, 2,000 events (510,000 bytes) scanned in 2 pages; "
                                "stopped: --max-scan 2,000 reached, more may match"),
    (["--max-scan", "2500"], 3, "3 events found, 2,500 events (630,000 bytes) scanned in 3 pages; "
                                "stopped: no more events match in the window"),
])
def test_search_follows_cursors_until_the_limit_the_scan_budget_or_the_end(stub, options, reads, summary):
    for page in SEARCH_PAGES[:reads]:
        stub.get(STUB + "logs/recent", json=page)

    code, out, err = run("search", "m", *options)

    assert code == 0, err
    assert len(stub.calls) == reads
    assert [line.split()[-1] for line in out.splitlines()] == [f"m{i}" for i in range(int(summary.split()[0]))]
    assert err == summary + "\n"


def test_search_json_is_one_event_per_line_and_the_summary_stays_on_stderr(stub):
    for page in SEARCH_PAGES:
        stub.get(STUB + "logs/recent", json=page)

    code, out, err = run("search", "m", "--json")

    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [*SEARCH_PAGES[0]["logs"], *SEARCH_PAGES[2]["logs"]]
    assert err.startswith("3 events found, ") and len(err.splitlines()) == 1


def test_an_answer_without_scanned_counts_nothing_scanned(stub):
    stub.get(STUB + "logs/recent", json=page_of(1, None))  # a service before contract v1.2

    code, _, err = run("search", "m", "--max-scan", "1")

    assert code == 0
    assert err == "1 event found, 0 events (0 bytes) scanned in 1 page; stopped: no more events match in the window\n"


def test_the_progress_line_is_rewritten_in_place_on_a_terminal_only(stub):
    for _ in range(2):
        for page in SEARCH_PAGES:
            stub.get(STUB + "logs/recent", json=page)

    on_terminal = run("search", "m", err_terminal=True)[2]
    piped = run("search", "m")[2]

    summary = ("3 events found, 2,500 events (630,000 bytes) scanned in 3 pages; "
               "stopped: no more events match in the window\n")
    assert piped == summary
    assert on_terminal.endswith("\r\x1b[K" + summary)
    steps = on_terminal.removesuffix(summary).split("\r\x1b[K")
    assert "searching: 2 events found, 1,000 events (250,000 bytes) scanned in 1 page" in steps
    assert "searching: 2 events found, 2,000 events (510,000 bytes) scanned in 2 pages" in steps
    assert "\n" not in on_terminal.removesuffix(summary)


def test_the_progress_line_fits_a_narrow_terminal_so_it_can_be_rewritten(stub):
    for page in SEARCH_PAGES:
        stub.get(STUB + "logs/recent", json=page)
    err = io.StringIO()

    code = cli.main(["search", "m"], out=Console(file=io.StringIO()),
                    err=Console(file=err, width=40, force_terminal=True))

    steps = err.getvalue().split("\r\x1b[K")[1:-1]
    assert code == 0 and steps[0] == "searching"
    assert "searching: 2 events found, 1,000 events" in steps and max(map(len, steps)) == 39


def test_a_search_interrupted_still_says_what_it_read(stub):
    def interrupt(request):
        raise KeyboardInterrupt

    stub.get(STUB + "logs/recent", json=SEARCH_PAGES[0])
    stub.add_callback(responses.GET, STUB + "logs/recent", callback=interrupt)

    code, out, err = run("search", "m", err_terminal=True)

    assert code == 130 and len(out.splitlines()) == 2
    assert err.endswith("\r\x1b[K2 events found, 1,000 events (250,000 bytes) scanned in 1 page; "
                        "stopped: interrupted\n")


SGR = re.compile(r"\x1b\[([0-9;]*)m")


def highlighted(out):
    """The runs of ``out`` shown reversed (the match style), in order."""
    runs, reverse = [], False
    for index, piece in enumerate(SGR.split(out)):  # text, codes, text, codes, ...
        if index % 2:
            reverse = "7" in piece.split(";")
        elif reverse and piece:
            runs.append(piece)
    return runs


def test_matches_are_highlighted_on_a_terminal_after_the_content_is_made_inert(stub):
    event = {"log_id": "01MATCH", "timestamp": f"{FIXED_DAY}T10:00:00.000Z", "service_name": "order-8812",
             "level": "ERROR", "message": f"Order-8812 {HOSTILE} PAYMENT failed in der Straße",
             "metadata": {"request_id": "r-ORDER-8812\x1b[2J"}}
    for _ in range(2):
        stub.get(STUB + "logs/recent", json={"count": 1, "logs": [event], "next_cursor": None})
    # Terms as hostile as the content: control characters (matched as shown, \x07), markup, case folding.
    terms = ["order-8812", '"payment failed"', "strasse", "\x1b[2J", "[/link]", "\x07", "clear"]

    code, shown, _ = run("search", *terms, terminal=True)
    piped = run("search", *terms)[1]

    assert code == 0
    assert_inert(piped)
    assert SGR.sub("", shown) == piped  # highlighting only adds whole SGR sequences of slog's own
    assert re.findall(r"\x1b(?!\[[0-9;]*m)", shown) == []
    # Where a search looks (message, metadata), not in the service's name.
    assert highlighted(shown) == ["Order-8812", "\\x07", "clear", "\\x1b[2J", "[/link]", "PAYMENT failed", "Straße",
                                  "ORDER-8812", "\\x1b[2J"]


def test_case_folding_maps_a_match_back_to_whole_characters():
    text = render.highlight(Text("Straße STRASSE groß"), render.search_terms('strasse "SS"'))

    assert [(span.start, span.end) for span in text.spans] == [(0, 6), (7, 14), (4, 5), (11, 13), (18, 19)]
