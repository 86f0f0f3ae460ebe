"""The local API Gateway refuses what API Gateway's IAM authorization refuses, and fills the identity.

The gateway runs in-process on a free loopback port over the moto table; requests
are signed with botocore (as boto3 callers do) or awscurl, with the keys in
local/aws-credentials.
"""
import configparser
import hashlib
import json
import re
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode, urlsplit
from xml.etree import ElementTree

import boto3
import pytest
import requests
from awscurl.awscurl import make_request as awscurl_request
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from chalice.config import Config

from chalicelib import events, otlp
from devtools import local_auth, local_gateway, local_sts
from devtools.local_auth import CallerRegistry, SigV4Verifier, role_arn
from devtools.local_gateway import LocalIam, create_server
from tests.conftest import ROOT, free_port
from tests.test_local_chalice import BINARY_BODY, probe

CREDENTIALS = configparser.ConfigParser()
CREDENTIALS.read(ROOT / "local" / "aws-credentials")
ROLES = json.loads((ROOT / "infra" / "caller_roles.json").read_text())["roles"]
OUTPUTS = json.loads((ROOT / "local" / "outputs.json").read_text())
EVENT = {"service_name": "auth-test", "level": "INFO", "message": "hello"}


def keys(profile):
    section = CREDENTIALS[profile]
    return Credentials(section["aws_access_key_id"], section["aws_secret_access_key"])


def sign(method, url, credentials, body=None, service="execute-api", region="us-east-1", headers=None):
    """Headers of a botocore-signed request (as boto3 and the slog client sign)."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = AWSRequest(method=method, url=url, data=data, headers=dict(headers or {}))
    SigV4Auth(credentials, service, region).add_auth(request)
    return dict(request.headers.items()), data


def call(method, url, profile="slog-full", body=None, **kwargs):
    credentials = keys(profile) if isinstance(profile, str) else profile
    headers, data = sign(method, url, credentials, body, **kwargs)
    return requests.request(method, url, headers=headers, data=data, timeout=10)


def start(app, iam):
    config = Config.create(chalice_stage="test", project_dir=str(ROOT), app_name="simple-log-service",
                           lambda_timeout=20, lambda_memory_size=512)
    port = free_port()
    server = create_server(app, config, "127.0.0.1", port, iam)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{port}/", server, thread


@pytest.fixture
def gateway_factory(dynamodb):
    """Start gateways (IAM on by default) for a test; stop them all after it."""
    from app import app

    started = []

    def factory(enforce=True, clock=time.time, serving=app, caller_roles_path=local_auth.CALLER_ROLES_PATH):
        iam = LocalIam(CallerRegistry.from_files(clock=clock, caller_roles_path=caller_roles_path),
                       enforce=enforce, clock=clock)
        url, server, thread = start(serving, iam)
        started.append((server, thread))
        return url

    yield factory
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def gateway(gateway_factory):
    return gateway_factory()


def stored_count(url):
    response = call("GET", url + "logs/recent?service_name=auth-test", "slog-read")
    assert response.status_code == 200
    return response.json()["count"]


def assert_refused(response, code):
    assert response.status_code == 403
    body = response.json()
    assert set(body) == {"Code", "Message"}
    assert body["Code"] == code
    assert body["Message"]
    assert response.headers["x-amzn-ErrorType"] == code


# --- signatures ---------------------------------------------------------------

def test_unsigned_request_is_refused_and_stores_nothing(gateway):
    response = requests.post(gateway + "logs", json=EVENT, timeout=10)

    assert_refused(response, "MissingAuthenticationTokenException")
    assert stored_count(gateway) == 0


@pytest.mark.parametrize("authorization", [
    "AWS4-HMAC-SHA256 Credential=AKIALOCAL00SLOGFULL0/20261128/us-east-1/execute-api/aws4_request",
    "Bearer abc",
    "AWS4-HMAC-SHA256 Credential=AKIALOCAL00SLOGFULL0, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
])
def test_malformed_authorization_is_refused(gateway, authorization):
    response = requests.get(gateway + "logs/recent", headers={"Authorization": authorization,
                                                              "X-Amz-Date": "20261128T000000Z"}, timeout=10)

    assert_refused(response, "IncompleteSignatureException")


def test_unknown_access_key_is_refused(gateway):
    response = call("POST", gateway + "logs", Credentials("AKIAUNKNOWNKEY000000", "whatever"), EVENT)

    assert_refused(response, "UnrecognizedClientException")
    assert stored_count(gateway) == 0


def test_wrong_secret_is_refused(gateway):
    wrong = Credentials(keys("slog-full").access_key, "not-the-secret")

    response = call("POST", gateway + "logs", wrong, EVENT)

    assert_refused(response, "InvalidSignatureException")
    assert stored_count(gateway) == 0


def test_body_altered_after_signing_is_refused(gateway):
    headers, _ = sign("POST", gateway + "logs", keys("slog-full"), EVENT)
    altered = json.dumps({**EVENT, "message": "tampered"}).encode()

    response = requests.post(gateway + "logs", headers=headers, data=altered, timeout=10)

    assert_refused(response, "InvalidSignatureException")
    assert stored_count(gateway) == 0


def test_claimed_payload_hash_must_match_the_body(gateway):
    original = json.dumps(EVENT).encode()
    headers, _ = sign("POST", gateway + "logs", keys("slog-full"), original,
                      headers={"X-Amz-Content-SHA256": hashlib.sha256(original).hexdigest()})

    response = requests.post(gateway + "logs", headers=headers, data=original + b" ", timeout=10)

    assert_refused(response, "InvalidSignatureException")


def test_query_altered_after_signing_is_refused(gateway):
    headers, _ = sign("GET", gateway + "logs/recent?limit=5", keys("slog-full"))

    response = requests.get(gateway + "logs/recent?limit=6", headers=headers, timeout=10)

    assert_refused(response, "InvalidSignatureException")


def test_signature_for_another_region_or_service_is_refused(gateway):
    for kwargs in ({"region": "eu-west-1"}, {"service": "lambda"}):
        response = call("GET", gateway + "logs/recent", **kwargs)
        assert_refused(response, "InvalidSignatureException")


@pytest.mark.parametrize("skew_s, allowed", [(-301, False), (301, False), (-299, True), (299, True)])
def test_x_amz_date_more_than_five_minutes_off_is_refused(gateway_factory, skew_s, allowed):
    # The gateway's clock is set from the request's own X-Amz-Date: no race with the real clock.
    now = [None]
    url = gateway_factory(clock=lambda: now[0])
    headers, _ = sign("GET", url + "logs/recent", keys("slog-full"))
    now[0] = datetime.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp() + skew_s

    response = requests.get(url + "logs/recent", headers=headers, timeout=30)

    if allowed:
        assert response.status_code == 200
    else:
        assert_refused(response, "InvalidSignatureException")
        assert "expired" in response.json()["Message"]


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


AN_HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


def awscurl(url):
    full = keys("slog-full")
    return awscurl_request("GET", "execute-api", "us-east-1", url, {}, "", full.access_key, full.secret_key,
                           None, False)


@pytest.mark.parametrize("query, by_awscurl", [
    (f"service_name=auth-test&since={quote(iso(AN_HOUR_AGO) + '+00:00', safe='')}", 403),
    (f"service_name=auth-test&since={iso(AN_HOUR_AGO)}Z&level=info", 200),
    ("log_type=x%3Ay&service_name=auth-test", 403),
    ("log_type=x:y&service_name=auth-test", 200),
    ("service_name=auth-test&limit=5&", 200),
], ids=["encoded-offset", "raw-colons", "encoded-colon", "raw-colon", "trailing-ampersand"])
def test_each_client_signs_its_own_query_encoding(gateway, query, by_awscurl):
    url = gateway + "logs/recent?" + query

    assert call("GET", url).status_code == 200
    # awscurl encodes a query as written: one already percent-encoded is signed double-encoded, which
    # API Gateway refuses as well (okigan/awscurl#216).
    assert awscurl(url).status_code == by_awscurl


@pytest.mark.parametrize("signed, sent", [
    ("limit=5&service_name=billing", "limit=5=9999&service_name=billing=x=y"),  # awscurl cuts values at "="
    ("service_name=x%2By", "service_name=x+y"),  # "+" is a space to the app, a plus to SigV4
    ("service_name=x%2520y", "service_name=x%20y"),
])
def test_a_query_is_accepted_only_as_exactly_what_was_signed(gateway, signed, sent):
    headers, _ = sign("GET", gateway + "logs/recent?" + signed, keys("slog-full"))

    response = requests.get(gateway + "logs/recent?" + sent, headers=headers, timeout=30)

    assert_refused(response, "InvalidSignatureException")


# --- lengths: checked before a byte of the body is read ------------------------------

def raw_exchange(url, head):
    """Send only ``head`` (request line and headers, no body) and read the answer until the server closes."""
    with socket.create_connection((urlsplit(url).hostname, urlsplit(url).port), timeout=60) as sock:
        sock.sendall(head.encode("latin-1"))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize("length, status, code", [
    (str(200 * 1024 * 1024), 413, "PayloadTooLargeError"),
    (str(local_gateway.MAX_BODY_BYTES + 1), 413, "PayloadTooLargeError"),
    ("1000", 403, "MissingAuthenticationTokenException"),
    ("abc", 400, "BadRequestError"),
    ("1e3", 400, "BadRequestError"),
    ("-5", 400, "BadRequestError"),
])
def test_a_body_is_refused_from_its_headers_without_being_sent(gateway, length, status, code):
    head = (f"POST /logs HTTP/1.1\r\nHost: {urlsplit(gateway).netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n")

    answered, body = raw_exchange(gateway, head)

    assert (answered, body["Code"]) == (status, code)
    assert stored_count(gateway) == 0


def test_two_different_lengths_are_a_400(gateway):
    head = (f"POST /logs HTTP/1.1\r\nHost: {urlsplit(gateway).netloc}\r\nContent-Length: 2\r\n"
            "Content-Length: 3\r\n\r\n")

    assert raw_exchange(gateway, head)[0] == 400


def json_body_of(size):
    body = b'{"service_name": "auth-test", "level": "INFO", "message": "' + b"x" * (size - 61) + b'"}'
    assert len(body) == size
    return body


def test_the_gateway_reads_up_to_the_largest_body_a_route_takes_and_the_route_judges_its_own(gateway):
    headers = {"Content-Type": "application/json"}

    over_any = call("POST", gateway + "logs", "slog-full", json_body_of(local_gateway.MAX_BODY_BYTES + 1),
                    headers=headers)
    over_route = call("POST", gateway + "logs", "slog-full", json_body_of(events.MAX_BODY_BYTES + 1), headers=headers)
    at_route = call("POST", gateway + "logs", "slog-full", json_body_of(events.MAX_BODY_BYTES), headers=headers)

    assert local_gateway.MAX_BODY_BYTES >= otlp.MAX_BODY_BYTES  # an OTLP export at its limit gets through
    assert over_any.status_code == 413 and f"limit of {local_gateway.MAX_BODY_BYTES} " in over_any.json()["Message"]
    assert over_route.status_code == 413 and f"limit of {events.MAX_BODY_BYTES} " in over_route.json()["Message"]
    assert at_route.status_code == 400 and at_route.json()["Message"].startswith("message: ")  # the app's verdict


# --- roles --------------------------------------------------------------------

ROUTES = [("POST", "logs"), ("GET", "logs/recent")]
MATRIX = [(name, spec["local_profile"], method, path, [method, "/" + path] in spec["routes"])
          for name, spec in ROLES.items() for method, path in ROUTES]


@pytest.mark.parametrize("role, profile, method, path, allowed", MATRIX)
def test_each_role_may_call_only_its_routes(gateway, role, profile, method, path, allowed):
    response = call(method, gateway + path, profile, EVENT if method == "POST" else None)

    if allowed:
        assert response.status_code in (200, 201), response.text
    else:
        assert_refused(response, "AccessDeniedException")
        assert f"role {role}" in response.json()["Message"]
        assert f"{method} /{path}" in response.json()["Message"]


def test_a_route_the_api_does_not_have_is_refused(gateway):
    response = call("DELETE", gateway + "logs")

    assert_refused(response, "AccessDeniedException")


@pytest.mark.parametrize("profile", ["slog-ingest", "slog-full"])
def test_ingested_by_is_the_callers_role_session(gateway, profile):
    role = next(name for name, spec in ROLES.items() if spec["local_profile"] == profile)

    response = call("POST", gateway + "logs", profile, EVENT)

    assert response.status_code == 201
    expected = f"arn:aws:sts::000000000000:assumed-role/simple-log-service-local-{role}/local"
    assert response.json()["ingested_by"] == expected
    stored = call("GET", gateway + "logs/recent?service_name=auth-test", "slog-read").json()["logs"]
    assert [event["ingested_by"] for event in stored] == [expected]


def test_routes_come_from_caller_roles_and_binary_bodies_pass_signed_and_unchanged(gateway_factory, tmp_path):
    roles = json.loads((ROOT / "infra" / "caller_roles.json").read_text())
    # The file, not the code, decides: with OTLP taken away from log-ingest there, log-ingest is refused it.
    roles["roles"]["log-ingest"]["routes"].remove(["POST", "/v1/logs"])
    (tmp_path / "caller_roles.json").write_text(json.dumps(roles))
    url = gateway_factory(serving=probe, caller_roles_path=tmp_path / "caller_roles.json") + "v1/logs"
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}

    allowed = call("POST", url, "slog-full", BINARY_BODY, headers=headers)
    not_listed = call("POST", url, "slog-read", BINARY_BODY, headers=headers)
    taken_away = call("POST", url, "slog-ingest", BINARY_BODY, headers=headers)
    signed, _ = sign("POST", url, keys("slog-full"), BINARY_BODY, headers=headers)
    altered = requests.post(url, headers=signed, data=BINARY_BODY[:-1] + b"\xff", timeout=30)

    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["sha256"] == hashlib.sha256(BINARY_BODY).hexdigest()
    assert allowed.json()["identity"]["userArn"].endswith("/simple-log-service-local-log-full-access/local")
    assert_refused(not_listed, "AccessDeniedException")
    assert_refused(taken_away, "AccessDeniedException")
    assert_refused(altered, "InvalidSignatureException")


def test_without_enforcement_requests_pass_with_no_identity(gateway_factory):
    url = gateway_factory(enforce=False)

    response = requests.post(url + "logs", json=EVENT, timeout=10)

    assert response.status_code == 201
    assert response.json()["ingested_by"] is None


# --- local STS ----------------------------------------------------------------

def sts_client(url, profile="slog-full"):
    credentials = keys(profile) if isinstance(profile, str) else profile
    return boto3.client("sts", endpoint_url=url.rstrip("/") + "/_local/sts", region_name="us-east-1",
                        aws_access_key_id=credentials.access_key, aws_secret_access_key=credentials.secret_key,
                        aws_session_token=credentials.token)


def role(name):
    """``assume_role`` arguments for a local caller role (``ingest``, ``read``, ``full_access``)."""
    return {"RoleArn": OUTPUTS[f"log_{name}_role_arn"]["value"], "RoleSessionName": "s1",
            "ExternalId": OUTPUTS[f"{name}_external_id"]["value"]}


def sts_refusal(raised):
    error = raised.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"], error["Error"]["Message"]


def test_assumed_role_credentials_sign_as_that_role(gateway):
    granted = sts_client(gateway).assume_role(
        RoleArn=OUTPUTS["log_ingest_role_arn"]["value"], RoleSessionName="smoke-1",
        ExternalId=OUTPUTS["ingest_external_id"]["value"])["Credentials"]
    session = Credentials(granted["AccessKeyId"], granted["SecretAccessKey"], granted["SessionToken"])

    posted = call("POST", gateway + "logs", session, EVENT)
    read = call("GET", gateway + "logs/recent", session)

    assert posted.status_code == 201
    assert posted.json()["ingested_by"] == \
        "arn:aws:sts::000000000000:assumed-role/simple-log-service-local-log-ingest/smoke-1"
    assert_refused(read, "AccessDeniedException")


def test_session_keys_need_their_token(gateway):
    granted = sts_client(gateway).assume_role(
        RoleArn=OUTPUTS["log_read_role_arn"]["value"], RoleSessionName="s1",
        ExternalId=OUTPUTS["read_external_id"]["value"])["Credentials"]
    without_token = Credentials(granted["AccessKeyId"], granted["SecretAccessKey"])

    response = call("GET", gateway + "logs/recent", without_token)

    assert_refused(response, "UnrecognizedClientException")


@pytest.mark.parametrize("role_output, external_id", [
    ("log_ingest_role_arn", "wrong"),
    ("log_ingest_role_arn", None),
    (None, "local-only-ingest-external-id"),
])
def test_assume_role_needs_a_local_role_and_its_external_id(gateway, role_output, external_id):
    request = {"RoleArn": OUTPUTS[role_output]["value"] if role_output else "arn:aws:iam::1:role/other",
               "RoleSessionName": "s1"}
    if external_id:
        request["ExternalId"] = external_id

    with pytest.raises(ClientError) as raised:
        sts_client(gateway).assume_role(**request)

    assert raised.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.parametrize("profile, allowed", [
    ("slog-ingest", {"ingest"}),
    ("slog-read", {"read"}),
    ("slog-full", {"ingest", "read", "full_access"}),
])
def test_each_local_key_may_assume_only_the_roles_its_principal_is_trusted_for(gateway, profile, allowed):
    for name in ("ingest", "read", "full_access"):
        if name in allowed:
            assert sts_client(gateway, profile).assume_role(**role(name))["Credentials"]["AccessKeyId"]
        else:
            with pytest.raises(ClientError) as raised:
                sts_client(gateway, profile).assume_role(**role(name))
            status, code, message = sts_refusal(raised)
            assert (status, code) == (403, "AccessDenied")
            assert "is not authorized to perform: sts:AssumeRole" in message


def test_local_trust_is_each_roles_own_list_in_caller_roles_json(gateway_factory, tmp_path):
    """As in infra/iam.tf, a role trusts only the principals its own list names: take the full-access key off
    the read role's list and that key can no longer assume the read role, though it still assumes the others."""
    definitions = json.loads(local_auth.CALLER_ROLES_PATH.read_text())
    definitions["roles"]["log-read"]["local_trusted_profiles"] = ["slog-read"]
    path = tmp_path / "caller_roles.json"
    path.write_text(json.dumps(definitions))
    url = gateway_factory(caller_roles_path=path)

    with pytest.raises(ClientError) as raised:
        sts_client(url, "slog-full").assume_role(**role("read"))

    assert sts_refusal(raised)[:2] == (403, "AccessDenied")
    assert sts_client(url, "slog-full").assume_role(**role("ingest"))["Credentials"]["AccessKeyId"]
    assert sts_client(url, "slog-read").assume_role(**role("read"))["Credentials"]["AccessKeyId"]


def test_an_ingest_principal_cannot_assume_the_read_role_even_with_its_external_id(gateway):
    with pytest.raises(ClientError) as raised:
        sts_client(gateway, "slog-ingest").assume_role(**role("read"))

    assert sts_refusal(raised)[:2] == (403, "AccessDenied")


def test_temporary_keys_may_not_assume_a_role_again(gateway):
    granted = sts_client(gateway).assume_role(**role("full_access"))["Credentials"]
    session = Credentials(granted["AccessKeyId"], granted["SecretAccessKey"], granted["SessionToken"])

    with pytest.raises(ClientError) as raised:
        sts_client(gateway, session).assume_role(**role("full_access"))

    assert sts_refusal(raised)[:2] == (403, "AccessDenied")


@pytest.mark.parametrize("duration, granted", [(900, True), (3600, True), (3601, False), (43200, False)])
def test_sessions_last_from_15_minutes_to_the_roles_maximum_of_an_hour(gateway, duration, granted):
    before = datetime.now(UTC).replace(microsecond=0)
    if granted:
        expiration = sts_client(gateway).assume_role(**role("read"), DurationSeconds=duration)[
            "Credentials"]["Expiration"]
        assert before + timedelta(seconds=duration) <= expiration <= datetime.now(UTC) + timedelta(seconds=duration)
    else:
        with pytest.raises(ClientError) as raised:
            sts_client(gateway).assume_role(**role("read"), DurationSeconds=duration)
        assert sts_refusal(raised)[:2] == (400, "ValidationError")


def test_the_session_cap_is_the_roles_max_session_duration_in_terraform():
    declared = re.findall(r"max_session_duration\s*=\s*(\d+)", (ROOT / "infra" / "iam.tf").read_text())

    assert declared and {int(value) for value in declared} == {local_sts.MAX_SESSION_S}


@pytest.mark.parametrize("form, code", [
    ({"DurationSeconds": "abc"}, "ValidationError"),
    ({"DurationSeconds": "1e3"}, "ValidationError"),
    ({"DurationSeconds": "899"}, "ValidationError"),
    ({"RoleSessionName": "x"}, "ValidationError"),
    ({"RoleArn": ""}, "ValidationError"),
    ({"Action": "GetSessionToken"}, "InvalidAction"),
])
def test_malformed_assume_role_requests_get_stss_xml_error(gateway, form, code):
    url = gateway + "_local/sts"
    body = urlencode({"Action": "AssumeRole", "Version": "2011-06-15", **role("read"), **form}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

    response = call("POST", url, "slog-full", body, service="sts", headers=headers)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "text/xml"
    error = ElementTree.fromstring(response.content)
    assert error.tag == f"{{{local_sts.XMLNS}}}ErrorResponse"
    assert error.findtext(f"{{{local_sts.XMLNS}}}Error/{{{local_sts.XMLNS}}}Code") == code


def test_a_bad_signature_to_sts_is_stss_own_refusal(gateway):
    wrong = Credentials(keys("slog-full").access_key, "not-the-secret")

    with pytest.raises(ClientError) as raised:
        sts_client(gateway, wrong).assume_role(**role("read"))

    assert sts_refusal(raised)[:2] == (403, "SignatureDoesNotMatch")


def test_expired_sessions_are_forgotten():
    now = [1000.0]
    registry = CallerRegistry.from_files(clock=lambda: now[0])
    sessions = [registry.issue_session(registry.roles["log-read"], "s", duration_s=900) for _ in range(50)]

    assert registry.lookup(sessions[0].access_key) is sessions[0]
    now[0] += 901
    assert registry.lookup(sessions[0].access_key) is None
    fresh = registry.issue_session(registry.roles["log-read"], "s", duration_s=900)
    assert list(registry._sessions) == [fresh.access_key]  # none of the 49 unlooked-up expired ones is kept


# --- the files ------------------------------------------------------------------

def test_every_role_has_a_local_profile_and_default_is_full_access():
    for name, spec in ROLES.items():
        assert CREDENTIALS.has_section(spec["local_profile"]), name
        assert spec["local_profile"] in spec["local_trusted_profiles"], name
        assert all(CREDENTIALS.has_section(profile) for profile in spec["local_trusted_profiles"]), name
    assert dict(CREDENTIALS["default"]) == dict(CREDENTIALS[ROLES["log-full-access"]["local_profile"]])
    keys_in_use = [CREDENTIALS[spec["local_profile"]]["aws_access_key_id"] for spec in ROLES.values()]
    assert len(set(keys_in_use)) == len(ROLES)
    assert "LOCAL-ONLY" in (ROOT / "local" / "aws-credentials").read_text()


def test_local_outputs_name_the_roles_the_gateway_knows():
    roles = local_auth.load_roles()

    for name, spec in ROLES.items():
        output = OUTPUTS[f"log_{name.removeprefix('log-').replace('-', '_')}_role_arn"]["value"]
        assert output == role_arn(name) == roles[name].arn
        assert roles[name].external_id == OUTPUTS[spec["external_id_variable"]]["value"]
    assert urlsplit(OUTPUTS["api_endpoint"]["value"]).hostname == "127.0.0.1"


def test_verifier_uses_the_request_target_as_sent():
    registry = CallerRegistry.from_files()
    verifier = SigV4Verifier(registry)
    headers, _ = sign("GET", "http://127.0.0.1:1/logs/recent?limit=5", keys("slog-read"))
    received = [("Host", "127.0.0.1:1"), *headers.items()]

    caller = verifier.start("GET", "/logs/recent?limit=5", received).verify(b"")

    assert caller.role.name == "log-read"
    with pytest.raises(local_auth.AuthError):
        verifier.start("GET", "/logs/recent?limit=50", received).verify(b"")
    with pytest.raises(local_auth.AuthError):
        verifier.start("GET", "/logs/recent?limit=5", received[1:])
