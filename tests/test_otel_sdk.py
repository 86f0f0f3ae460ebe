"""Real OpenTelemetry clients against the local stack: Python ``logging`` through the OpenTelemetry SDK
(LoggingHandler -> BatchLogRecordProcessor -> OTLPLogExporter), signed with SigV4 as the ingest role,
with gzip and without; then read back through ``GET /logs/recent`` and compared field by field. Also
a retried export, and the refusals a deployed API gives: unsigned, the read role, malformed bodies."""
import gzip
import json
import logging
import os
import subprocess
import sys
import time
import uuid

import pytest
import requests
import slog
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from chalicelib.events import parse_time
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
OUTPUTS = {name: entry["value"] for name, entry in json.loads((ROOT / "local" / "outputs.json").read_text()).items()}


@pytest.fixture
def local_aws(monkeypatch, tmp_path, local_stack):
    """The local keys, and STS at the local stack, as a developer following the README has them."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "SLOG_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(ROOT / "local" / "aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", local_stack + "_local/sts")
    return local_stack


def as_role(stack, role):
    return {"endpoint": stack, "role_arn": OUTPUTS[f"log_{role}_role_arn"],
            "external_id": OUTPUTS[f"{role}_external_id"]}


def read_back(stack, service_name, expected):
    client = slog.LogClient(slog.build_target(**as_role(stack, "full_access")))
    logs = client.recent(limit=100, service_name=service_name)["logs"]
    assert len(logs) == expected, logs
    return logs


class Sent:
    """Keeps the bodies the exporter sent, to send one again."""

    def __init__(self, session):
        self.bodies = []
        session.hooks["response"].append(self._keep)

    def _keep(self, response, **_):
        self.bodies.append((response.request.body, dict(response.request.headers), response.status_code))


@pytest.mark.parametrize("compression", [Compression.Gzip, Compression.NoCompression])
def test_python_logging_through_the_opentelemetry_sdk_arrives_field_by_field(local_aws, compression):
    service_name = f"otel-{uuid.uuid4().hex[:10]}"
    exporter_args = slog.otlp_exporter_args(**as_role(local_aws, "ingest"))
    sent = Sent(exporter_args["session"])
    provider = LoggerProvider(resource=Resource.create({"service.name": service_name, "deployment.environment": "ci"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(compression=compression,
                                                                              **exporter_args)))
    logger = logging.getLogger(f"app.{service_name}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))
    tracer = TracerProvider().get_tracer("tests")

    with tracer.start_as_current_span("checkout") as span:
        logger.error("payment %s failed", "p-7", extra={"order_id": 42, "amount": 9.5})
    logger.info("plain info")
    logger.warning("careful")
    assert provider.force_flush(30_000)
    provider.shutdown()

    assert [status for _, _, status in sent.bodies] == [200] * len(sent.bodies) and sent.bodies
    logs = {event["message"]: event for event in read_back(local_aws, service_name, 3)}
    failed = logs["payment p-7 failed"]
    assert (failed["service_name"], failed["level"], failed["log_type"]) == (service_name, "ERROR", "application")
    assert "log-ingest" in failed["ingested_by"]
    metadata = failed["metadata"]
    context = span.get_span_context()
    assert metadata["otel.trace_id"] == f"{context.trace_id:032x}"
    assert metadata["otel.span_id"] == f"{context.span_id:016x}"
    assert metadata["otel.trace_flags"] == int(context.trace_flags)
    assert metadata["otel.severity_number"] == 17 and metadata["otel.severity_text"] == "ERROR"
    assert metadata["attributes.order_id"] == 42 and metadata["attributes.amount"] == 9.5
    assert metadata["scope.name"] == f"app.{service_name}"
    assert metadata["resource.service.name"] == service_name and metadata["resource.deployment.environment"] == "ci"
    assert {logs["plain info"]["level"], logs["careful"]["level"]} == {"INFO", "WARN"}
    assert "otel.trace_id" not in logs["plain info"]["metadata"]
    timestamps = [parse_time("timestamp", event["timestamp"]) for event in logs.values()]
    assert max(timestamps) - min(timestamps) < 60_000

    body, headers, _ = sent.bodies[0]
    again = exporter_args["session"].post(exporter_args["endpoint"], data=body,
                                          headers={name: headers[name] for name in headers
                                                   if name.lower() in ("content-type", "content-encoding")},
                                          timeout=30)
    assert again.status_code == 200
    read_back(local_aws, service_name, 3)


def post(stack, body, content_type, role="ingest", encoding=None, accept="application/x-protobuf"):
    args = slog.otlp_exporter_args(**as_role(stack, role))
    headers = {"Content-Type": content_type, "Accept": accept}
    if encoding:
        headers["Content-Encoding"] = encoding
    return args["session"].post(args["endpoint"], data=body, headers=headers, timeout=30)


def test_an_otlp_json_export_with_one_bad_record_stores_the_rest_and_says_so(local_aws):
    service_name = f"otel-{uuid.uuid4().hex[:10]}"
    time_ns = str(time.time_ns())
    export = {"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service_name}}]},
        "scopeLogs": [{"scope": {"name": "json"}, "logRecords": [
            {"timeUnixNano": time_ns, "severityNumber": 13, "body": {"stringValue": "kept"},
             "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174"},
            {"timeUnixNano": time_ns, "severityNumber": 9, "body": {"stringValue": ""}},
        ]}],
    }]}

    response = post(local_aws, json.dumps(export), "application/json")

    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    assert response.json()["partialSuccess"]["rejectedLogRecords"] in (1, "1")
    (kept,) = read_back(local_aws, service_name, 1)
    assert kept["level"] == "WARN" and kept["metadata"]["otel.trace_id"] == "5b8efff798038103d269b633813fc60c"


@pytest.mark.parametrize("body, content_type, encoding, status", [
    (b"\x0a\x05garbage", "application/x-protobuf", None, 400),
    (b"{not json", "application/json", None, 400),
    (b"\x1f\x8b\x08\x00 broken gzip", "application/x-protobuf", "gzip", 400),
    (gzip.compress(b"{]", mtime=0), "application/json", "gzip", 400),
    (b"hello", "text/plain", None, 415),
], ids=["bad-protobuf", "bad-json", "broken-gzip", "gzip-of-bad-json", "text-plain"])
def test_malformed_exports_are_refused_with_a_status_over_the_signed_local_api(local_aws, body, content_type,
                                                                              encoding, status):
    response = post(local_aws, body, content_type, encoding=encoding)
    assert response.status_code == status, response.content


def test_the_read_role_and_unsigned_callers_cannot_export(local_aws):
    assert post(local_aws, b"", "application/x-protobuf", role="read").status_code == 403
    unsigned = requests.post(local_aws + "v1/logs", data=b"", headers={"Content-Type": "application/x-protobuf"},
                             timeout=30)
    assert unsigned.status_code == 403


# --- docs/OPENTELEMETRY.md's app, as written there, run from a folder of its own --------------------------

def guide_app(service_name):
    """The Python app of docs/OPENTELEMETRY.md, sending as ``service_name``."""
    guide = (ROOT / "docs" / "OPENTELEMETRY.md").read_text()
    section = guide[guide.index("## Python (`logging`)"):guide.index("## OpenTelemetry Collector")]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert code.count('{"service.name": "checkout"}') == 1
    return code.replace('{"service.name": "checkout"}', f'{{"service.name": "{service_name}"}}')


def run_guide_app(tmp_path, stack, service_name, **env):
    app = tmp_path / "app" / "app.py"
    app.parent.mkdir()
    app.write_text(guide_app(service_name))
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "SLOG_"))}
    clean.update(PYTHONPATH=str(ROOT / "client"), SLOG_ENDPOINT=stack, AWS_CONFIG_FILE=str(tmp_path / "no-config"),
                 AWS_EC2_METADATA_DISABLED="true", **env)
    return subprocess.run([sys.executable, str(app)], cwd=app.parent, env=clean, capture_output=True, text=True,
                          timeout=120)


CREDENTIALS = str(ROOT / "local" / "aws-credentials")


def test_the_guides_app_sends_info_records_from_any_folder(local_aws, tmp_path):
    service_name = f"guide-{uuid.uuid4().hex[:10]}"

    done = run_guide_app(tmp_path, local_aws, service_name, AWS_SHARED_CREDENTIALS_FILE=CREDENTIALS,
                         AWS_PROFILE="slog-ingest")

    assert done.returncode == 0, done.stderr
    assert "Failed to export" not in done.stderr
    (event,) = read_back(local_aws, service_name, 1)
    assert (event["level"], event["message"]) == ("INFO", "order placed")
    assert event["metadata"]["attributes.order_id"] == 42


def test_the_guides_app_shows_a_refused_export_on_stderr(local_aws, tmp_path):
    done = run_guide_app(tmp_path, local_aws, f"guide-{uuid.uuid4().hex[:10]}",
                         AWS_SHARED_CREDENTIALS_FILE=CREDENTIALS, AWS_PROFILE="slog-read")

    assert "Failed to export logs batch code: 403" in done.stderr


def test_the_guides_app_without_credentials_says_why_in_one_line(local_aws, tmp_path):
    done = run_guide_app(tmp_path, local_aws, "guide", AWS_SHARED_CREDENTIALS_FILE="local/aws-credentials",
                         AWS_PROFILE="slog-ingest")

    assert done.returncode == 1 and "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("app: cannot send logs: AWS_SHARED_CREDENTIALS_FILE=local/aws-credentials: no such file")
