"""Validation and normalization: every rule of the contract's event table and query parameters."""
import json

import pytest

from chalicelib import events as ev
from chalicelib.errors import PayloadTooLarge, ValidationError

NOW = 1_795_000_000_000  # 2026-11-18T11:06:40Z, a fixed clock
RETENTION = 7


def event(**fields):
    base = {"service_name": "billing", "level": "INFO", "message": "paid"}
    base.update(fields)
    return base


def normalize(**fields):
    return ev.normalize_event(event(**fields), NOW, RETENTION)


def rejects(field, **fields):
    with pytest.raises(ValidationError) as caught:
        normalize(**fields)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    return caught.value


# --- strict JSON ---------------------------------------------------------------

@pytest.mark.parametrize("raw", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}'])
def test_non_finite_numbers_are_rejected_naming_where(raw):
    with pytest.raises(ValidationError, match="^a: .*Infinity|^a: NaN"):
        ev.parse_json_body(raw)


def test_refused_values_are_named_by_their_path():
    with pytest.raises(ValidationError, match=r"^logs\[1\]\.metadata\.n: NaN is not valid JSON"):
        ev.parse_json_body(b'{"logs": [{"metadata": {"n": 1}}, {"metadata": {"n": NaN}}]}')
    with pytest.raises(ValidationError, match=r"^logs\[0\]\.metadata\.list\[2\]: "):
        ev.parse_json_body(b'{"logs": [{"metadata": {"list": [1, 2, Infinity]}}]}')


def test_duplicate_keys_are_rejected_naming_the_key_even_when_nested():
    with pytest.raises(ValidationError, match="^metadata.b: duplicate key"):
        ev.parse_json_body(b'{"metadata": {"b": 1, "b": 2}}')
    with pytest.raises(ValidationError, match="^message: duplicate key"):
        ev.parse_json_body(b'{"message": "a", "message": "b"}')


@pytest.mark.parametrize("raw", [b"", b"   ", b"{", b"[1,]", b"\xff\xfe", b'{"a": 1} trailing', b"\xef\xbb\xbf{}"])
def test_malformed_bodies_are_400(raw):
    with pytest.raises(ValidationError, match="^body: "):
        ev.parse_json_body(raw)


@pytest.mark.parametrize("number", [b"1e999", b"-1e999", b"1.5e400"])
def test_numbers_that_overflow_a_double_are_rejected_not_stored_as_infinity(number):
    with pytest.raises(ValidationError, match="^metadata.n: the number .* out of range"):
        ev.parse_json_body(b'{"metadata": {"n": ' + number + b"}}")
    assert ev.parse_json_body(b'{"n": 1.5e300}') == {"n": 1.5e300}


def test_an_integer_with_thousands_of_digits_is_a_clear_400():
    with pytest.raises(ValidationError, match="^body: holds an integer with too many digits"):
        ev.parse_json_body(b'{"n": ' + b"1" * 5000 + b"}")


def test_deeply_nested_json_is_a_clear_400_not_a_crash():
    with pytest.raises(ValidationError, match="^body: "):
        ev.parse_json_body(b"[" * 100_000 + b"]" * 100_000)


def test_body_over_one_mebibyte_is_too_large_and_at_the_limit_is_not():
    at_limit = b'{"message": "' + b"x" * (ev.MAX_BODY_BYTES - 15) + b'"}'
    assert len(at_limit) == ev.MAX_BODY_BYTES
    assert ev.parse_json_body(at_limit)["message"].startswith("x")
    with pytest.raises(PayloadTooLarge):
        ev.parse_json_body(at_limit + b" ")


def test_a_missing_body_is_400():
    with pytest.raises(ValidationError, match="^body: is empty"):
        ev.parse_json_body(None)


def test_a_str_body_is_parsed_like_bytes():
    assert ev.parse_json_body('{"a": "é"}') == {"a": "é"}


# --- body shapes ---------------------------------------------------------------

def test_single_event_and_batch_shapes():
    assert ev.split_body(event()) == ([event()], False)
    assert ev.split_body({"logs": [event(), event()]}) == ([event(), event()], True)


@pytest.mark.parametrize("body, field", [
    ([event()], "body"),
    ("text", "body"),
    ({"logs": event()}, "logs"),
    ({"logs": []}, "logs"),
    ({"logs": [event()] * 1001}, "logs"),
    ({"logs": [event()], "service_name": "x"}, "service_name"),
])
def test_other_top_level_shapes_are_400(body, field):
    with pytest.raises(ValidationError) as caught:
        ev.split_body(body)
    assert caught.value.field == field


def test_a_batch_of_exactly_1000_is_allowed():
    assert len(ev.split_body({"logs": [event()] * 1000})[0]) == 1000


# --- fields --------------------------------------------------------------------

def test_a_minimal_event_gets_defaults():
    result = normalize()
    assert result == ev.LogEvent("billing", "INFO", "paid", "application", NOW, None, None, server_stamped=True)


def test_an_event_with_its_own_timestamp_is_not_server_stamped():
    assert normalize(timestamp=NOW - 1000).server_stamped is False


@pytest.mark.parametrize("field", ["service_name", "level", "message"])
def test_required_fields(field):
    raw = event()
    del raw[field]
    with pytest.raises(ValidationError, match=f"^{field}: is required"):
        ev.normalize_event(raw, NOW, RETENTION)


def test_unknown_fields_are_rejected_by_name():
    rejects("mesage", mesage="typo")


def test_an_event_that_is_not_an_object_is_rejected():
    with pytest.raises(ValidationError, match="^event: "):
        ev.normalize_event(["x"], NOW, RETENTION)


@pytest.mark.parametrize("name", ["a", "A9", "svc.name_1:2/3-4", "x" * 128])
def test_valid_service_names(name):
    assert normalize(service_name=name).service_name == name


@pytest.mark.parametrize("name", ["", "x" * 129, "-lead", ".lead", "has space", "hash#", "ünï", 7, None])
def test_invalid_service_names(name):
    rejects("service_name", service_name=name)


@pytest.mark.parametrize("log_type", ["", "x" * 65, "_x", "a b", 1])
def test_invalid_log_types(log_type):
    rejects("log_type", log_type=log_type)


def test_log_type_of_64_chars_is_allowed():
    assert normalize(log_type="a" * 64).log_type == "a" * 64


@pytest.mark.parametrize("given, stored", [
    ("info", "INFO"), ("Info", "INFO"), ("trace", "TRACE"), ("DEBUG", "DEBUG"), ("warn", "WARN"),
    ("WARNING", "WARN"), ("warning", "WARN"), ("error", "ERROR"), ("fatal", "FATAL"), ("critical", "FATAL"),
])
def test_levels_any_case_with_aliases_stored_upper_case(given, stored):
    assert normalize(level=given).level == stored


@pytest.mark.parametrize("level", ["", "NOTICE", " INFO", "INF", 3, None, ["INFO"]])
def test_invalid_levels_name_the_allowed_values(level):
    error = rejects("level", level=level)
    if isinstance(level, str):
        assert "TRACE, DEBUG, INFO, WARN, ERROR, FATAL" in str(error)


def test_message_limits():
    assert normalize(message="x" * ev.MAX_MESSAGE_BYTES).message
    rejects("message", message="")
    rejects("message", message="x" * (ev.MAX_MESSAGE_BYTES + 1))
    # 256 KiB is measured in UTF-8 bytes, not characters
    rejects("message", message="é" * (ev.MAX_MESSAGE_BYTES // 2 + 1))
    rejects("message", message=5)
    rejects("message", message="\ud800 lone surrogate")


def test_metadata_rules():
    assert normalize(metadata={"a": [1, {"b": None}]}).metadata == {"a": [1, {"b": None}]}
    rejects("metadata", metadata=[1])
    rejects("metadata", metadata="{}")
    rejects("metadata", metadata={"k": "\udc00"})


def test_metadata_depth_is_at_most_8():
    def nested(depth):
        value = {}
        for _ in range(depth - 1):
            value = {"n": value}
        return value

    assert normalize(metadata=nested(8)).metadata
    rejects("metadata", metadata=nested(9))


def test_metadata_size_is_at_most_16_kib_serialized():
    overhead = len(json.dumps({"k": ""}, separators=(",", ":")))
    assert normalize(metadata={"k": "x" * (ev.MAX_METADATA_BYTES - overhead)}).metadata
    rejects("metadata", metadata={"k": "x" * (ev.MAX_METADATA_BYTES - overhead + 1)})


@pytest.mark.parametrize("event_id", ["a", "x" * 128, "order-42/retry#1", " ~!"])
def test_valid_event_ids(event_id):
    assert normalize(event_id=event_id).event_id == event_id


@pytest.mark.parametrize("event_id", ["", "x" * 129, "tab\there", "é", "new\nline", 12])
def test_invalid_event_ids(event_id):
    rejects("event_id", event_id=event_id)


# --- timestamps ----------------------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ("2026-11-19T10:30:45.123Z", 1_795_084_245_123),
    ("2026-11-19T10:30:45Z", 1_795_084_245_000),
    ("2026-11-19T11:30:45.123+01:00", 1_795_084_245_123),
    ("2026-11-19T05:30:45.123456-05:00", 1_795_084_245_123),
    (1_795_084_245_123, 1_795_084_245_123),
])
def test_timestamps_iso_with_zone_or_epoch_ms(given, expected):
    assert ev.parse_time("timestamp", given) == expected


@pytest.mark.parametrize("given", ["2026-11-19T10:30:45", "2026-11-19", "yesterday", "", 1.5, True, None, [1]])
def test_timestamps_without_zone_or_wrong_type_are_rejected(given):
    with pytest.raises(ValidationError, match="^timestamp: "):
        ev.parse_time("timestamp", given)


def test_negative_epoch_is_rejected():
    with pytest.raises(ValidationError, match="^since: "):
        ev.parse_time("since", -1)


def test_timestamp_window_is_retention_back_and_two_hours_ahead():
    two_hours = 2 * 3600 * 1000
    assert normalize(timestamp=NOW + two_hours).timestamp_ms == NOW + two_hours
    rejects("timestamp", timestamp=NOW + two_hours + 1)
    oldest = NOW - RETENTION * ev.DAY_MS
    assert normalize(timestamp=oldest).timestamp_ms == oldest
    rejects("timestamp", timestamp=oldest - 1)


def test_format_time_is_iso_utc_with_milliseconds():
    assert ev.format_time(1_795_084_245_007) == "2026-11-19T10:30:45.007Z"
    assert ev.parse_time("t", ev.format_time(1_795_084_245_007)) == 1_795_084_245_007


def test_query_time_with_plus_decoded_to_space_is_understood():
    assert ev.parse_query_time("since", "2026-11-19T11:30:45.123 01:00") == 1_795_084_245_123


def test_query_times_take_epoch_digits_but_a_body_timestamp_string_must_be_iso():
    assert ev.parse_query_time("until", "1795084245123") == 1_795_084_245_123
    with pytest.raises(ValidationError, match="^timestamp: "):
        ev.parse_time("timestamp", "1795084245123")


# --- batches -------------------------------------------------------------------

def test_validate_batch_reports_each_bad_event_by_index():
    batch, rejections = ev.validate_batch([event(), event(level="nope"), "x"], NOW, RETENTION)
    assert batch[0] is not None and batch[1] is None and batch[2] is None
    assert [(r.index, r.retryable) for r in rejections] == [(1, False), (2, False)]
    assert rejections[0].message.startswith("level: ")
    assert rejections[1].message.startswith("event: ")


# --- GET /logs/recent parameters -----------------------------------------------

def query(**params):
    return ev.parse_recent_query({name: [value] for name, value in params.items()}, NOW, RETENTION)


def test_query_defaults():
    q = query()
    assert (q.limit, q.service_name, q.level, q.log_type, q.cursor) == (100, None, None, None, None)
    assert (q.since_ms, q.until_ms) == (NOW - 24 * ev.HOUR_MS, NOW)
    assert q.fingerprint == (None,) * 6


def test_query_filters_are_normalized():
    q = query(limit="7", service_name="billing", level="warning", log_type="audit")
    assert (q.limit, q.service_name, q.level, q.log_type) == (7, "billing", "WARN", "audit")


@pytest.mark.parametrize("params, field", [
    ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"limit": "ten"}, "limit"), ({"limit": "1.5"}, "limit"),
    ({"limit": "-1"}, "limit"), ({"level": "LOUD"}, "level"), ({"service_name": "bad name"}, "service_name"),
    ({"log_type": ""}, "log_type"), ({"hours": "0"}, "hours"), ({"hours": str(RETENTION * 24 + 1)}, "hours"),
    ({"since": "2026-11-19T10:00:00"}, "since"), ({"until": "soon"}, "until"),
    ({"hours": "2", "since": "2026-11-19T10:00:00Z"}, "hours"), ({"cursor": ""}, "cursor"), ({"sort": "asc"}, "sort"),
])
def test_bad_query_parameters_are_400_naming_the_parameter(params, field):
    with pytest.raises(ValidationError) as caught:
        query(**params)
    assert caught.value.field == field


def test_hours_up_to_retention_sets_since():
    q = query(hours=str(RETENTION * 24))
    assert q.since_ms == NOW - RETENTION * 24 * ev.HOUR_MS
    assert q.fingerprint[5] == RETENTION * 24


def test_since_must_be_before_until():
    with pytest.raises(ValidationError, match="^since: "):
        query(since=str(NOW), until=str(NOW))
    with pytest.raises(ValidationError, match="^until: "):
        query(until=str(NOW - 25 * ev.HOUR_MS))
    q = query(since=str(NOW - 1000), until=str(NOW))
    assert (q.since_ms, q.until_ms) == (NOW - 1000, NOW)


def test_repeated_query_parameters_are_rejected():
    with pytest.raises(ValidationError, match="^limit: given more than once"):
        ev.parse_recent_query({"limit": ["1", "2"]}, NOW, RETENTION)
