"""Log ids: 26-character, time-ordered, ULID-style identifiers.

The first 10 characters encode the event's timestamp in milliseconds and the
last 16 carry 80 random bits, both in Crockford base32, so sorting ids as
strings sorts events by timestamp and breaks ties by the random part. That
is the order the contract gives to ``GET /logs/recent``.
"""
import hashlib
import os
import re

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TIME_CHARS = 10
RANDOM_CHARS = 16
LENGTH = TIME_CHARS + RANDOM_CHARS
MAX_TIME_MS = (1 << 48) - 1

_VALUE = {char: index for index, char in enumerate(ALPHABET)}
_ASSUMED_ROLE = re.compile(r"arn:(?P<partition>[^:]+):sts::(?P<account>[0-9]+):assumed-role/(?P<role>[^/]+)/")


def _encode(number, width):
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def new_log_id(timestamp_ms, random_bytes=None):
    """A fresh id for an event that happened at ``timestamp_ms``."""
    if not 0 <= timestamp_ms <= MAX_TIME_MS:
        raise ValueError("timestamp out of range for a log id")
    randomness = random_bytes if random_bytes is not None else os.urandom(10)
    return _encode(timestamp_ms, TIME_CHARS) + _encode(int.from_bytes(randomness, "big"), RANDOM_CHARS)


def derived_log_id(timestamp_ms, *parts):
    """The id of an event known by ``parts`` at ``timestamp_ms``: the same parts always give the same id.

    The random part is 80 bits of SHA-256 over the parts and the timestamp, so
    a resend writes the very key the first send wrote.
    """
    digest = hashlib.sha256("\x1f".join((str(timestamp_ms), *parts)).encode("utf-8")).digest()
    return new_log_id(timestamp_ms, digest[:10])


def _decode(chars):
    number = 0
    for char in chars:
        number = number * 32 + _VALUE[char]
    return number


def time_of(log_id):
    """The timestamp in milliseconds that ``log_id`` was made for."""
    return _decode(log_id[:TIME_CHARS])


def lowest_id_at(timestamp_ms):
    """The smallest id an event at ``timestamp_ms`` can have."""
    return _encode(max(0, timestamp_ms), TIME_CHARS) + ALPHABET[0] * RANDOM_CHARS


def highest_id_at(timestamp_ms):
    """The largest id an event at ``timestamp_ms`` can have."""
    return _encode(min(MAX_TIME_MS, timestamp_ms), TIME_CHARS) + ALPHABET[-1] * RANDOM_CHARS


def is_log_id(text):
    return isinstance(text, str) and len(text) == LENGTH and all(char in _VALUE for char in text)


def predecessor(log_id):
    """The largest id that sorts strictly before ``log_id`` (None if none does)."""
    digits = [_VALUE[char] for char in log_id]
    position = len(digits) - 1
    while position >= 0 and digits[position] == 0:
        digits[position] = 31
        position -= 1
    if position < 0:
        return None
    digits[position] -= 1
    return "".join(ALPHABET[digit] for digit in digits)


def _random_part(log_id):
    return _decode(log_id[TIME_CHARS:])


def shard_of(log_id, shards):
    """A stable shard number in ``range(shards)`` taken from the random part.

    Consecutive ids of one timestamp (``successor``) land on consecutive shards.
    """
    return _random_part(log_id) % shards


def successor(log_id):
    """The next id at the same timestamp, so that events of one request keep their order.

    Falls back to a fresh random id in the (2**-80 likely) case the random part overflows.
    """
    number = _random_part(log_id)
    if number + 1 >= 1 << 80:
        return log_id[:TIME_CHARS] + _encode(int.from_bytes(os.urandom(10), "big"), RANDOM_CHARS)
    return log_id[:TIME_CHARS] + _encode(number + 1, RANDOM_CHARS)


def caller_role(caller_arn):
    """The principal an idempotency key belongs to: the IAM role behind a role session, whatever
    the session's name, or else the principal itself ("" when unknown).

    ``arn:aws:sts::123456789012:assumed-role/ingest/ci-42`` -> ``arn:aws:iam::123456789012:role/ingest``.
    """
    if not caller_arn:
        return ""
    session = _ASSUMED_ROLE.match(caller_arn)
    if session is None:
        return caller_arn
    return f"arn:{session['partition']}:iam::{session['account']}:role/{session['role']}"
