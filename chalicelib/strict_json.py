"""Request bodies as strict JSON: UTF-8, no NaN/Infinity, no numbers beyond a double, no duplicate keys.

A refused value is reported under its path, e.g. ``metadata.retries`` or
``logs[3].message``, not just as the body. Finding that path costs time linear
in the document, whatever its shape: the path is written out only once the
refused value is found.
"""
import json
import math

from chalicelib.errors import PayloadTooLarge, ValidationError
from chalicelib.events import MAX_BODY_BYTES


class _Refused:
    """Stands in, while parsing, for a value strict JSON refuses, so the error can name where it was."""

    def __init__(self, problem, key=None):
        self.problem = problem
        self.key = key


class _StrictJson:
    """json.loads hooks that mark NaN/Infinity, overflowing numbers and duplicate keys."""

    def __init__(self):
        self.refused = False

    def _refuse(self, problem, key=None):
        self.refused = True
        return _Refused(problem, key)

    def constant(self, name):
        return self._refuse(f"{name} is not valid JSON")

    def number(self, text):
        value = float(text)
        if math.isinf(value):
            return self._refuse(f"the number {text[:40]} is out of range for a double")
        return value

    def object(self, pairs):
        result = {}
        for key, value in pairs:
            if key in result:
                return self._refuse("duplicate key", key)
            result[key] = value
        return result


def _path(node):
    """``logs[3].metadata.n`` from a chain of ``(key, parent)`` pairs, innermost first."""
    keys = []
    while node is not None:
        key, node = node
        keys.append(key)
    parts = []
    for key in reversed(keys):
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}" if parts else key)
    return "".join(parts)


def _first_refused(document):
    """``(path, _Refused)`` of the first refused value in document order (there is one)."""
    stack = [(document, None)]
    while stack:
        value, node = stack.pop()
        if isinstance(value, _Refused):
            if value.key is not None:
                node = (value.key, node)
            return _path(node), value
        if isinstance(value, dict):
            stack.extend((child, (key, node)) for key, child in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((value[index], (index, node)) for index in range(len(value) - 1, -1, -1))
    raise AssertionError("a refused value was marked but not found")


def parse_json_body(raw):
    """The decoded document of a request body, or ``ValidationError`` / ``PayloadTooLarge``."""
    if raw is None:
        raw = b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body: {len(raw)} bytes is over the limit of {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise ValidationError("body", "is empty; expected a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("body", "is not valid UTF-8") from None
    strict = _StrictJson()
    try:
        document = json.loads(text, object_pairs_hook=strict.object, parse_constant=strict.constant,
                              parse_float=strict.number)
    except RecursionError:
        raise ValidationError("body", "is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise ValidationError("body", f"malformed JSON ({error.msg} at character {error.pos})") from None
    except ValueError:
        # int() refuses integers of more than 4,300 digits.
        raise ValidationError("body", "holds an integer with too many digits") from None
    if strict.refused:
        path, refused = _first_refused(document)
        raise ValidationError(path or "body", refused.problem)
    return document
