"""Validation and normalization: every rule of the contract's event table."""
import json

import pytest

from chalicelib import events as ev
from chalicelib.errors import ValidationError

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


@pytest.mark.parametrize("level", ["ınfo", "ſevere", "erroR\u0130", "ＩＮＦＯ"])
def test_levels_are_ascii_words_not_what_unicode_upper_casing_makes_of_other_letters(level):
    error = rejects("level", level=level)
    assert "ASCII" in str(error)


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


@pytest.mark.parametrize("given, milliseconds, nanoseconds", [
    ("2026-11-19T10:30:45.123456Z", 1_795_084_245_123, 456_000),
    ("2026-11-19T05:30:45.000001-05:00", 1_795_084_245_000, 1_000),
    ("2026-11-19T10:30:45.123Z", 1_795_084_245_123, 0),
    (1_795_084_245_123, 1_795_084_245_123, 0),
    (ev.EpochNanos(1_795_084_245_123_456_789), 1_795_084_245_123, 456_789),
])
def test_an_events_timestamp_keeps_the_precision_the_sender_gave(given, milliseconds, nanoseconds):
    event = ev.normalize_event({"service_name": "s", "level": "INFO", "message": "m", "timestamp": given},
                               1_795_084_245_000, RETENTION)
    assert (event.timestamp_ms, event.sub_ms_ns) == (milliseconds, nanoseconds)


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


# --- batches -------------------------------------------------------------------

def test_validate_batch_reports_each_bad_event_by_index():
    batch, rejections = ev.validate_batch([event(), event(level="nope"), "x"], NOW, RETENTION)
    assert batch[0] is not None and batch[1] is None and batch[2] is None
    assert [(r.index, r.retryable) for r in rejections] == [(1, False), (2, False)]
    assert rejections[0].message.startswith("level: ")
    assert rejections[1].message.startswith("event: ")


@pytest.mark.parametrize("depth", [9, 400, 980])
def test_metadata_nested_deeper_than_the_limit_is_a_400_however_deep(depth):
    nested = {}
    for _ in range(depth - 1):
        nested = {"n": nested}
    rejects("metadata", metadata=nested)


def test_metadata_at_the_depth_limit_is_accepted_counting_arrays_as_levels():
    nested = {"n": [1]}
    for _ in range(ev.MAX_METADATA_DEPTH - 2):
        nested = {"n": nested}
    assert normalize(metadata=nested).metadata == nested
    rejects("metadata", metadata={"n": nested})
