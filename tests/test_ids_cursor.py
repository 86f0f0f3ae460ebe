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
    low, high = ids.new_log_id(5, bytes(10)), ids.new_log_id(5, b"\xff" * 10)
    assert ids.lowest_id_at(5) == low < high == ids.highest_id_at(5)
    assert ids.highest_id_at(4) < low


def test_ids_outside_the_48_bit_clock_are_refused():
    with pytest.raises(ValueError):
        ids.new_log_id(-1)
    with pytest.raises(ValueError):
        ids.new_log_id(ids.MAX_TIME_MS + 1)


def test_predecessor_is_the_largest_id_strictly_before():
    some = ids.new_log_id(123_456)
    before = ids.predecessor(some)
    assert before < some and ids.successor(before) == some
    assert ids.predecessor("0" * ids.LENGTH) is None
    assert ids.predecessor("1" + "0" * 25) == "0" + "Z" * 25


def test_successor_keeps_time_and_moves_to_the_next_shard():
    first = ids.new_log_id(42, bytes(10))
    second = ids.successor(first)
    assert second[: ids.TIME_CHARS] == first[: ids.TIME_CHARS] and second > first
    assert ids.shard_of(second, 16) == (ids.shard_of(first, 16) + 1) % 16
    wrapped = ids.successor(ids.highest_id_at(42))
    assert wrapped[: ids.TIME_CHARS] == first[: ids.TIME_CHARS] and ids.is_log_id(wrapped)


def test_shards_of_random_ids_are_spread():
    counts = [0] * 16
    for _ in range(3200):
        counts[ids.shard_of(ids.new_log_id(0), 16)] += 1
    assert min(counts) > 100


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
