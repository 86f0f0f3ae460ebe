"""End to end: `make run`'s stack on free loopback ports, called with SigV4-signed requests."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
CREDENTIALS_FILE = ROOT / "local" / "aws-credentials"

pytestmark = pytest.mark.slow


def local_credentials(profile):
    session = botocore.session.Session(profile=profile)
    session.set_config_variable("credentials_file", str(CREDENTIALS_FILE))
    return session.get_credentials().get_frozen_credentials()


class Stack:
    def __init__(self, port, dynamodb_port, process):
        self.base = f"http://127.0.0.1:{port}"
        self.dynamodb_port = dynamodb_port
        self.process = process
        self.credentials = local_credentials("slog-full")

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = AWSRequest(method=method, url=self.base + path, data=data,
                             headers={"Content-Type": "application/json"} if data else {})
        SigV4Auth(self.credentials, "execute-api", "us-east-1").add_auth(request)
        prepared = urllib.request.Request(request.url, data=data, method=method, headers=dict(request.headers))
        try:
            with urllib.request.urlopen(prepared, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


def wait_until_serving(stack, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            raise AssertionError(f"the local stack exited early: {stack.process.communicate()[0]}")
        try:
            urllib.request.urlopen(stack.base + "/logs/recent", timeout=2)
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the local stack did not start in time")


@pytest.fixture(scope="module")
def stack():
    port, dynamodb_port = free_port(), free_port()
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.run_local", "--port", str(port), "--dynamodb-port", str(dynamodb_port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    running = Stack(port, dynamodb_port, process)
    try:
        wait_until_serving(running)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise


def test_a_signed_event_is_stored_and_read_back(stack):
    status, stored = stack.call("POST", "/logs", {"service_name": "e2e", "level": "warning", "message": "hello"})
    assert status == 201, stored
    assert stored["level"] == "WARN"
    status, body = stack.call("GET", "/logs/recent?service_name=e2e")
    assert status == 200
    assert [e["log_id"] for e in body["logs"]] == [stored["log_id"]]


def test_a_batch_pages_back_in_order_through_the_real_stack(stack):
    status, body = stack.call("POST", "/logs", {"logs": [
        {"service_name": "e2e-batch", "level": "INFO", "message": str(n), "event_id": f"n{n}"} for n in range(40)]})
    assert status == 201 and body["accepted"] == 40
    seen, cursor = [], None
    while True:
        path = "/logs/recent?service_name=e2e-batch&limit=15" + (f"&cursor={cursor}" if cursor else "")
        status, page = stack.call("GET", path)
        assert status == 200, page
        seen.extend(event["message"] for event in page["logs"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(n) for n in reversed(range(40))]


def test_bad_input_is_a_json_400_through_the_real_stack(stack):
    status, body = stack.call("POST", "/logs", {"service_name": "e2e", "level": "LOUD", "message": "m"})
    assert status == 400 and body["Message"].startswith("level: ")


def test_stopping_the_runner_stops_both_servers():
    port, dynamodb_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.run_local", "--port", str(port), "--dynamodb-port", str(dynamodb_port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    running = Stack(port, dynamodb_port, process)
    try:
        wait_until_serving(running)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    for listening in (port, dynamodb_port):
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{listening}/", timeout=2)
