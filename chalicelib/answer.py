"""JSON answers: the one serializer of the service's JSON bodies, and the room one answer has for events.

An answer's body is at most ``MAX_BODY_BYTES`` (the contract's 5,000,000). Lambda
itself returns at most ``LAMBDA_PAYLOAD_BYTES`` of payload, and its payload is the
proxy result as JSON, with the body escaped once more inside it: every ``"`` and
``\\`` of the body takes two bytes there, and a python3.11 runtime writes every
non-ASCII character as ``\\uXXXX`` (six bytes for an ``é`` of two). A body under
5,000,000 bytes can thus make a payload of 15 MB, so a page counts both.

One event on its own always fits. The largest event the service stores: a
256 KiB message of control characters, each ``\\u0001`` in the body (6 bytes) and
``\\\\u0001`` in the payload (7 bytes): 1,835,008 bytes; 16 KiB of metadata, at most
7 payload bytes each: 114,688; every other field together under 4 KiB (names of
128 and 64 characters, a 128-character event id of quotes, an ARN, times):
under 1,960,000 payload bytes, in a room of 4,983,616 (tested).
"""
import json

MAX_BODY_BYTES = 5_000_000
LAMBDA_PAYLOAD_BYTES = 6_291_456
# Room kept for what surrounds the events: the count, the cursor (at most 8,192
# characters), what was scanned, and in the payload the status, the headers and the escaped envelope.
ENVELOPE_BYTES = 16_384
CONTENT_TYPE = "application/json; charset=utf-8"


def dumps(value):
    """``value`` as compact JSON, non-ASCII text as itself (UTF-8 once encoded), not ``\\u`` escapes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Room:
    """What a page may still hold, in body bytes and in Lambda payload bytes; every event serialized once.

    ``texts`` are the JSON texts of the events taken, in order, for the body to join.
    """

    def __init__(self):
        self.texts = []
        self._body_left = MAX_BODY_BYTES - ENVELOPE_BYTES
        self._payload_left = LAMBDA_PAYLOAD_BYTES - ENVELOPE_BYTES

    def take(self, event):
        """Take ``event`` if it fits beside those taken (the first always does); whether it was taken."""
        text = dumps(event)
        # One byte more each for the comma between events; the payload escapes the text as Lambda's
        # runtime does at worst (ASCII only), without the two quotes json.dumps puts around it.
        body = len(text.encode("utf-8")) + 1
        payload = len(json.dumps(text)) - 1
        if self.texts and (body > self._body_left or payload > self._payload_left):
            return False
        self.texts.append(text)
        self._body_left -= body
        self._payload_left -= payload
        return True
