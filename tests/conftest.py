"""Shared fixtures. No test reaches AWS: moto in-process, dummy credentials,
and botocore's instance-metadata probe switched off."""
import json
import os
import socket
import time
from pathlib import Path

os.environ.update({
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
})
for _name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
    del os.environ[_name]

import boto3  # noqa: E402
import pytest  # noqa: E402
import time_machine  # noqa: E402
from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

from chalicelib import service  # noqa: E402
from devtools.moto_atomic import make_atomic  # noqa: E402
from devtools.moto_capacity import make_faithful  # noqa: E402
from devtools.table import create_table  # noqa: E402

# DynamoDB makes each write atomic (the service's conditional claims rely on it); moto does not, unless asked.
make_atomic()
# DynamoDB charges a Query for every item it evaluates; moto charges 1 unit a call, unless asked.
make_faithful()

ROOT = Path(__file__).resolve().parent.parent
# Set by tests/test_clock.py: run this session with the clock moved this many days ahead.
CLOCK_SHIFT_DAYS = "SLOG_TEST_CLOCK_SHIFT_DAYS"


def pytest_configure(config):
    days = os.environ.get(CLOCK_SHIFT_DAYS)
    if days:
        config.stash[_TRAVEL] = time_machine.travel(time.time() + int(days) * 86_400, tick=True)
        config.stash[_TRAVEL].start()


def pytest_unconfigure(config):
    if _TRAVEL in config.stash:
        config.stash[_TRAVEL].stop()


_TRAVEL = pytest.StashKey()
TEST_STAGE = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]["test"]
TABLE_NAME = TEST_STAGE["environment_variables"]["LOG_TABLE_NAME"]


@pytest.fixture
def test_stage_env(monkeypatch):
    """The test stage's environment, for code called outside a request."""
    for name, value in TEST_STAGE["environment_variables"].items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def dynamodb(test_stage_env):
    """A fresh moto DynamoDB with the log table, and no cached clients."""
    with mock_aws():
        service.reset()
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE_NAME)
        yield client
    service.reset()


@pytest.fixture
def api(dynamodb):
    """Chalice's test client on the test stage, over a fresh table."""
    from app import app

    with Client(app, stage_name="test", project_dir=str(ROOT)) as client:
        yield client


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def local_stack():
    """`make run`'s stack (SigV4 enforced) on free loopback ports, shared by every test that calls it over
    HTTP; yields its base URL (ending in ``/``) and stops it after the last test."""
    from devtools.local_stack import running_stack

    with running_stack(free_port(), free_port()) as url:
        yield url
