"""Pagination cursors: opaque to callers, signed so they cannot be forged or altered.

A cursor records where the previous page stopped (the last log id returned),
the window it was reading and the parameters it was made for. It is
``base64url(json) + "." + base64url(HMAC-SHA256)``; any change to either part,
or a cursor made with another key, is a 400.
"""
import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from chalicelib import ids
from chalicelib.errors import ValidationError

# 2: the fingerprint holds min_level.
VERSION = 2
MAX_CURSOR_CHARS = 2048


@dataclass(frozen=True)
class Position:
    after_log_id: str
    since_ms: int
    until_ms: int
    fingerprint: tuple


def _b64encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key, payload):
    return hmac.new(key.encode("utf-8"), payload.encode("ascii"), hashlib.sha256).digest()


def encode(key, position):
    body = json.dumps(
        {"v": VERSION, "a": position.after_log_id, "w": [position.since_ms, position.until_ms],
         "f": list(position.fingerprint)},
        separators=(",", ":"),
    )
    payload = _b64encode(body.encode("utf-8"))
    return payload + "." + _b64encode(_signature(key, payload))


def _invalid():
    return ValidationError("cursor", "is not a cursor this service issued, or it was altered")


def decode(key, token):
    if not isinstance(token, str) or len(token) > MAX_CURSOR_CHARS or token.count(".") != 1:
        raise _invalid()
    payload, signature = token.split(".")
    try:
        expected = _signature(key, payload)
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
    if body.get("v") != VERSION or not ids.is_log_id(after):
        raise _invalid()
    return Position(after, since_ms, until_ms, fingerprint)
