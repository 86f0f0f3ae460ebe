"""Log ids and signed cursors."""
import pytest

from chalicelib import cursor, ids
from chalicelib.errors import ValidationError

KEY = cursor.CursorKeys(("k1", "a-test-key-of-sufficient-length"))
OTHER = cursor.CursorKeys(("k1", "another-key-of-sufficient-length"))


def test_log_ids_sort_by_timestamp_then_random_part():
    early, late = ids.new_log_id(1_000), ids.new_log_id(1_001)
    assert early < late
    assert ids.is_log_id(early) and len(early) == ids.LENGTH
    low = ids.new_log_id(5, 0, 0, 0)
    high = ids.new_log_id(5, ids.NS_PER_MS - 1, ids.MAX_SEQUENCE, (1 << ids.ENTROPY_BITS) - 1)
    assert ids.lowest_id_at(5) == low < high <= ids.highest_id_at(5)
    assert ids.highest_id_at(4) < low


def test_ids_sort_by_the_nanoseconds_within_a_millisecond_then_by_place_in_the_request():
    by_time = [ids.new_log_id(7, nanos, 0) for nanos in (0, 1, 999, 1_000, 999_999)]
    assert by_time == sorted(by_time)
    by_place = [ids.new_log_id(7, 500, place) for place in range(50)]
    assert by_place == sorted(by_place)
    assert ids.new_log_id(7, 500, ids.MAX_SEQUENCE) < ids.new_log_id(7, 501, 0) < ids.new_log_id(8)


def test_ids_outside_the_48_bit_clock_are_refused():
    with pytest.raises(ValueError):
        ids.new_log_id(-1)
    with pytest.raises(ValueError):
        ids.new_log_id(ids.MAX_TIME_MS + 1)
    with pytest.raises(ValueError):
        ids.new_log_id(1, ids.NS_PER_MS)
    with pytest.raises(ValueError):
        ids.new_log_id(1, 0, ids.MAX_SEQUENCE + 1)


def test_predecessor_is_the_largest_id_strictly_before():
    some = ids.new_log_id(123_456, 0, 0, 5)
    before = ids.predecessor(some)
    assert before < some and before == ids.new_log_id(123_456, 0, 0, 4)
    assert ids.predecessor("0" * ids.LENGTH) is None
    assert ids.predecessor("1" + "0" * 25) == "0" + "Z" * 25


def test_a_derived_id_is_the_same_for_the_same_parts_and_key_and_keyed_by_the_key():
    first = ids.derived_log_id(b"stage-secret", 42, 7, 0, "role", "svc", "e-1")
    assert first == ids.derived_log_id(b"stage-secret", 42, 7, 0, "role", "svc", "e-1")
    assert ids.time_of(first) == 42
    assert first != ids.derived_log_id(b"other-secret", 42, 7, 0, "role", "svc", "e-1")
    assert first != ids.derived_log_id(b"stage-secret", 42, 8, 0, "role", "svc", "e-1")


def test_a_caller_cannot_pick_the_shard_of_a_derived_id_without_the_key():
    """Event ids that all land on shard 0 under one key spread over every shard under another."""
    chosen = [f"e-{n}" for n in range(4000)
              if ids.shard_of(ids.derived_log_id(b"guessed-key", 42, 0, 0, "r", "svc", f"e-{n}"), 16) == 0]
    shards = {ids.shard_of(ids.derived_log_id(b"the-stage-key", 42, 0, 0, "r", "svc", event_id), 16)
              for event_id in chosen}
    assert len(chosen) > 150 and len(shards) == 16


def test_shards_of_random_ids_are_spread():
    counts = [0] * 16
    for _ in range(3200):
        counts[ids.shard_of(ids.new_log_id(0), 16)] += 1
    assert min(counts) > 100


def test_events_of_one_timestamp_and_request_still_spread_over_shards():
    shards = {ids.shard_of(ids.new_log_id(0, 0, place), 16) for place in range(200)}
    assert len(shards) == 16


@pytest.mark.parametrize("text", ["", "0" * 25, "0" * 27, "I" * 26, "u" * 26, None])
def test_is_log_id_rejects_other_text(text):
    assert not ids.is_log_id(text)


def position():
    return cursor.Position(ids.new_log_id(1_000), 10, 20, ("svc", None, "audit", None, None, 3))


def test_a_cursor_round_trips():
    original = position()
    assert cursor.decode(KEY, cursor.encode(KEY, original)) == original


def test_a_cursor_signed_with_another_key_is_rejected():
    with pytest.raises(ValidationError, match="^cursor: "):
        cursor.decode(KEY, cursor.encode(OTHER, position()))


def test_every_single_character_change_is_rejected():
    token = cursor.encode(KEY, position())
    alphabet = "ABCabck0189-_."
    for index in range(len(token)):
        for char in alphabet:
            if char == token[index]:
                continue
            with pytest.raises(ValidationError):
                cursor.decode(KEY, token[:index] + char + token[index + 1:])


@pytest.mark.parametrize("token", ["", ".", "a.b", "no-dot", "a.b.c", "x" * 5000, "é.é"])
def test_garbage_is_rejected(token):
    with pytest.raises(ValidationError):
        cursor.decode(KEY, token)


def signed(payload, keys=KEY):
    named, secret = keys.current
    text = named + "." + cursor._b64encode(payload)
    return text + "." + cursor._b64encode(cursor._signature(secret, text))


def test_a_validly_signed_but_malformed_payload_is_rejected():
    with pytest.raises(ValidationError):
        cursor.decode(KEY, signed(b'{"v": 3, "a": "not-an-id", "w": [1, 2], "f": []}'))
    with pytest.raises(ValidationError):
        cursor.decode(KEY, signed(b"[]"))


ROTATED = cursor.CursorKeys(("k2", "the-next-key-of-sufficient-length"), previous=KEY.current, previous_until=5_000)


def test_a_cursor_signed_by_the_previous_key_checks_until_the_grace_period_ends():
    original = position()
    token = cursor.encode(KEY, original)
    assert cursor.decode(ROTATED, token, now=4_999) == original
    with pytest.raises(ValidationError, match="^cursor: "):
        cursor.decode(ROTATED, token, now=5_000)


def test_a_cursor_names_the_key_that_signed_it_and_an_unknown_one_is_rejected():
    token = cursor.encode(ROTATED, position())
    assert cursor.key_id(token) == "k2"
    with pytest.raises(ValidationError, match="^cursor: "):
        cursor.decode(KEY, token)
    renamed = "k1" + token[2:]
    with pytest.raises(ValidationError, match="^cursor: "):
        cursor.decode(ROTATED, renamed, now=0)
