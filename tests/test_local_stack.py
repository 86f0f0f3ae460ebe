"""End to end: `make run`'s stack on free loopback ports, called with SigV4-signed requests."""
import gzip
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from devtools import local_dynamodb
from devtools.local_stack import answers
from devtools.table import create_table
from tests.conftest import ROOT, free_port

CREDENTIALS_FILE = ROOT / "local" / "aws-credentials"

pytestmark = pytest.mark.slow


def local_credentials(profile):
    session = botocore.session.Session(profile=profile)
    session.set_config_variable("credentials_file", str(CREDENTIALS_FILE))
    return session.get_credentials().get_frozen_credentials()


def send(base, method, path, data=None, headers=None):
    """``(status, body bytes, content type)`` of a request signed with the local slog-full key."""
    request = AWSRequest(method=method, url=base + path, data=data, headers=headers or {})
    SigV4Auth(local_credentials("slog-full"), "execute-api", "us-east-1").add_auth(request)
    prepared = urllib.request.Request(request.url, data=data, method=method, headers=dict(request.headers))
    try:
        with urllib.request.urlopen(prepared, timeout=60) as response:
            return response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers["Content-Type"]


def call(base, method, path, body=None):
    """``(status, JSON body)`` of a JSON request signed with the local slog-full key."""
    data = json.dumps(body).encode() if body is not None else None
    status, answer, _ = send(base, method, path, data, {"Content-Type": "application/json"} if data else {})
    return status, json.loads(answer)


def test_a_signed_event_is_stored_and_read_back(local_stack):
    service = f"e2e-{uuid.uuid4().hex[:8]}"
    status, stored = call(local_stack, "POST", "logs", {"service_name": service, "level": "warning",
                                                        "message": "hello"})
    assert status == 201, stored
    assert stored["level"] == "WARN"
    status, body = call(local_stack, "GET", f"logs/recent?service_name={service}")
    assert status == 200
    assert [e["log_id"] for e in body["logs"]] == [stored["log_id"]]


def test_a_batch_pages_back_in_order_through_the_real_stack(local_stack):
    service = f"e2e-batch-{uuid.uuid4().hex[:8]}"
    status, body = call(local_stack, "POST", "logs", {"logs": [
        {"service_name": service, "level": "INFO", "message": str(n), "event_id": f"n{n}"} for n in range(40)]})
    assert status == 201 and body["accepted"] == 40
    seen, cursor = [], None
    while True:
        path = f"logs/recent?service_name={service}&limit=15" + (f"&cursor={cursor}" if cursor else "")
        status, page = call(local_stack, "GET", path)
        assert status == 200, page
        seen.extend(event["message"] for event in page["logs"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(n) for n in reversed(range(40))]


def test_a_search_goes_through_the_gateway_a_space_as_20_or_plus_and_a_plus_as_2b(local_stack):
    service = f"e2e-search-{uuid.uuid4().hex[:8]}"
    messages = ["payment failed for a+b", "Payment OK", "failed payment"]
    status, body = call(local_stack, "POST", "logs", {"logs": [
        {"service_name": service, "level": "INFO", "message": message} for message in messages]})
    assert status == 201 and body["accepted"] == 3

    def found(q):
        status, page = call(local_stack, "GET", f"logs/recent?service_name={service}&q={q}")
        assert status == 200, page
        assert page["scanned"]["events"] >= 3
        return [event["message"] for event in page["logs"]]

    assert found("%22payment%20failed%22") == ["payment failed for a+b"]
    assert found("a%2Bb") == ["payment failed for a+b"]
    # A form encoder's "+": the API reads a space, the signer signed a plus; refused, never a wrong search.
    status, answer = call(local_stack, "GET", f"logs/recent?service_name={service}&q=%22payment+failed%22")
    assert status == 403 and answer["Code"] == "InvalidSignatureException" and "%20" in answer["Message"]
    assert found("PAYMENT") == list(reversed(messages))


def test_a_gzipped_protobuf_otlp_export_goes_through_the_gateway_signed_and_intact(local_stack):
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    service = f"e2e-otlp-{uuid.uuid4().hex[:8]}"
    export = ExportLogsServiceRequest()
    resource_logs = export.resource_logs.add()
    attribute = resource_logs.resource.attributes.add()
    attribute.key, attribute.value.string_value = "service.name", service
    record = resource_logs.scope_logs.add().log_records.add()
    record.severity_number, record.body.string_value = 17, "over the wire as gzip"
    body = gzip.compress(export.SerializeToString())
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip", "Accept": "application/x-protobuf"}

    status, answer, content_type = send(local_stack, "POST", "v1/logs", body, headers)

    assert (status, content_type) == (200, "application/x-protobuf"), answer
    status, page = call(local_stack, "GET", f"logs/recent?service_name={service}")
    assert [(event["level"], event["message"]) for event in page["logs"]] == [("ERROR", "over the wire as gzip")]


def test_bad_input_is_a_json_400_through_the_real_stack(local_stack):
    status, body = call(local_stack, "POST", "logs", {"service_name": "e2e", "level": "LOUD", "message": "m"})
    assert status == 400 and body["Message"].startswith("level: ")


def test_the_emulator_makes_dynamodb_calls_atomic_before_it_serves_guarded(monkeypatch):
    order = []
    monkeypatch.setattr(local_dynamodb, "make_atomic", lambda: order.append("atomic"))
    monkeypatch.setattr(local_dynamodb, "run_simple", lambda host, port, app, **options: order.append(
        ("serve", host, port, type(app))))

    local_dynamodb.main(["-H", "127.0.0.1", "-p", "1"])

    assert order == ["atomic", ("serve", "127.0.0.1", 1, local_dynamodb.LoopbackOnly)]


@pytest.fixture(scope="module")
def emulator():
    """The local stack's DynamoDB emulator, as `make run` starts it, on a free loopback port."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "devtools.local_dynamodb", "-H", "127.0.0.1", "-p", str(port)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not answers(port):
            assert process.poll() is None and time.monotonic() < deadline, "the emulator did not start"
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


def list_tables(port, **headers):
    """``(status, headers, body)`` of a raw ListTables call, with the given headers over botocore's usual ones."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=b"{}", method="POST", headers={
        "X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=" + "0" * 64, **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_botocore_reaches_the_emulator(emulator):
    client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{emulator}", region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    name = f"guard-{uuid.uuid4().hex[:8]}"

    create_table(client, name)

    assert name in client.list_tables()["TableNames"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST:{port}", "[::1]:{port}"])
def test_loopback_names_with_this_port_or_none_are_served(emulator, host):
    status, _, _ = list_tables(emulator, Host=host.format(port=emulator))
    assert status == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "127.0.0.1.evil.example"])
def test_a_request_for_a_foreign_host_name_is_refused(emulator, host):
    """DNS rebinding: a page's own name, resolved to 127.0.0.1, reaches the port but not the data."""
    status, headers, body = list_tables(emulator, Host=host.format(port=emulator))

    assert status == 403
    assert "AccessDeniedException" in json.loads(body)["__type"]
    assert not [name for name in headers if name.lower().startswith("access-control-")]


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1"])
def test_a_request_from_a_foreign_web_page_is_refused_without_cors_headers(emulator, origin):
    status, headers, _ = list_tables(emulator, Origin=origin)
    preflight = urllib.request.Request(f"http://127.0.0.1:{emulator}/", method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(preflight, timeout=10)

    assert status == 403
    assert refused.value.code == 403
    for answer in (headers, refused.value.headers):
        assert not [name for name in answer if name.lower().startswith("access-control-")]


def test_the_emulators_own_origin_is_served_without_cors_headers(emulator):
    status, headers, _ = list_tables(emulator, Origin=f"http://127.0.0.1:{emulator}")

    assert status == 200
    assert not [name for name in headers if name.lower().startswith("access-control-")]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_the_runner_stops_both_servers(stop):
    port, dynamodb_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.run_local", "--port", str(port), "--dynamodb-port", str(dynamodb_port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (answers(port) and answers(dynamodb_port)):
            assert process.poll() is None and time.monotonic() < deadline, "the local stack did not start"
            time.sleep(0.2)
    finally:
        process.send_signal(stop)
        process.wait(timeout=60)

    assert not answers(port) and not answers(dynamodb_port)


def _children(pid):
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the runner's children through Linux's /proc")
def test_when_one_part_of_the_stack_dies_the_runner_stops_the_rest_and_says_which():
    port, dynamodb_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.run_local", "--port", str(port), "--dynamodb-port", str(dynamodb_port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (answers(port) and answers(dynamodb_port)):
            assert process.poll() is None and time.monotonic() < deadline, "the local stack did not start"
            time.sleep(0.2)
        poller = [child for child in _children(process.pid)
                  if b"devtools.local_archive" in Path(f"/proc/{child}/cmdline").read_bytes()]
        assert len(poller) == 1
        os.kill(poller[0], signal.SIGKILL)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)

    assert code != 0
    assert "the archive poller exited" in process.stderr.read()
    assert not answers(port) and not answers(dynamodb_port)
