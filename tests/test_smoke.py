"""``slog smoke`` runs green against the local stack, and fails when the stack lets the wrong role in."""
import csv
import io
import json
import re
import socket
import subprocess
from urllib.parse import urlsplit

import pytest
from rich.console import Console
from slog import cli

from devtools import local_load, run_local
from devtools.local_stack import running_stack
from tests.conftest import ROOT, free_port


def outputs_for(url, tmp_path, **changes):
    """local/outputs.json with this stack's endpoint (as `terraform output -json` would give it)."""
    outputs = json.loads((ROOT / "local" / "outputs.json").read_text())
    outputs["api_endpoint"]["value"] = url
    for name, value in changes.items():
        outputs[name]["value"] = value
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return str(path)


@pytest.fixture
def user_env(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "SLOG_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(ROOT / "local" / "aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    return monkeypatch


def local_sts(monkeypatch, url):
    """STS calls go to the local stack at ``url``, as `make smoke` points them."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", url + "_local/sts")


def smoke(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["smoke", *argv], out=Console(file=out, width=200), err=Console(file=err, width=200))
    return code, out.getvalue(), err.getvalue()


def test_smoke_passes_against_the_local_stack(local_stack, user_env, tmp_path):
    local_sts(user_env, local_stack)
    code, out, err = smoke("--outputs", outputs_for(local_stack, tmp_path), "--count", "25")

    assert code == 0, out + err
    assert "5 passed, 0 failed" in out
    for check in ("ingest role sends 25 events", "read role reads them back", "ingested_by names the ingest role",
                  "read role cannot ingest", "ingest role cannot read"):
        assert f"PASS {check}" in out


def test_smoke_fails_when_the_external_id_is_wrong(local_stack, user_env, tmp_path):
    local_sts(user_env, local_stack)
    code, out, _ = smoke("--outputs", outputs_for(local_stack, tmp_path, ingest_external_id="not-it"))

    assert code == 1
    assert "FAIL ingest role sends" in out and "cannot assume role" in out


def test_smoke_needs_role_arns(user_env, local_stack):
    code, _, err = smoke("--endpoint", local_stack)

    assert code == 2 and "smoke needs the role ARNs" in err


def test_smoke_catches_a_stack_that_lets_every_role_in(user_env, tmp_path):
    with running_stack(free_port(), free_port(), iam=False) as url:
        local_sts(user_env, url)
        code, out, _ = smoke("--outputs", outputs_for(url, tmp_path), "--count", "3")

    assert code == 1
    assert "FAIL read role cannot ingest" in out and "FAIL ingest role cannot read" in out


def test_the_stack_refuses_a_port_in_use():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        with pytest.raises(SystemExit, match=f"127.0.0.1:{port} is in use"):
            run_local.main(["--port", str(port), "--dynamodb-port", str(free_port())])
    assert run_local._port_is_free(port)


def locust_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_load_runs_signed_locust_and_every_answer_is_one_the_contract_allows(local_stack, user_env, tmp_path):
    port = urlsplit(local_stack).port
    prefix = str(tmp_path / "load")

    code = local_load.main(["--host", f"http://127.0.0.1:{port}", "--users", "2", "--run-time", "4s",
                            "--csv", prefix])

    stats = {row["Name"]: row for row in locust_csv(f"{prefix}_stats.csv") if row["Name"] != "Aggregated"}
    failures = {row["Error"]: int(row["Occurrences"]) for row in locust_csv(f"{prefix}_failures.csv")}
    # Signed requests are answered: no 403 or other refusal, no 5xx but the contract's overload answer
    # (the locustfile names those failures OVERLOADED; locust writes them as CatchResponseError('...')).
    assert all(re.match(r"""CatchResponseError\(["']OVERLOADED: """, error) for error in failures), failures
    # Requests were made and answered; which kinds a 4-second run reaches depends on the machine's speed
    # (each user calls every route once first, in order), so only the names are checked.
    assert stats and set(stats) <= {"POST /logs (one)", "POST /logs (batch of 50)", "GET /logs/recent",
                                    "GET /logs/recent?service_name"}
    assert all(int(row["Request Count"]) >= 1 for row in stats.values()), stats
    # locust exits non-zero exactly when a request failed, overload included.
    assert code == (1 if failures else 0)


@pytest.mark.parametrize("argv, message", [
    (["--host", "https://example.com"], "only against the local stack"),
    (["--host", "http://127.0.0.1:1", "--users", "500"], "--users must be"),
    (["--host", "http://127.0.0.1:1", "--run-time", "2h"], "--run-time must be"),
    (["--host", "http://127.0.0.1:1", "--run-time", "soon"], "use e.g. 30s"),
])
def test_load_stays_bounded_and_local(argv, message):
    with pytest.raises(SystemExit, match=message):
        local_load.main(argv)


def test_load_reaches_a_deployed_endpoint_only_when_asked(monkeypatch):
    started = []
    monkeypatch.setattr(local_load, "running_stack", lambda *args: started.append(args))
    monkeypatch.setattr(local_load.subprocess, "run",
                        lambda command, **kwargs: started.append(command) or subprocess.CompletedProcess(command, 0))
    endpoint = "https://abcdefghij.execute-api.eu-west-1.amazonaws.com/api"
    with pytest.raises(SystemExit, match="add --remote"):
        local_load.main(["--host", endpoint])
    with pytest.raises(SystemExit, match="https endpoint"):
        local_load.main(["--host", "http://example.com", "--remote"])
    assert local_load.main(["--host", endpoint, "--remote", "--users", "3"]) == 0
    (command,) = started
    assert command[command.index("--host") + 1] == endpoint and command[command.index("--users") + 1] == "3"


@pytest.mark.parametrize("target, expected", [
    ("smoke", ["AWS_ENDPOINT_URL_STS=http://127.0.0.1:9000/_local/sts", "--endpoint http://127.0.0.1:9000/"]),
    ("load", ["--host http://127.0.0.1:9000 ", "--dynamodb-port 9001"]),
])
def test_the_make_helpers_follow_the_port_make_run_was_given(target, expected):
    shown = subprocess.run(["make", "-n", target, "PORT=9000", "DYNAMODB_PORT=9001"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout

    assert all(part in shown for part in expected), shown
    assert "8000" not in shown and "8001" not in shown
