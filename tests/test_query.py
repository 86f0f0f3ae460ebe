"""GET /logs/recent parameters: every rule of the contract's parameter table, the window, cursors' queries."""
import pytest

from chalicelib import events as ev
from chalicelib import query as qy
from chalicelib.cursor import Position
from chalicelib.errors import ValidationError

NOW = 1_795_000_000_000  # 2026-11-18T11:06:40Z, a fixed clock
RETENTION = 7


def query(**params):
    lists = {name: value if isinstance(value, list) else [value] for name, value in params.items()}
    return qy.parse_recent_query(lists, NOW, RETENTION)


def test_query_defaults():
    q = query()
    assert (q.limit, q.service_name, q.level, q.log_type, q.cursor) == (100, None, None, None, None)
    assert (q.since_ms, q.until_ms) == (NOW - 24 * qy.HOUR_MS, NOW)
    assert q.fingerprint == (None,) * 10 and q.search is None


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
    assert q.since_ms == NOW - RETENTION * 24 * qy.HOUR_MS
    assert q.fingerprint[6] == RETENTION * 24


def test_since_must_be_before_until():
    with pytest.raises(ValidationError, match="^since: "):
        query(since=str(NOW), until=str(NOW))
    with pytest.raises(ValidationError, match="^until: "):
        query(until=str(NOW - 25 * qy.HOUR_MS))
    q = query(since=str(NOW - 1000), until=str(NOW))
    assert (q.since_ms, q.until_ms) == (NOW - 1000, NOW)


def test_repeated_query_parameters_are_rejected():
    with pytest.raises(ValidationError, match="^limit: given more than once"):
        qy.parse_recent_query({"limit": ["1", "2"]}, NOW, RETENTION)


def test_query_time_with_plus_decoded_to_space_is_understood():
    assert qy.parse_query_time("since", "2026-11-19T11:30:45.123 01:00") == 1_795_084_245_123


def test_query_times_take_epoch_digits_but_a_body_timestamp_string_must_be_iso():
    assert qy.parse_query_time("until", "1795084245123") == 1_795_084_245_123
    with pytest.raises(ValidationError, match="^timestamp: "):
        ev.parse_time("timestamp", "1795084245123")


# --- min_level -----------------------------------------------------------------

@pytest.mark.parametrize("given, level", [("WARN", "WARN"), ("warning", "WARN"), ("error", "ERROR"),
                                          ("critical", "FATAL"), ("info", "INFO"), ("DEBUG", "DEBUG"),
                                          ("trace", "TRACE")])
def test_min_level_takes_every_level_and_the_aliases(given, level):
    q = query(min_level=given)
    assert (q.min_level, q.level) == (level, None)
    assert q.fingerprint[2] == level


@pytest.mark.parametrize("params", [{"min_level": "LOUD"}, {"min_level": "ınfo"},
                                    {"min_level": "ERROR", "level": "ERROR"}])
def test_min_level_that_is_no_level_or_beside_level_is_400(params):
    with pytest.raises(ValidationError) as caught:
        query(**params)
    assert caught.value.field == "min_level"


def test_levels_at_least_are_that_level_and_every_more_severe_one():
    assert ev.levels_at_least("WARN") == ("WARN", "ERROR", "FATAL")
    assert ev.levels_at_least("FATAL") == ("FATAL",)


# --- nothing out of range reaches storage, nothing costs more than its length ------

@pytest.mark.parametrize("name", ["limit", "hours", "since", "until"])
@pytest.mark.parametrize("digits", ["9" * 5000, "1" + "0" * 4400, "9" * 16])
def test_an_integer_too_long_for_any_valid_value_is_400_naming_it(name, digits):
    with pytest.raises(ValidationError) as caught:
        query(**{name: digits})
    assert caught.value.field == name


def test_leading_zeros_do_not_count():
    q = query(limit="0" * 5000 + "5", until="0" * 5000 + str(NOW))
    assert (q.limit, q.until_ms) == (5, NOW)


@pytest.mark.parametrize("params, field", [
    ({"until": "0001-01-02T00:00:00Z"}, "until"),
    ({"since": "0001-01-01T00:00:00Z", "until": str(NOW)}, "since"),
    ({"since": "1969-12-31T23:59:59Z"}, "since"),
    ({"until": "9999-12-31T23:59:59.999-01:00"}, "until"),
])
def test_a_time_before_1970_or_past_year_9999_is_400(params, field):
    with pytest.raises(ValidationError, match=f"^{field}: is out of range"):
        query(**params)


# --- the query a cursor continues ------------------------------------------------

def position(**changes):
    made = query(service_name="billing", min_level="ERROR", hours="2")
    values = {"after": "0" * 26, "since_ms": made.since_ms, "until_ms": made.until_ms,
              "fingerprint": made.fingerprint, **changes}
    return Position(**values)


def test_a_cursor_restores_its_filters_and_window():
    q = qy.continued(query(limit="3"), position())
    assert (q.limit, q.service_name, q.min_level, q.until_ms - q.since_ms) == (3, "billing", "ERROR", 2 * qy.HOUR_MS)


def test_a_cursor_restores_its_search():
    made = query(q='Order "payment failed"', trace_id="4BF92F3577B34DA6A3CE929D0E0E4736", attr=["k=v", "n=5"])
    q = qy.continued(query(), position(fingerprint=made.fingerprint))
    assert q.search == made.search
    assert q.search.terms == ("order", "payment failed") and q.search.attrs == (("k", "v"), ("n", "5"))
    assert q.search.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_cursor_made_before_search_continues_without_one():
    old = position(fingerprint=position().fingerprint[:7])
    q = qy.continued(query(), old)
    assert (q.service_name, q.min_level, q.search) == ("billing", "ERROR", None)


@pytest.mark.parametrize("changes", [
    {"since_ms": "0"}, {"until_ms": 1.5}, {"since_ms": True}, {"since_ms": -5}, {"until_ms": 10**20},
    {"fingerprint": ("billing",)}, {"fingerprint": (1, None, None, None, None, None, None)},
    {"fingerprint": (None, None, None, None, "soon", None, None)},
    {"fingerprint": (None, None, None, None, None, None, [2])},
    {"fingerprint": (None,) * 7 + (5, None, None)}, {"fingerprint": (None,) * 9 + ("k=v",)},
    {"fingerprint": (None,) * 9 + ([1],)}, {"fingerprint": (None,) * 8},
])
def test_a_cursor_with_fields_of_the_wrong_type_or_range_is_400(changes):
    with pytest.raises(ValidationError, match="^cursor: "):
        qy.continued(query(), position(**changes))
