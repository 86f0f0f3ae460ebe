"""openapi.yaml describes the API as it answers: schemathesis against the local stack, signed requests.

Fails on any 5xx, any undocumented status, content type or header, and any body
that does not match the document. Examples are bounded so this runs in about a minute.
"""
import json

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from slog.auth import SigV4RequestsAuth
from slog.config import StaticCredentials, local_profile_credentials

from tests.conftest import ROOT

schema = schemathesis.openapi.from_path(ROOT / "openapi.yaml")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
AUTH = SigV4RequestsAuth(StaticCredentials(local_profile_credentials("slog-full")), "us-east-1")


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_matches_openapi_document(case, local_stack):
    case.call_and_validate(base_url=local_stack.rstrip("/"), auth=AUTH, checks=CHECKS, timeout=60)


def test_document_is_a_valid_openapi_3_document():
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename

    document, _ = read_from_filename(str(ROOT / "openapi.yaml"))
    validate(document)
    from app import app

    assert set(document["paths"]) == set(app.routes)
    # ... and exactly the operations callers can be granted (infra/caller_roles.json).
    roles = json.loads((ROOT / "infra" / "caller_roles.json").read_text())["roles"]
    granted = {(method.lower(), path) for role in roles.values() for method, path in role["routes"]}
    assert {(method, path) for path, item in document["paths"].items() for method in item} == granted
