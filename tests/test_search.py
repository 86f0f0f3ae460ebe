"""Search (contract v1.3, GET /logs/recent): ``q``, ``trace_id``, ``attr`` and ``scanned``, through the routes and
in the repository, in packs and in event items alike."""
import json
import zlib
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chalicelib import search, service
from chalicelib.query import SEARCH_BYTES
from chalicelib.repository import PACK_TIMELINE_INDEX, LogRepository, packs
from tests.conftest import TABLE_NAME
from tests.test_routes import assert_error, event, post


def get(api, *pairs, **params):
    """GET /logs/recent with ``params`` and repeated ``pairs`` (``("attr", "k=v")``), each value %-encoded."""
    query = "&".join(f"{name}={quote(str(value), safe='')}" for name, value in [*params.items(), *pairs])
    response = api.http.get("/logs/recent" + (f"?{query}" if query else ""))
    assert response.status_code == 200, response.body
    return response.json_body


def send(api, events):
    """Store ``events`` in one batch (packed: no event_id); they are given increasing timestamps in order."""
    batch = [dict(e, timestamp=f"2026-06-01T12:00:{number // 1000:02d}.{number % 1000:03d}Z")
             for number, e in enumerate(events)]
    response = post(api, {"logs": batch})
    assert response.status_code == 201, response.body
    return batch


def messages(api, *pairs, **params):
    """Every matching message, newest first, following cursors (the cursor alone keeps the search)."""
    found, body = [], get(api, *pairs, **params)
    while True:
        found.extend(log["message"] for log in body["logs"])
        if body["next_cursor"] is None:
            return found
        body = get(api, cursor=body["next_cursor"], limit=params.get("limit", 100))


WINDOW = {"since": "2026-06-01T00:00:00Z", "until": "2026-06-02T00:00:00Z"}


@pytest.fixture
def api(api, monkeypatch):
    # The events are stamped 2026-06-01: the service's clock stands a day later, inside any retention.
    monkeypatch.setattr(service, "now_ms", lambda: 1_780_400_000_000)
    return api


# --- parameters ---------------------------------------------------------------------------------------

def test_q_is_words_and_quoted_phrases_casefolded():
    assert search.parse_terms('Order-8812  "Payment FAILED" user@example.com') == (
        "order-8812", "payment failed", "user@example.com")
    assert search.parse_terms("STRASSE") == ("strasse",)
    assert search.parse_terms("Straße") == ("strasse",)


@pytest.mark.parametrize(("params", "field"), [
    ({"q": '"unclosed'}, "q"), ({"q": '""'}, "q"), ({"q": "   "}, "q"), ({"q": "a" * 513}, "q"),
    ({"q": " ".join("abcdefghi")}, "q"), ({"trace_id": "4bf92f35"}, "trace_id"), ({"trace_id": "g" * 32}, "trace_id"),
])
def test_bad_search_parameters_are_a_400_naming_them(api, params, field):
    query = "&".join(f"{name}={quote(value, safe='')}" for name, value in params.items())
    assert_error(api.http.get(f"/logs/recent?{query}"), 400, field)


@pytest.mark.parametrize("attrs", [["nokey"], ["=v"], ["k" * 129 + "=v"], [f"k{n}=v" for n in range(5)],
                                   ["k=" + "v" * SEARCH_BYTES]])
def test_bad_attr_values_are_a_400_naming_attr(api, attrs):
    query = "&".join(f"attr={quote(value, safe='')}" for value in attrs)
    assert_error(api.http.get(f"/logs/recent?{query}"), 400, "attr")


# --- matching -------------------------------------------------------------------------------------------

def test_q_finds_every_term_ignoring_case_in_the_message_or_a_string_value_of_the_metadata(api):
    send(api, [
        event(message="Payment for ORDER-8812 failed", metadata={"user": "ann@example.com"}),
        event(message="order-8812 shipped"),
        event(message="refund", metadata={"order": {"id": "order-8812", "tags": ["Failed"]}}),
        event(message="nothing here", metadata={"order-8812": "a key is not searched", "n": 8812}),
        event(message="Straße gesperrt"),
    ])

    assert messages(api, q="order-8812 failed", **WINDOW) == ["refund", "Payment for ORDER-8812 failed"]
    assert messages(api, q='"order-8812 shipped"', **WINDOW) == ["order-8812 shipped"]
    assert messages(api, q="ANN@EXAMPLE.COM", **WINDOW) == ["Payment for ORDER-8812 failed"]
    assert messages(api, q="strasse", **WINDOW) == ["Straße gesperrt"]
    assert messages(api, q="8812", **WINDOW) == ["refund", "order-8812 shipped", "Payment for ORDER-8812 failed"]


def test_hostile_terms_are_literal_text(api):
    send(api, [
        event(message="100% of disk_used at C:\\data\\logs"),
        event(message="a.b*c (regex) [x]"),
        event(message="line one\nline two\ttabbed"),
        event(message='she said "hello"'),
        event(message="a" * 512),
        event(message="混合 CJK テキスト search"),
        event(message="plain"),
    ])

    assert messages(api, q="100%", **WINDOW) == ["100% of disk_used at C:\\data\\logs"]
    assert messages(api, q="_", **WINDOW) == ["100% of disk_used at C:\\data\\logs"]
    assert messages(api, q="c:\\data\\logs", **WINDOW) == ["100% of disk_used at C:\\data\\logs"]
    assert messages(api, q="b*c", **WINDOW) == ["a.b*c (regex) [x]"]
    assert messages(api, q=".*", **WINDOW) == []
    assert messages(api, q="[x]", **WINDOW) == ["a.b*c (regex) [x]"]
    # Only across a JSON escape (a newline, a tab, a quote is stored escaped in a pack's text).
    assert messages(api, q='"one\nline"', **WINDOW) == ["line one\nline two\ttabbed"]
    assert messages(api, q='"two\ttab"', **WINDOW) == ["line one\nline two\ttabbed"]
    assert messages(api, q="a" * 512, **WINDOW) == ["a" * 512]
    assert messages(api, q="テキスト", **WINDOW) == ["混合 CJK テキスト search"]


def test_q_with_an_unclosed_quote_in_a_message_is_found_by_its_words(api):
    send(api, [event(message='she said "hello'), event(message="hello")])
    assert messages(api, q="said hello", **WINDOW) == ['she said "hello']


def test_trace_id_finds_otel_and_json_trace_ids_in_any_case(api):
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    send(api, [
        event(message="from otlp", metadata={"otel.trace_id": trace}),
        event(message="from json", metadata={"trace_id": trace.upper()}),
        event(message="other trace", metadata={"trace_id": "0" * 32}),
        event(message="in the text only " + trace),
    ])
    assert messages(api, trace_id=trace.upper(), **WINDOW) == ["from json", "from otlp"]


def test_attr_matches_top_level_values_exactly_strings_as_written_numbers_and_booleans_as_json(api):
    send(api, [
        event(message="a", metadata={"request_id": "r-77", "status": 500, "retry": True}),
        event(message="b", metadata={"request_id": "R-77", "status": 500.5}),
        event(message="c", metadata={"nested": {"request_id": "r-77"}, "status": "500"}),
    ])
    assert messages(api, ("attr", "request_id=r-77"), **WINDOW) == ["a"]
    assert messages(api, ("attr", "status=500"), **WINDOW) == ["c", "a"]
    assert messages(api, ("attr", "status=500.5"), **WINDOW) == ["b"]
    assert messages(api, ("attr", "retry=true"), ("attr", "status=500"), **WINDOW) == ["a"]
    assert messages(api, ("attr", "retry=True"), **WINDOW) == []


def test_search_combines_with_every_filter(api):
    send(api, [event(service_name="auth", level="ERROR", message="boom x"),
               event(service_name="auth", level="INFO", message="boom y"),
               event(service_name="billing", level="ERROR", message="boom z", log_type="audit")])
    assert messages(api, q="boom", service_name="auth", **WINDOW) == ["boom y", "boom x"]
    assert messages(api, q="boom", level="ERROR", **WINDOW) == ["boom z", "boom x"]
    assert messages(api, q="boom", min_level="WARN", service_name="billing", **WINDOW) == ["boom z"]
    assert messages(api, q="boom", log_type="audit", **WINDOW) == ["boom z"]


def test_event_items_are_searched_as_packs_are(api):
    batch = [dict(event(message=f"item {n}", metadata={"k": f"v{n}"}), event_id=f"id-{n}",
                  timestamp=f"2026-06-01T12:00:00.{n:03d}Z") for n in range(5)]
    assert post(api, {"logs": batch}).status_code == 201
    assert messages(api, ("attr", "k=v3"), q="ITEM", **WINDOW) == ["item 3"]


# --- cursors, budget and what was scanned ------------------------------------------------------------

def test_a_cursor_keeps_the_search_and_returns_every_match_once_in_order(api):
    events = [event(message=f"{'needle' if n % 7 == 0 else 'hay'} {n}", metadata={"n": n}) for n in range(700)]
    send(api, events)
    expected = [e["message"] for e in reversed(events) if e["message"].startswith("needle")]

    assert messages(api, q="needle", limit=9, **WINDOW) == expected
    first = get(api, q="needle", limit=9, **WINDOW)
    assert_error(api.http.get(f"/logs/recent?q=hay&cursor={first['next_cursor']}"), 400, "cursor")


def test_every_answer_says_what_it_scanned(api):
    send(api, [event(message=f"line {n}") for n in range(50)])
    plain = get(api, **WINDOW)
    assert plain["scanned"]["events"] >= 50 and plain["scanned"]["bytes"] > 0
    missing = get(api, q="absent", **WINDOW)
    assert missing["logs"] == [] and missing["next_cursor"] is None
    assert missing["scanned"]["events"] == plain["scanned"]["events"]
    assert get(api, limit=1, **WINDOW)["scanned"]["events"] >= 1


def test_a_pack_whose_text_lacks_a_term_is_not_decoded(api, monkeypatch):
    send(api, [event(message=f"ordinary line {n}") for n in range(300)])
    decoded = []
    monkeypatch.setattr(packs, "json", SimpleNamespace(
        loads=lambda text: decoded.append(len(text)) or json.loads(text), dumps=json.dumps))

    assert messages(api, q="absent-token", **WINDOW) == []
    assert decoded == []
    assert len(messages(api, q="ORDINARY", limit=1000, **WINDOW)) == 300
    assert decoded


def test_a_cursor_keeps_a_search_near_its_longest_and_is_still_a_cursor(api):
    term = "語" * 450
    metadata = {f"key-{n}": "v" * 100 for n in range(4)}
    send(api, [event(message=f"{term} {n}", metadata=metadata) for n in range(60)])
    attrs = [("attr", f"{key}={value}") for key, value in metadata.items()]
    kept = len(json.dumps([term, None, [value for _, value in attrs]], ensure_ascii=False).encode("utf-8"))
    assert SEARCH_BYTES - 600 < kept <= SEARCH_BYTES

    found = messages(api, *attrs, q=term, limit=3, **WINDOW)
    assert found == [f"{term} {n}" for n in reversed(range(60))]


# --- the filter: packs a search skips unread ----------------------------------------------------------

@settings(max_examples=300, deadline=None, database=None)
@given(st.text(min_size=1, max_size=200), st.data())
def test_a_packs_filter_never_rules_out_a_text_it_holds(text, data):
    start = data.draw(st.integers(0, len(text) - 1))
    term = text[start:data.draw(st.integers(start + 1, len(text)))]
    assume(term.strip() and '"' not in term)
    wanted = search.Search(terms=(term.casefold(),))
    assert wanted.may_match_filter(search.text_filter(["prefix " + text + " suffix", "other"]))


def test_a_pack_its_filter_rules_out_is_neither_fetched_nor_decompressed(api, monkeypatch):
    send(api, [event(message=f"ordinary line {n}", metadata={"request_id": f"r-{n}"}) for n in range(300)])
    decompressed = []
    monkeypatch.setattr(packs, "zlib", SimpleNamespace(decompress=lambda data: decompressed.append(1) or
                                                      zlib.decompress(data)))
    fetched = []
    from chalicelib import aws

    aws.client("dynamodb").meta.events.register("before-call.dynamodb.BatchGetItem",
                                                lambda **kwargs: fetched.append(1))
    body = get(api, q="zz-absent-term-0", **WINDOW)
    assert body["logs"] == [] and body["scanned"]["events"] == 300
    assert fetched == [] and decompressed == []
    assert messages(api, ("attr", "request_id=r-7"), **WINDOW) == ["ordinary line 7"]
    assert fetched and decompressed


def test_a_packs_entry_in_the_all_services_index_stays_within_one_write_unit(dynamodb):
    from bench import sizes
    from devtools.table import load_schema
    from tests.test_packs import pack_items, write
    from tests.test_repository import NOW, RETENTION, SHARDS, make_event

    repo = LogRepository(dynamodb, TABLE_NAME, RETENTION, SHARDS, SHARDS)
    # A service name of 32 characters and two log types: a pack of a real service (names of 128 characters or
    # many log types in one pack cost a second unit).
    write(repo, [make_event(service="s" * 32, message=f"{n} " + "ünïcode ß text " * 8, timestamp_ms=NOW - n,
                            log_type=("application", "access")[n % 2], metadata={"request_id": f"{n:032x}"})
                 for n in range(100)])
    schema = load_schema()
    (index,) = [index for index in schema["global_secondary_indexes"] if index["name"] == PACK_TIMELINE_INDEX]
    (pack,) = pack_items()
    assert sizes.write_units(sizes.item_size(sizes.index_entry(pack, index, schema))) == 1
