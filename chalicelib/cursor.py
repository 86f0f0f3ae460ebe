"""Pagination cursors: opaque to callers, signed so they cannot be forged or altered.

A cursor records where the previous page stopped (the last log id returned),
the window it was reading and the parameters it was made for. It is
``key id + "." + base64url(json) + "." + base64url(HMAC-SHA256)``, signed over
the key id and the payload. The key id names the key that signed it, so that a
rotated key does not make cursors random 400s: a cursor is checked with the key
it names, the current one or, for a grace period, the one before
(``CursorKeys``). Any change to any part, or an unknown or retired key, is a 400.
"""
import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass

from chalicelib import ids
from chalicelib.errors import ValidationError

# 2: the fingerprint holds min_level. 3: the key id.
VERSION = 3
# A position names up to 32 packs (reads.MAX_REFS) beside where the page stopped.
MAX_CURSOR_CHARS = 8192
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}\Z")


@dataclass(frozen=True)
class CursorKeys:
    """The keys cursors are checked with: ``current`` signs; ``previous``, if any, still checks until
    ``previous_until`` (epoch seconds; None: while it is configured). Each is ``(key id, secret)``."""

    current: tuple
    previous: tuple | None = None
    previous_until: float | None = None

    def secret(self, key_id, now):
        if key_id == self.current[0]:
            return self.current[1]
        if (self.previous is not None and key_id == self.previous[0]
                and (self.previous_until is None or now < self.previous_until)):
            return self.previous[1]
        return None


def key_id_of(secret):
    """An id for a key given as its value: derived from it with HMAC, so it tells nothing of the key."""
    return _b64encode(hmac.new(secret.encode("utf-8"), b"cursor key id", hashlib.sha256).digest()[:6])


@dataclass(frozen=True)
class Position:
    # Where the page stopped, as the repository put it (a log id, or a log id or pack key with packs).
    after: str
    since_ms: int
    until_ms: int
    fingerprint: tuple


def _b64encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key, payload):
    return hmac.new(key.encode("utf-8"), payload.encode("ascii"), hashlib.sha256).digest()


def encode(keys, position):
    named, secret = keys.current
    body = json.dumps(
        {"v": VERSION, "a": position.after, "w": [position.since_ms, position.until_ms],
         "f": list(position.fingerprint)},
        # A search's text is kept as UTF-8, not escaped: a cursor holds it within its length (query.SEARCH_BYTES).
        separators=(",", ":"), ensure_ascii=False,
    )
    signed = named + "." + _b64encode(body.encode("utf-8"))
    return signed + "." + _b64encode(_signature(secret, signed))


def _invalid():
    return ValidationError("cursor", "is not a cursor this service issued, or it was altered")


def key_id(token):
    """The key id a cursor names (unchecked), or None if it names none."""
    if not isinstance(token, str) or len(token) > MAX_CURSOR_CHARS or token.count(".") != 2:
        return None
    named = token.split(".", 1)[0]
    return named if _KEY_ID.match(named) else None


def decode(keys, token, now=None):
    named = key_id(token)
    secret = keys.secret(named, time.time() if now is None else now) if named is not None else None
    if secret is None:
        raise _invalid()
    signed, _, signature = token.rpartition(".")
    payload = signed.split(".", 1)[1]
    try:
        expected = _signature(secret, signed)
        given = _b64decode(signature)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise _invalid() from None
    if not hmac.compare_digest(expected, given) or _b64encode(given) != signature:
        raise _invalid()
    try:
        body = json.loads(_b64decode(payload))
        after, (since_ms, until_ms), fingerprint = body["a"], body["w"], tuple(body["f"])
    except (ValueError, KeyError, TypeError):
        raise _invalid() from None
    # ``after`` is the repository's position: it starts with a log id's time (its own format is its own).
    if (body.get("v") != VERSION or not isinstance(after, str)
            or not ids.is_log_id(after[:ids.TIME_CHARS].ljust(ids.LENGTH, "0"))):
        raise _invalid()
    return Position(after, since_ms, until_ms, fingerprint)
