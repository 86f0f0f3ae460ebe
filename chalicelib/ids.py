"""Log ids: 26-character, time-ordered, ULID-style identifiers.

The first 10 characters encode the event's timestamp in milliseconds and the
last 16 carry 80 bits, both in Crockford base32, so sorting ids as strings
sorts events by timestamp. The 80 bits are, from the most significant:

* 20 bits: the nanoseconds within that millisecond, as precise as the sender
  gave them (OTLP's nanoseconds, ISO 8601's microseconds), zero otherwise;
* 14 bits: the event's place among the events of its request at that same
  full timestamp (0 for the first), so that they keep the order they were sent;
* 46 bits of entropy: random, or for an event known by its identity an HMAC
  of that identity under the stage's shard key, so that a resend names the
  same id and no caller can choose (or predict) the shards its events land on.

That is the order the contract gives to ``GET /logs/recent``: newest first by
full timestamp, then by the place in the request, then by the entropy.
"""
import base64
import hashlib
import hmac
import os
import re

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TIME_CHARS = 10
RANDOM_CHARS = 16
LENGTH = TIME_CHARS + RANDOM_CHARS
MAX_TIME_MS = (1 << 48) - 1
SUB_MS_BITS = 20
SEQUENCE_BITS = 14
ENTROPY_BITS = 46
NS_PER_MS = 1_000_000
# Events of one request at one full timestamp that keep their order (OTLP takes 10,000 records an export).
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1

_VALUE = {char: index for index, char in enumerate(ALPHABET)}
_ASSUMED_ROLE = re.compile(r"arn:(?P<partition>[^:]+):sts::(?P<account>[0-9]+):assumed-role/(?P<role>[^/]+)/")


# Crockford's digits to int()'s base-32 digits, and RFC 4648 base32 (which base64 encodes in C) to Crockford's.
_TO_INT_DIGITS = str.maketrans(ALPHABET, "0123456789abcdefghijklmnopqrstuv")
_FROM_RFC4648 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET.encode("ascii"))


def _encode(number, width):
    """The low ``5 * width`` bits of ``number`` as ``width`` Crockford base32 digits (at most 32)."""
    return base64.b32encode(number.to_bytes(20, "big")).translate(_FROM_RFC4648)[-width:].decode("ascii")


def new_log_id(timestamp_ms, sub_ms_ns=0, sequence=0, entropy=None):
    """An id for an event at ``timestamp_ms`` (+ ``sub_ms_ns``), ``sequence``-th at that time in its request.

    ``entropy`` (46 bits) is random unless given.
    """
    if not 0 <= timestamp_ms <= MAX_TIME_MS:
        raise ValueError("timestamp out of range for a log id")
    if not 0 <= sub_ms_ns < NS_PER_MS or not 0 <= sequence <= MAX_SEQUENCE:
        raise ValueError("sub-millisecond time or sequence out of range for a log id")
    if entropy is None:
        entropy = int.from_bytes(os.urandom(6), "big")
    entropy &= (1 << ENTROPY_BITS) - 1
    rest = (sub_ms_ns << (SEQUENCE_BITS + ENTROPY_BITS)) | (sequence << ENTROPY_BITS) | entropy
    return _encode(timestamp_ms, TIME_CHARS) + _encode(rest, RANDOM_CHARS)


def with_sequence(log_id, sequence):
    """``log_id`` with another place in its request: the same time and entropy, so the same shards."""
    if sequence == 0 and _random_part(log_id) >> ENTROPY_BITS & MAX_SEQUENCE == 0:
        return log_id
    number = _random_part(log_id)
    number = number & ~(MAX_SEQUENCE << ENTROPY_BITS) | sequence << ENTROPY_BITS
    return log_id[:TIME_CHARS] + _encode(number, RANDOM_CHARS)


def derived_log_id(key, timestamp_ms, sub_ms_ns, sequence, *parts):
    """The id of an event known by ``parts`` at its full timestamp: the same parts always give the same id.

    The entropy is an HMAC under ``key`` (the stage's shard key, bytes) of the
    parts and the timestamp, so a resend writes the very key the first send
    wrote, and a caller who picks the parts still cannot pick the shards.
    """
    message = "\x1f".join((str(timestamp_ms), str(sub_ms_ns), *parts)).encode("utf-8")
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return new_log_id(timestamp_ms, sub_ms_ns, sequence, int.from_bytes(digest[:6], "big"))


def _decode(chars):
    return int(chars.translate(_TO_INT_DIGITS), 32)


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
    """A stable shard number in ``range(shards)``, taken from the id's entropy (which no caller chooses)."""
    return (_random_part(log_id) & ((1 << ENTROPY_BITS) - 1)) % shards


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
