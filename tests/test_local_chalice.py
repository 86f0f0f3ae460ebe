"""The adapter to Chalice's local server (devtools/local_chalice.py) does what the local gateway relies on.

These tests call the adapter directly with a small app of their own; if a Chalice upgrade
changes ``chalice.local.LocalGateway.handle_request`` or the event it builds, they fail here,
by name, before anything else breaks in a puzzling way.
"""
import gzip
import hashlib
import inspect
import json

import pytest
from chalice import Chalice, Response
from chalice.config import Config
from chalice.local import LocalGateway

from devtools.local_chalice import LocalApp
from tests.conftest import ROOT

PROTOBUF = "application/x-protobuf"
BINARY_BODY = gzip.compress(bytes(range(256)) * 4)  # not UTF-8, and what an OTLP exporter sends

probe = Chalice(app_name="adapter-probe")
probe.api.binary_types.append(PROTOBUF)


@probe.route("/v1/logs", methods=["POST"], content_types=[PROTOBUF, "application/json"])
def describe():
    request = probe.current_request
    return {"sha256": hashlib.sha256(request.raw_body).hexdigest(), "length": len(request.raw_body),
            "identity": request.context["identity"],
            "query": {name: request.query_params.getlist(name) for name in request.query_params or {}},
            "content_type": request.headers.get("content-type")}


@probe.route("/bytes", methods=["GET"])
def raw_bytes():
    return Response(body=BINARY_BODY, headers={"Content-Type": PROTOBUF})


@pytest.fixture(scope="module")
def local_app():
    config = Config.create(chalice_stage="test", project_dir=str(ROOT), app_name="adapter-probe",
                           lambda_timeout=20, lambda_memory_size=512)
    return LocalApp(probe, config)


def test_chalice_local_gateway_still_has_the_entry_point_the_adapter_calls():
    assert list(inspect.signature(LocalGateway.handle_request).parameters) == \
        ["self", "method", "path", "headers", "body"]


def test_raw_bytes_reach_the_view_unchanged_with_the_callers_identity(local_app):
    caller = {"userArn": "arn:aws:sts::000000000000:assumed-role/r/s", "accessKey": "AKIAEXAMPLE"}

    status, _, body = local_app.handle("POST", "/v1/logs?a=1&a=2&b=x%3Ay",
                                             [("Content-Type", PROTOBUF), ("Content-Encoding", "gzip")],
                                             BINARY_BODY, caller)

    assert status == 200, body
    seen = json.loads(body)
    assert (seen["sha256"], seen["length"]) == (hashlib.sha256(BINARY_BODY).hexdigest(), len(BINARY_BODY))
    assert seen["identity"]["userArn"] == caller["userArn"] and seen["identity"]["accessKey"] == "AKIAEXAMPLE"
    assert seen["query"] == {"a": ["1", "2"], "b": ["x:y"]}  # every value, decoded
    assert seen["content_type"] == PROTOBUF


def test_a_request_without_identity_carries_none_of_the_last_callers(local_app):
    local_app.handle("POST", "/v1/logs", [("Content-Type", "application/json")], b"{}", {"userArn": "arn:x"})

    _, _, body = local_app.handle("POST", "/v1/logs", [("Content-Type", "application/json")], b"{}")

    assert "userArn" not in json.loads(body)["identity"]


def test_a_binary_answer_comes_back_as_its_bytes(local_app):
    status, headers, body = local_app.handle("GET", "/bytes", [("Accept", PROTOBUF)], b"")

    assert status == 200 and body == BINARY_BODY
    assert ("Content-Type", PROTOBUF) in headers


def test_chalices_own_refusal_is_an_answer_not_an_exception(local_app):
    status, headers, body = local_app.handle("GET", "/no/such/route", [], b"")

    assert status == 403 and b"Missing Authentication Token" in body
    assert dict(headers)["x-amzn-ErrorType"]
