"""Properties of the HTTP surface, checked with hypothesis through the real routes.

A client mistake is never a 5xx, whatever JSON (or bytes) arrives, and any
change to a cursor the service issued is a 400.
"""
import json
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chalicelib import cursor
from chalicelib.events import EVENT_FIELDS
from chalicelib.query import PARAMETERS as QUERY_PARAMETERS
from tests.conftest import TEST_STAGE

PROPERTY = settings(max_examples=250, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
JSON_HEADERS = {"content-type": "application/json"}

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=16,
)
plausible = st.sampled_from([
    "INFO", "warning", "critical", "FATAL", "", " ", "svc-1", "a" * 129, "application", "2026-11-28T10:30:45.123Z",
    "2026-11-28T10:30:45", "1700000000000", "evt-1", "\u00e9v\u00e9nement",
])
# Numbers with thousands of digits, some of them zero-padded (int() refuses more than 4,300).
long_digits = st.builds(lambda zeros, digits: "0" * zeros + digits, st.integers(0, 5000),
                        st.integers(1, 6000).map(lambda count: "9" * count))


def nested(depth, leaf):
    value = leaf
    for level in range(depth):
        value = {"n": value} if level % 3 else [value]
    return value


# Deeper than the metadata limit, up to as deep as the JSON parser takes.
deep = st.builds(nested, st.integers(1, 980), json_values)
field_values = json_values | plausible | st.integers(min_value=-(2 ** 70), max_value=2 ** 70) | long_digits | deep
events = st.dictionaries(st.sampled_from(EVENT_FIELDS + ("mesage", "logs", "")), field_values, max_size=8)
valid_ish = st.builds(lambda changes: {"service_name": "svc", "level": "INFO", "message": "m", **changes},
                      st.dictionaries(st.sampled_from(EVENT_FIELDS), field_values, max_size=2))
bodies = (json_values | events | valid_ish
          | st.builds(lambda logs: {"logs": logs}, st.lists(valid_ish | events | json_values, max_size=5)))


def _assert_client_error_shape(response):
    assert response.status_code < 500, response.body
    if response.status_code >= 400:
        body = json.loads(response.body)
        assert set(body) >= {"Code", "Message"}


@PROPERTY
@given(body=bodies)
def test_any_json_body_posted_is_never_a_server_error(api, body):
    response = api.http.post("/logs", body=json.dumps(body), headers=JSON_HEADERS)
    _assert_client_error_shape(response)


@PROPERTY
@given(raw=st.binary(max_size=200))
def test_any_bytes_posted_are_never_a_server_error(api, raw):
    response = api.http.post("/logs", body=raw, headers=JSON_HEADERS)
    _assert_client_error_shape(response)


@PROPERTY
@given(params=st.dictionaries(st.sampled_from(QUERY_PARAMETERS + ("x", "Limit")),
                              st.lists(text | plausible | st.integers().map(str) | long_digits
                                       | st.sampled_from(["0001-01-02T00:00:00Z", "1969-12-31T23:59:59Z",
                                                          "9999-12-31T23:59:59Z"]),
                                       min_size=1, max_size=2),
                              max_size=4))
def test_any_query_parameters_are_never_a_server_error(api, params):
    response = api.http.get("/logs/recent?" + urlencode(params, doseq=True, quote_via=quote))
    _assert_client_error_shape(response)


@pytest.fixture
def issued_cursor(api):
    body = json.dumps({"logs": [{"service_name": "svc", "level": "INFO", "message": f"m{n}"} for n in range(3)]})
    assert api.http.post("/logs", body=body, headers=JSON_HEADERS).status_code == 201
    cursor = api.http.get("/logs/recent?limit=1").json_body["next_cursor"]
    assert cursor
    assert api.http.get("/logs/recent?cursor=" + quote(cursor, safe="")).status_code == 200
    return cursor


@st.composite
def alterations(draw, original):
    chars = st.characters(min_codepoint=32, max_codepoint=126) | st.characters(exclude_categories=["Cs"])
    kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "append", "swap_halves"]))
    at = draw(st.integers(min_value=0, max_value=len(original) - 1))
    if kind == "replace":
        return original[:at] + draw(chars) + original[at + 1:]
    if kind == "insert":
        return original[:at] + draw(chars) + original[at:]
    if kind == "delete":
        return original[:at] + original[at + 1:]
    if kind == "truncate":
        return original[:at]
    if kind == "append":
        return original + draw(st.text(chars, min_size=1, max_size=5))
    key_id, payload, signature = original.split(".")
    return f"{key_id}.{signature}.{payload}"


@PROPERTY
@given(data=st.data())
def test_any_altered_cursor_is_a_400(api, issued_cursor, data):
    altered = data.draw(alterations(issued_cursor))
    assume(altered != issued_cursor)
    response = api.http.get("/logs/recent?cursor=" + quote(altered, safe=""))
    assert response.status_code == 400, (altered, response.body)
    assert json.loads(response.body)["Code"] == "BadRequestError"


@PROPERTY
@given(after=json_values | st.just("0" * 26), window=json_values | st.lists(st.integers(), min_size=2, max_size=2),
       fingerprint=json_values | st.lists(json_values, min_size=7, max_size=10))
def test_any_correctly_signed_cursor_is_never_a_server_error(api, after, window, fingerprint):
    key = TEST_STAGE["environment_variables"]["CURSOR_SIGNING_KEY"]
    body = json.dumps({"v": cursor.VERSION, "a": after, "w": window, "f": fingerprint}, separators=(",", ":"))
    signed = cursor.key_id_of(key) + "." + cursor._b64encode(body.encode())
    token = signed + "." + cursor._b64encode(cursor._signature(key, signed))

    response = api.http.get("/logs/recent?cursor=" + quote(token, safe=""))

    _assert_client_error_shape(response)
