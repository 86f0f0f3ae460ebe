"""``slog smoke``: prove a stack works end to end with its real caller roles.

Assumes the ingest role (with its external id) and sends N events; assumes the
read role and reads them back; checks that the read role cannot ingest and the
ingest role cannot read. Replaces the original PowerShell test scripts.
"""
import time
import uuid
from dataclasses import dataclass

from slog.client import LogClient
from slog.errors import ApiError, SlogError

LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _role_name(role_arn):
    return role_arn.rsplit("/", 1)[-1]


def _expect_forbidden(name, call):
    try:
        call()
    except ApiError as error:
        if error.status == 403:
            return Check(name, True, f"403 {error.code}")
        return Check(name, False, f"expected 403, got {error.status} {error.code}: {error.message}")
    except SlogError as error:
        return Check(name, False, str(error))
    return Check(name, False, "expected 403, but the call succeeded")


def run(base, ingest_role_arn, ingest_external_id, read_role_arn, read_external_id, count=20, timeout=30.0,
        report=None, sleep=time.sleep):
    """Run every check, reporting each as it finishes; returns the list of ``Check``."""
    report = report or (lambda check: None)
    checks = []

    def record(check):
        checks.append(check)
        report(check)
        return check

    ingest = LogClient(base.assume(ingest_role_arn, ingest_external_id))
    read = LogClient(base.assume(read_role_arn, read_external_id))
    service = f"slog-smoke-{uuid.uuid4().hex[:10]}"
    events = [{"service_name": service, "level": LEVELS[i % len(LEVELS)], "log_type": "smoke",
               "message": f"smoke test event {i + 1} of {count}", "metadata": {"index": i},
               "event_id": f"{service}-{i}"} for i in range(count)]

    try:
        status, body = ingest.send_batch(events)
        sent = record(Check(f"ingest role sends {count} events", status == 201 and body["accepted"] == count,
                            f"{status}, accepted {body.get('accepted')}, rejected {len(body.get('rejected', []))}"))
        log_ids = {log_id for log_id in body.get("log_ids", []) if log_id}
    except SlogError as error:
        sent = record(Check(f"ingest role sends {count} events", False, str(error)))
        log_ids = set()

    if sent.ok:
        found, deadline = [], time.monotonic() + timeout
        try:
            while True:
                found = read.recent(limit=count, service_name=service, hours=1)["logs"]
                if {event["log_id"] for event in found} >= log_ids or time.monotonic() > deadline:
                    break
                sleep(1.0)
            missing = log_ids - {event["log_id"] for event in found}
            record(Check("read role reads them back", not missing,
                         f"{len(found)} read, {len(missing)} missing" if missing else f"all {count} read back"))
            marker = f"assumed-role/{_role_name(ingest_role_arn)}/"
            strangers = [event for event in found if marker not in (event.get("ingested_by") or "")]
            record(Check("ingested_by names the ingest role", bool(found) and not strangers,
                         f"{len(strangers)} events with another ingested_by" if strangers else marker.rstrip("/")))
        except SlogError as error:
            record(Check("read role reads them back", False, str(error)))

    probe = {"service_name": service, "level": "INFO", "message": "must not be stored"}
    record(_expect_forbidden("read role cannot ingest", lambda: read.send_event(probe)))
    record(_expect_forbidden("ingest role cannot read", lambda: ingest.recent_page(service_name=service)))
    return checks
