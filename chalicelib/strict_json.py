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
    """json.loads hooks that mark NaN/Infinity and duplicate keys; both keep parsing in C for the rest."""

    def __init__(self):
        self.refused = False

    def constant(self, name):
        self.refused = True
        return _Refused(f"{name} is not valid JSON")

    def object(self, pairs):
        result = dict(pairs)
        if len(result) == len(pairs):
            return result
        self.refused = True
        seen = set()
        key = next(key for key, _ in pairs if key in seen or seen.add(key))
        return _Refused("duplicate key", key)


# json.loads turns a number too large for a double into inf. That needs an exponent after a digit or
# hundreds of digits: with every digit made 0 and E made e, both are a plain substring test.
_DIGITS_AND_E = bytes.maketrans(b"123456789E", b"000000000e")
_CONTAINERS = (dict, list)


def _may_overflow(raw):
    shape = raw.translate(_DIGITS_AND_E)
    return b"0e" in shape or b"0" * 300 in shape


def _is_refused(value):
    """Whether a parsed value is one strict JSON refuses (it is a mark, or a number that overflowed)."""
    return type(value) is _Refused or (type(value) is float and math.isinf(value))


def _problem(value):
    if type(value) is _Refused:
        return value.problem
    return "the number is out of range for a double"


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
    """``(path, problem)`` of the first refused value in document order, or None.

    Each container's children are sifted in one comprehension, so only
    containers and refused values are visited one by one: the cost stays
    linear in the document, and small per element, whatever its shape.
    """
    stack = [(document, None)]
    while stack:
        value, node = stack.pop()
        if _is_refused(value):
            if type(value) is _Refused and value.key is not None:
                node = (value.key, node)
            return _path(node), _problem(value)
        if isinstance(value, dict):
            children = [(child, (key, node)) for key, child in value.items()
                        if type(child) in _CONTAINERS or _is_refused(child)]
        elif isinstance(value, list):
            children = [(child, (index, node)) for index, child in enumerate(value)
                        if type(child) in _CONTAINERS or _is_refused(child)]
        else:
            continue
        stack.extend(reversed(children))
    return None


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
        document = json.loads(text, object_pairs_hook=strict.object, parse_constant=strict.constant)
    except RecursionError:
        raise ValidationError("body", "is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise ValidationError("body", f"malformed JSON ({error.msg} at character {error.pos})") from None
    except ValueError:
        # int() refuses integers of more than 4,300 digits.
        raise ValidationError("body", "holds an integer with too many digits") from None
    if strict.refused or _may_overflow(raw):
        found = _first_refused(document)
        if found is not None:
            path, problem = found
            raise ValidationError(path or "body", problem)
    return document
