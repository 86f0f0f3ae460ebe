"""The HTTP contract through Chalice's test client, over moto."""
import json
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError
from chalice import IAMAuthorizer

from chalicelib import answer, aws, service
from chalicelib import events as ev

JSON = {"content-type": "application/json"}


def post(api, body, headers=JSON):
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return api.http.post("/logs", headers=headers, body=raw)


def get(api, **params):
    query = "&".join(f"{name}={quote(str(value), safe='')}" for name, value in params.items())
    return api.http.get("/logs/recent" + (f"?{query}" if query else ""))


def iso(epoch_ms):
    return ev.format_time(epoch_ms)


def event(**fields):
    base = {"service_name": "billing", "level": "info", "message": "paid"}
    base.update(fields)
    return base


def stored_count(api):
    return get(api, limit=1000).json_body["count"]


def assert_error(response, status, field):
    assert response.status_code == status, response.body
    body = response.json_body
    assert set(body) >= {"Code", "Message"}
    assert body["Message"].startswith(f"{field}: "), body["Message"]
    assert "Traceback" not in response.body.decode()


# --- every route is behind IAM ---------------------------------------------------

def test_every_route_requires_iam_authorization():
    from app import app

    assert app.routes, "the app has no routes"
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            assert isinstance(entry.authorizer, IAMAuthorizer), f"{method} {path} lacks IAMAuthorizer"
    assert app.debug is False


# --- POST /logs: one event -----------------------------------------------------

def test_one_event_is_stored_and_returned(api):
    response = post(api, event(metadata={"order": 42}, event_id="o-42"))
    assert response.status_code == 201
    body = response.json_body
    assert body["service_name"] == "billing" and body["level"] == "INFO" and body["log_type"] == "application"
    assert body["metadata"] == {"order": 42} and body["event_id"] == "o-42"
    assert len(body["log_id"]) == 26
    assert body["timestamp"].endswith("Z") and len(body["timestamp"]) == 24
    assert get(api).json_body["logs"] == [body]


@pytest.mark.parametrize("timestamp", [None, "an hour ago"])
def test_a_resend_answers_the_first_log_id_with_what_this_caller_sent_and_changes_nothing(api, timestamp):
    fields = {"event_id": "dup"}
    if timestamp:
        fields["timestamp"] = service.now_ms() - 3600 * 1000
    first = post(api, event(message="original", metadata={"secret": 1}, **fields)).json_body

    second = post(api, event(message="original", metadata={"secret": 1}, **fields))

    assert second.status_code == 201
    assert second.json_body["log_id"] == first["log_id"]
    assert second.json_body["timestamp"] == first["timestamp"]
    assert get(api).json_body["logs"] == [first]


@pytest.mark.parametrize("timestamp", [None, "an hour ago"])
def test_a_resend_with_other_content_is_a_409_naming_event_id_and_changes_nothing(api, timestamp):
    fields = {"event_id": "E"}
    if timestamp:
        fields["timestamp"] = service.now_ms() - 3600 * 1000
    first = post(api, event(message="all good", **fields)).json_body

    second = post(api, event(message="ERROR PAYMENT DB DOWN", level="ERROR", **fields))

    assert second.status_code == 409
    assert second.json_body["Code"] == "ConflictError" and second.json_body["Message"].startswith("event_id: ")
    assert get(api).json_body["logs"] == [first]


def test_a_batch_of_nothing_but_resends_with_other_content_is_a_409_not_a_503(api):
    post(api, event(message="all good", event_id="E"))

    response = post(api, {"logs": [event(message="other", event_id="E")]})

    assert response.status_code == 409 and response.json_body["Message"].startswith("event_id: ")
    assert [r["Code"] for r in response.json_body["rejected"]] == ["ConflictError"]


def test_in_a_batch_a_resend_with_other_content_is_a_rejection_that_is_not_retryable(api):
    first = post(api, event(message="all good", event_id="E")).json_body

    response = post(api, {"logs": [event(message="other", event_id="E"), event(message="new", event_id="F")]})

    assert response.status_code == 207
    (rejection,) = response.json_body["rejected"]
    assert rejection["index"] == 0 and rejection["Code"] == "ConflictError" and rejection["retryable"] is False
    assert rejection["Message"].startswith("event_id: ") and response.json_body["log_ids"][0] is None
    assert [e["message"] for e in get(api).json_body["logs"]] == ["new", first["message"]]


def invoke_as(user_arn, body, context=None):
    """POST /logs through the Lambda entry point, as API Gateway calls it for ``user_arn``."""
    from app import app

    response = app(api_gateway_event("POST", "/logs", body, user_arn=user_arn), context)
    return response["statusCode"], json.loads(response["body"])


INGEST_SESSION = "arn:aws:sts::123456789012:assumed-role/simple-log-service-dev-log-ingest/ci-1"
INGEST_OTHER_SESSION = "arn:aws:sts::123456789012:assumed-role/simple-log-service-dev-log-ingest/ci-2"
FULL_SESSION = "arn:aws:sts::123456789012:assumed-role/simple-log-service-dev-log-full-access/dev"


@pytest.mark.parametrize("timestamp", [None, "an hour ago"])
def test_an_event_id_is_its_caller_roles_own(api, test_stage_env, timestamp):
    fields = {"event_id": "inv-42"}
    if timestamp:
        fields["timestamp"] = service.now_ms() - 3600 * 1000
    status, mine = invoke_as(INGEST_SESSION, event(message="mine", **fields))
    assert status == 201

    _, theirs = invoke_as(FULL_SESSION, event(message="theirs", **fields))
    _, again = invoke_as(INGEST_OTHER_SESSION, event(message="mine", **fields))

    assert theirs["log_id"] != mine["log_id"] and again["log_id"] == mine["log_id"]
    assert again["ingested_by"] == INGEST_OTHER_SESSION and again["message"] == "mine"
    stored = {e["log_id"]: (e["message"], e["ingested_by"]) for e in get(api).json_body["logs"]}
    assert stored == {mine["log_id"]: ("mine", INGEST_SESSION), theirs["log_id"]: ("theirs", FULL_SESSION)}


def test_a_request_with_no_time_left_stores_nothing_and_is_503(api, test_stage_env):
    from chalicelib.aws import safety_margin_ms

    class AlmostOutOfTime:
        @staticmethod
        def get_remaining_time_in_millis():
            return safety_margin_ms()

    status, body = invoke_as(INGEST_SESSION, {"logs": [event(), event()]}, AlmostOutOfTime())

    assert status == 503 and body["Code"] == "ServiceUnavailableError"
    assert stored_count(api) == 0


@pytest.mark.parametrize("body, field", [
    (event(level="LOUD"), "level"),
    (event(mesage="typo"), "mesage"),
    ({"level": "INFO", "message": "m"}, "service_name"),
    (event(timestamp="2026-01-01T00:00:00"), "timestamp"),
    (event(metadata=[1]), "metadata"),
    ([event()], "body"),
    ({"logs": []}, "logs"),
])
def test_an_invalid_event_is_a_400_naming_the_field_and_stores_nothing(api, body, field):
    assert_error(post(api, body), 400, field)
    assert stored_count(api) == 0


@pytest.mark.parametrize("raw, field", [
    ('{"service_name": "a", "level": "INFO", "message": NaN}', "message"),
    ('{"service_name": "a", "service_name": "b", "level": "INFO", "message": "m"}', "service_name"),
    ('{"logs": [{"service_name": "a", "level": "INFO", "message": "m", "metadata": {"n": 1e999}}]}',
     "logs[0].metadata.n"),
    ('{"service_name": "a",', "body"),
    ("", "body"),
])
def test_non_strict_json_is_a_400_naming_where(api, raw, field):
    assert_error(post(api, raw), 400, field)
    assert stored_count(api) == 0


def test_a_body_over_one_mebibyte_is_413(api):
    response = post(api, {"logs": [event(message="x" * 200_000) for _ in range(6)]})
    assert_error(response, 413, "body")
    assert stored_count(api) == 0


def test_a_body_that_is_not_json_is_415(api):
    response = post(api, "hello", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert response.json_body["Code"] == "UnsupportedMediaType"


def test_json_with_a_charset_is_accepted(api):
    assert post(api, event(), headers={"content-type": "application/json; charset=utf-8"}).status_code == 201


# --- POST /logs: batches -------------------------------------------------------

def test_a_batch_all_stored_is_201_with_log_ids_in_order(api):
    response = post(api, {"logs": [event(message=str(n)) for n in range(30)]})
    assert response.status_code == 201
    body = response.json_body
    assert body["accepted"] == 30 and body["rejected"] == [] and len(body["log_ids"]) == 30
    newest_first = [e["log_id"] for e in get(api).json_body["logs"]]
    assert sorted(body["log_ids"], reverse=True) == newest_first


def test_a_batch_with_one_bad_event_stores_the_rest_as_207(api):
    response = post(api, {"logs": [event(), event(level="nope"), event()]})
    assert response.status_code == 207
    body = response.json_body
    assert body["accepted"] == 2
    assert body["log_ids"][1] is None and body["log_ids"][0] and body["log_ids"][2]
    (rejected,) = body["rejected"]
    assert rejected["index"] == 1 and rejected["retryable"] is False
    assert rejected["Code"] == "BadRequestError" and rejected["Message"].startswith("level: ")
    assert stored_count(api) == 2


def test_a_batch_with_no_valid_event_is_400_and_stores_nothing(api):
    response = post(api, {"logs": [event(level="x"), {"message": "m"}]})
    assert response.status_code == 400
    body = response.json_body
    assert body["Code"] == "BadRequestError" and body["Message"].startswith("logs: ")
    assert body["accepted"] == 0 and body["log_ids"] == [None, None]
    assert [r["index"] for r in body["rejected"]] == [0, 1]
    assert stored_count(api) == 0


def test_a_batch_of_1000_is_stored(api):
    response = post(api, {"logs": [event(message=str(n % 990), event_id=f"e{n % 990}") for n in range(1000)]})
    assert response.status_code == 201
    assert response.json_body["accepted"] == 1000
    assert stored_count(api) == 990


def test_a_batch_of_1001_is_400(api):
    assert_error(post(api, {"logs": [event()] * 1001}), 400, "logs")


# --- storage failures ------------------------------------------------------------

class AlwaysUnprocessed:
    """A DynamoDB client whose BatchWriteItem never stores events of one service."""

    def __init__(self, client, service_name):
        self._client = client
        self._service = service_name

    def __getattr__(self, name):
        return getattr(self._client, name)

    def batch_write_item(self, RequestItems):
        (table, requests), = RequestItems.items()
        keep = [r for r in requests if r["PutRequest"]["Item"]["service_name"]["S"] != self._service]
        if keep:
            self._client.batch_write_item(RequestItems={table: keep})
        left = [r for r in requests if r not in keep]
        return {"UnprocessedItems": {table: left} if left else {}}


@pytest.fixture
def failing_storage(api, dynamodb):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chalicelib.repository.calls.BACKOFF_BASE_S", 0)
        service.reset()
        real = aws.client("dynamodb")
        patch.setattr(aws, "client", lambda name: AlwaysUnprocessed(real, "flaky"))
        yield api
    service.reset()


def test_events_unstored_after_retries_come_back_retryable_as_207(failing_storage):
    api = failing_storage
    response = post(api, {"logs": [event(), event(service_name="flaky"), event(level="bad")]})
    assert response.status_code == 207
    body = response.json_body
    assert body["accepted"] == 1 and body["log_ids"][1] is None
    assert [(r["index"], r["retryable"]) for r in body["rejected"]] == [(1, True), (2, False)]
    assert stored_count(api) == 1


def test_a_request_storage_cannot_take_at_all_is_503_with_retry_after(failing_storage):
    response = post(failing_storage, event(service_name="flaky"))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json_body["Code"] == "ServiceUnavailableError"


def test_a_misconfigured_stage_is_a_500_without_internals(api, monkeypatch):
    from chalicelib import settings

    def missing():
        raise settings.SettingsError("environment variable LOG_TABLE_NAME is not set")

    service.reset()
    monkeypatch.setattr(settings, "table_name", missing)
    response = post(api, event())
    assert response.status_code == 500
    assert "LOG_TABLE_NAME" not in response.body.decode()


def test_read_throttling_is_503(api):
    class Throttled:
        def query(self, **kwargs):
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "x"}}, "Query")

    service.reset()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aws, "client", lambda name: Throttled())
        response = get(api)
    service.reset()
    assert response.status_code == 503 and "Retry-After" in response.headers


# --- the caller's identity -------------------------------------------------------

def api_gateway_event(method, path, body=None, user_arn=None):
    identity = {"sourceIp": "203.0.113.9"}
    if user_arn:
        identity["userArn"] = user_arn
    return {
        "resource": path, "path": path, "httpMethod": method,
        "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {},
        "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
        "stageVariables": None, "isBase64Encoded": False, "body": json.dumps(body) if body is not None else None,
        "requestContext": {"resourcePath": path, "httpMethod": method, "stage": "api", "identity": identity},
    }


def test_ingested_by_is_the_calling_principal_from_the_request_context(api, test_stage_env):
    from app import app

    arn = "arn:aws:sts::123456789012:assumed-role/simple-log-service-dev-log-ingest/ci"
    response = app(api_gateway_event("POST", "/logs", event(), user_arn=arn), None)
    assert response["statusCode"] == 201, response
    assert json.loads(response["body"])["ingested_by"] == arn
    assert get(api).json_body["logs"][0]["ingested_by"] == arn


def test_ingested_by_is_null_when_the_principal_is_unknown(api):
    assert post(api, event()).json_body["ingested_by"] is None


# --- GET /logs/recent ----------------------------------------------------------

def test_recent_returns_newest_first_with_count_and_no_cursor_when_done(api):
    hour_ago = service.now_ms() - 3600 * 1000
    post(api, {"logs": [event(message=str(n), timestamp=iso(hour_ago + n * 1000)) for n in range(5)]})
    body = get(api, since=iso(hour_ago - 24 * 3600 * 1000), until=iso(hour_ago + 3600 * 1000)).json_body
    assert body["count"] == 5 and body["next_cursor"] is None
    assert [e["message"] for e in body["logs"]] == ["4", "3", "2", "1", "0"]


def test_filters_by_service_level_and_type(api):
    post(api, {"logs": [event(service_name="a", level="error", log_type="audit"), event(service_name="a"),
                        event(service_name="b", level="error", log_type="audit")]})
    body = get(api, service_name="a", level="ERROR", log_type="audit").json_body
    assert body["count"] == 1
    assert (body["logs"][0]["service_name"], body["logs"][0]["level"]) == ("a", "ERROR")
    assert get(api, level="Critical").json_body["count"] == 0


def test_cursor_pages_visit_every_event_once(api):
    post(api, {"logs": [event(message=str(n)) for n in range(23)]})
    seen, cursor = [], None
    while True:
        params = {"limit": 5, "service_name": "billing"}
        if cursor:
            params["cursor"] = cursor
        body = get(api, **params).json_body
        seen.extend(e["message"] for e in body["logs"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen, key=int) == [str(n) for n in range(23)] and len(seen) == 23


def lambda_payload_bytes(response):
    """The bytes Lambda would return for this answer: the proxy result as JSON, as a python3.11 runtime writes it."""
    result = {"statusCode": response.status_code, "headers": dict(response.headers), "multiValueHeaders": {},
              "body": response.body.decode("utf-8")}
    return len(json.dumps(result).encode("utf-8"))


def test_answers_stay_under_5_000_000_bytes_and_lambdas_limit_and_page_on_with_a_cursor(api):
    hostile = [ev.LogEvent(service_name="billing", level="INFO", log_type="application",
                           message="\x01" * ev.MAX_MESSAGE_BYTES, timestamp_ms=service.now_ms() - n, metadata=None,
                           event_id=None) for n in range(15)]
    service.repository().put_events(hostile, None, service.now_ms())
    seen, cursor, pages = [], None, 0
    while True:
        response = get(api, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200
        assert len(response.body) <= 5_000_000 and lambda_payload_bytes(response) <= 6_291_456
        body = response.json_body
        assert body["count"] >= 1
        seen.extend(e["log_id"] for e in body["logs"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 15 and pages >= 5


def test_non_ascii_text_is_answered_as_itself_in_utf_8(api):
    text = "naïve – 日本語 ✓ 🙂"
    post(api, event(message=text, metadata={"city": "Zürich"}))
    response = get(api)
    assert {name.lower(): value for name, value in response.headers.items()}["content-type"] == answer.CONTENT_TYPE
    assert text.encode("utf-8") in response.body and "Zürich".encode() in response.body
    assert b"\\u" not in response.body
    assert response.json_body["logs"][0]["message"] == text


def test_a_cursor_alone_keeps_the_filters_it_was_made_with(api):
    post(api, {"logs": [event(service_name="a", message=f"a{n}") for n in range(3)] + [event(service_name="b")]})
    cursor = get(api, service_name="a", limit=1).json_body["next_cursor"]
    body = get(api, cursor=cursor, limit=10).json_body
    assert [e["service_name"] for e in body["logs"]] == ["a", "a"]


def test_an_altered_or_forged_cursor_is_400(api):
    post(api, {"logs": [event() for _ in range(3)]})
    cursor = get(api, limit=1).json_body["next_cursor"]
    key_id, payload, signature = cursor.split(".")
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    for bad in (f"{key_id}.{flipped}.{signature}", f"{key_id}.{payload}.{signature[::-1]}",
                f"other.{payload}.{signature}", "garbage", cursor + "x"):
        assert_error(get(api, cursor=bad), 400, "cursor")


def test_a_cursor_with_other_filters_is_400(api):
    post(api, {"logs": [event() for _ in range(3)]})
    cursor = get(api, limit=1, level="info").json_body["next_cursor"]
    assert_error(get(api, cursor=cursor, level="error"), 400, "cursor")
    assert get(api, cursor=cursor, level="info").status_code == 200


@pytest.mark.parametrize("params, field", [
    ({"limit": 0}, "limit"), ({"limit": "abc"}, "limit"), ({"verbose": 1}, "verbose"),
    ({"hours": 2, "since": "2026-11-28T00:00:00Z"}, "hours"), ({"since": "tomorrow"}, "since"),
])
def test_bad_query_parameters_are_400(api, params, field):
    assert_error(get(api, **params), 400, field)


def test_hours_narrows_the_window(api):
    post(api, {"logs": [event(message="old", timestamp=service.now_ms() - 3 * 3600 * 1000), event(message="new")]})
    assert [e["message"] for e in get(api, hours=2).json_body["logs"]] == ["new"]
    assert [e["message"] for e in get(api, hours=4).json_body["logs"]] == ["new", "old"]
