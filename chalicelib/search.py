"""Search filters of ``GET /logs/recent``: ``q`` (terms), ``trace_id`` and ``attr`` (contract v1.3).

Terms are matched on the text as the caller wrote it: no tokenizer, so ``order-8812``, ``user@example.com``, a
path or CJK text match as substrings. Case is ignored by Unicode full case folding (``str.casefold``: ``Straße``
matches ``STRASSE``), with no other normalisation (a precomposed ``é`` and ``e`` with a combining accent differ).
A term occurs in an event when it occurs in its ``message`` or in a string value of its ``metadata``, at any depth
(keys, numbers and booleans are not searched).

A pack is tested before it is read: it carries a filter of the three-byte sequences of its events' folded
strings (``text_filter``), and a term with a sequence whose bit is not set cannot be in it, so the pack is neither
fetched nor decompressed. A pack that passes is tested on its text, the JSON of its rows: a term absent from
the pack's folded text rules out every event in it, so only candidate packs are decoded. A term holding a
character that JSON escapes (a quote, a backslash, a control character) may be stored escaped, so it rules
nothing out by the filter or the text; nor does one shorter than three bytes by the filter.
"""
import functools
import re
from dataclasses import dataclass

from chalicelib.errors import ValidationError

MAX_Q_CHARS = 512
MAX_TERMS = 8
MAX_ATTRS = 4
MAX_ATTR_KEY_CHARS = 128
TRACE_KEYS = ("otel.trace_id", "trace_id")

_TERM = re.compile(r'"([^"]*)"|([^\s"]+)|(")')
_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}\Z")
# What compact JSON without ASCII escaping writes escaped: such a term cannot be looked for in a pack's text.
_ESCAPED = re.compile(r'["\\\x00-\x1f]')
# A pack's filter: one bit per three-byte sequence of its folded text (UTF-8), hashed, in twice as many bits as
# the pack has distinct sequences, a power of two from 64 to 2,048 (8 to 256 bytes; a pack is in the table and
# in GSI pack_timeline, so each filter byte is stored twice). A term of n bytes passes a pack without it about
# 0.4 ** (n - 2) of the time in a small pack, 0.6 ** (n - 2) in a pack of 70 events of the bench's mix (whose
# filter is full size): a 16-byte token about one time in a thousand.
MIN_FILTER_BITS = 64
MAX_FILTER_BITS = 2048
_HASH = 2654435761


def _sequences(data):
    """The 32-bit hashes of the three-byte sequences of ``data`` (each distinct sequence hashed once)."""
    return {(first | second << 8 | third << 16) * _HASH & 0xFFFFFFFF
            for first, second, third in set(zip(data, data[1:], data[2:], strict=False))}


def _bit(hashed, size):
    """The bit of a filter of ``size`` bits (a power of two) that a sequence hashed to ``hashed`` sets: the
    product's high bits (Fibonacci hashing)."""
    return hashed >> (32 - size.bit_length() + 1)


def searchable(events):
    """The distinct strings a search may find in ``events`` (``(message, metadata)`` each): every message, and
    every string, number and boolean of the metadata, at any depth (numbers and booleans as their JSON text, as
    ``attr`` compares them)."""
    found = set()
    for message, metadata in events:
        found.add(message)
        if metadata:
            _collect(metadata.values(), found)
    return found


def _collect(values, found):
    for value in values:
        kind = type(value)
        if kind is str:
            found.add(value)
        elif kind is dict:
            _collect(value.values(), found)
        elif kind is list:
            _collect(value, found)
        elif value is not None:
            found.add(_json_text(value))


def _leaves(value):
    if isinstance(value, dict):
        for child in value.values():
            yield from _leaves(child)
    elif isinstance(value, list):
        for child in value:
            yield from _leaves(child)
    else:
        yield value


def text_filter(texts):
    """The filter of ``texts`` (a pack's events' ``searchable`` strings, each once: a string that many events
    share, as an OTLP resource's attributes, is taken once): every bit their folded sequences hash to, set. They
    are joined by a NUL, which no term the filter checks holds (sequences across two only set more bits)."""
    hashes = _sequences("\0".join(texts).casefold().encode("utf-8", "surrogatepass"))
    size = min(MAX_FILTER_BITS, max(MIN_FILTER_BITS, 1 << (2 * len(hashes) - 1).bit_length()))
    bits = bytearray(size // 8)
    for hashed in hashes:
        bit = _bit(hashed, size)
        bits[bit >> 3] |= 1 << (bit & 7)
    return bytes(bits)


def parse_terms(text):
    """The casefolded terms of ``q``: words and ``"quoted phrases"``, each occurring at least once."""
    if not 1 <= len(text) <= MAX_Q_CHARS:
        raise ValidationError("q", f"must be 1 to {MAX_Q_CHARS} characters")
    terms = []
    for phrase, word, stray in _TERM.findall(text):
        if stray:
            raise ValidationError("q", 'has a " that opens a phrase no " closes')
        term = phrase if phrase or not word else word
        if not term.strip():
            raise ValidationError("q", "has an empty quoted phrase")
        terms.append(term.casefold())
    if not terms:
        raise ValidationError("q", "must hold at least one term")
    if len(terms) > MAX_TERMS:
        raise ValidationError("q", f"has {len(terms)} terms, more than {MAX_TERMS}")
    return tuple(dict.fromkeys(terms))


def parse_trace_id(text):
    if not _TRACE_ID.match(text):
        raise ValidationError("trace_id", "must be 32 hexadecimal digits")
    return text.lower()


def parse_attrs(values):
    """``((key, value text), ...)`` from ``attr`` values ``key=value``."""
    if len(values) > MAX_ATTRS:
        raise ValidationError("attr", f"is given {len(values)} times, more than {MAX_ATTRS}")
    attrs = []
    for value in values:
        key, equals, wanted = value.partition("=")
        if not equals:
            raise ValidationError("attr", "must be key=value")
        if not 1 <= len(key) <= MAX_ATTR_KEY_CHARS:
            raise ValidationError("attr", f"key must be 1 to {MAX_ATTR_KEY_CHARS} characters")
        attrs.append((key, wanted))
    return tuple(attrs)


def _json_text(value):
    """A metadata value as ``attr`` compares it: a string as written, a number or boolean as its JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # a finite number's JSON text (metadata holds no NaN or infinity)
    return None


@dataclass(frozen=True)
class Search:
    """The search filters of a query; an event must match every one given."""

    terms: tuple = ()
    trace_id: str | None = None
    attrs: tuple = ()

    def matches(self, message, metadata):
        """Whether an event (its ``message`` and ``metadata`` object) matches."""
        if self.trace_id is not None and not any(
                isinstance(metadata.get(key), str) and metadata[key].lower() == self.trace_id for key in TRACE_KEYS):
            return False
        if any(_json_text(metadata.get(key, None)) != wanted or key not in metadata for key, wanted in self.attrs):
            return False
        if self.terms:
            texts = [message.casefold(), *(value.casefold() for value in _leaves(metadata) if isinstance(value, str))]
            return all(any(term in text for text in texts) for term in self.terms)
        return True

    def _checkable(self):
        """What a pack's text or filter can rule out: terms, the trace id, and attr values (as they would be
        folded), none that JSON may store escaped."""
        texts = (*self.terms, *((self.trace_id,) if self.trace_id else ()),
                 *(wanted.casefold() for _, wanted in self.attrs))
        return [text for text in texts if not _ESCAPED.search(text)]

    @functools.cached_property
    def _hashes(self):
        return set().union(*(_sequences(text.encode("utf-8", "surrogatepass")) for text in self._checkable()))

    @functools.cached_property
    def _bits_by_size(self):
        return {}

    def _filter_bits(self, size):
        """``(byte, mask)`` of every bit a filter of ``size`` bits of a matching pack has set (once per size)."""
        found = self._bits_by_size.get(size)
        if found is None:
            found = [(bit >> 3, 1 << (bit & 7)) for bit in sorted({_bit(hashed, size) for hashed in self._hashes})]
            self._bits_by_size[size] = found
        return found

    def may_match_filter(self, bits):
        """False when no event of a pack whose filter is ``bits`` can match."""
        return all(bits[byte] & mask for byte, mask in self._filter_bits(len(bits) * 8))

    def may_match_text(self, text):
        """False when no event of a pack whose JSON text is ``text`` can match (True: decode and check each)."""
        for _, wanted in self.attrs:
            if not _ESCAPED.search(wanted) and wanted not in text:
                return False
        folded = None
        for term in (*self.terms, *((self.trace_id,) if self.trace_id else ())):
            if _ESCAPED.search(term):
                continue
            folded = text.casefold() if folded is None else folded
            if term not in folded:
                return False
        return True
