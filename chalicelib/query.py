"""``GET /logs/recent`` parameters: validation, the time window, and the query a cursor continues.

Errors are ``ValidationError(parameter, problem)``. Every number is checked
for size before it is converted, and every time must fall between 1970 and
year 9999 (the last a log id and ISO 8601 can both hold), so no parameter can cost more than its
length or reach storage out of range.
"""
import json
import re
from dataclasses import dataclass, replace

from chalicelib import events as ev
from chalicelib import ids
from chalicelib.errors import ValidationError
from chalicelib.search import Search, parse_attrs, parse_terms, parse_trace_id

HOUR_MS = 3600 * 1000
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_WINDOW_HOURS = 24
# The last millisecond that both a log id and ISO 8601 (year 9999) can hold.
MAX_TIME_MS = min(ids.MAX_TIME_MS, 253_402_300_799_999)

PARAMETERS = ("limit", "service_name", "level", "min_level", "log_type", "since", "until", "hours", "cursor", "q",
              "trace_id", "attr")
# What a cursor may keep of a search: its q, trace_id and attr as compact JSON, UTF-8 (under MAX_CURSOR_CHARS with
# the rest of a cursor: the window, the filters, and the packs it names).
SEARCH_BYTES = 2048
# Given once at most, but for ``attr``.
REPEATABLE = ("attr",)
# A fingerprint's fields: the filters (strings), the window (integers), then the search (v1.2: ``q`` and
# ``trace_id`` strings, ``attr`` a list of strings). A cursor made before the search has the first seven only.
_FINGERPRINT_STRINGS = 4
_FINGERPRINT_INTEGERS = 3
_FINGERPRINT_BEFORE_SEARCH = _FINGERPRINT_STRINGS + _FINGERPRINT_INTEGERS

_DIGITS = re.compile(r"[0-9]+\Z")
# chalice local decodes "+" in a query string to a space: "...T10:00:00 01:00".
_SPACED_OFFSET = re.compile(r"(T[0-9:.,]+) ([0-9]{2}(:?[0-9]{2})?)\Z")


@dataclass(frozen=True)
class RecentQuery:
    """A resolved ``GET /logs/recent`` request.

    ``fingerprint`` holds the filter and window parameters as the caller gave
    them (normalized); a cursor is bound to it.
    """

    limit: int
    service_name: str | None
    level: str | None
    log_type: str | None
    since_ms: int
    until_ms: int
    cursor: str | None
    fingerprint: tuple
    min_level: str | None = None
    search: Search | None = None


def _single(params, name):
    values = params.get(name) or []
    if len(values) > 1:
        raise ValidationError(name, "given more than once")
    return values[0] if values else None


def _digits(text):
    """The value of a string of digits without converting more digits than any valid value has."""
    significant = text.lstrip("0") or "0"
    return int(significant) if len(significant) <= len(str(MAX_TIME_MS)) else None


def _bounded_int(name, text, low, high):
    text = text.strip()
    value = _digits(text) if _DIGITS.match(text) else None
    if value is None or not low <= value <= high:
        raise ValidationError(name, f"must be an integer from {low} to {high}")
    return value


def parse_query_time(field, text):
    """Epoch milliseconds from a query parameter: digits of epoch ms, or ISO 8601 with a zone.

    ``chalice local`` decodes a raw ``+`` in a query string to a space, so an
    offset written ``+01:00`` without URL-encoding arrives as `` 01:00``.
    """
    text = text.strip()
    if _DIGITS.match(text):
        epoch_ms = _digits(text)
    else:
        epoch_ms = ev.parse_iso(field, _SPACED_OFFSET.sub(r"\1+\2", text))
    if epoch_ms is None or not 0 <= epoch_ms <= MAX_TIME_MS:
        raise ValidationError(field, f"is out of range: from 1970-01-01T00:00:00Z to {ev.format_time(MAX_TIME_MS)}")
    return epoch_ms




def parse_recent_query(params, now_ms, retention_days):
    """A ``RecentQuery`` from query parameters given as ``{name: [values]}``."""
    unknown = sorted(name for name in params if name not in PARAMETERS)
    if unknown:
        raise ValidationError(unknown[0], "unknown query parameter")
    given = {name: _single(params, name) for name in PARAMETERS if name not in REPEATABLE}

    limit = _bounded_int("limit", given["limit"], 1, MAX_LIMIT) if given["limit"] is not None else DEFAULT_LIMIT
    service_name = ev.name("service_name", given["service_name"], 128) if given["service_name"] is not None else None
    level = ev.normalize_level("level", given["level"]) if given["level"] is not None else None
    min_level = ev.normalize_level("min_level", given["min_level"]) if given["min_level"] is not None else None
    if level is not None and min_level is not None:
        raise ValidationError("min_level", "cannot be combined with level")
    log_type = ev.name("log_type", given["log_type"], 64) if given["log_type"] is not None else None

    max_hours = retention_days * 24
    hours = _bounded_int("hours", given["hours"], 1, max_hours) if given["hours"] is not None else None
    if hours is not None and given["since"] is not None:
        raise ValidationError("hours", "cannot be combined with since")
    until_ms = parse_query_time("until", given["until"]) if given["until"] is not None else now_ms
    if given["since"] is not None:
        since_ms = parse_query_time("since", given["since"])
    else:
        since_ms = now_ms - (hours or DEFAULT_WINDOW_HOURS) * HOUR_MS
    if since_ms >= until_ms:
        if given["since"] is None:
            raise ValidationError("until", "must be after since (since defaults to now minus hours, 24 by default)")
        raise ValidationError("since", "must be before until")

    cursor = given["cursor"]
    if cursor is not None and not cursor:
        raise ValidationError("cursor", "must not be empty")
    attrs = params.get("attr") or []
    fingerprint = (
        service_name,
        level,
        min_level,
        log_type,
        since_ms if given["since"] is not None else None,
        until_ms if given["until"] is not None else None,
        hours,
        given["q"],
        given["trace_id"],
        list(attrs) if attrs else None,
    )
    return RecentQuery(limit, service_name, level, log_type, since_ms, until_ms, cursor, fingerprint, min_level,
                       _search(given["q"], given["trace_id"], attrs))


def _search(q, trace_id, attrs):
    """The ``Search`` of ``q``, ``trace_id`` and ``attr`` values, or None if none is given."""
    if q is None and trace_id is None and not attrs:
        return None
    for name, values in (("q", [q] if q is not None else []), ("attr", attrs)):
        for value in values:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError(name, "is not valid UTF-8") from None
    kept = json.dumps([q, trace_id, attrs], separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(kept) > SEARCH_BYTES:
        raise ValidationError("attr" if attrs else "q", f"q, trace_id and attr together are {len(kept)} bytes as "
                              f"a cursor keeps them, over the limit of {SEARCH_BYTES}")
    return Search(parse_terms(q) if q is not None else (), parse_trace_id(trace_id) if trace_id is not None else None,
                  parse_attrs(attrs))


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def continued(query, position):
    """The query a cursor continues: the filters and window it was made with, and this request's limit.

    Parameters given beside a cursor must repeat the first page's. A cursor
    whose fields are not what this service writes is refused like a forged one.
    """
    fingerprint = tuple(position.fingerprint)
    if len(fingerprint) == _FINGERPRINT_BEFORE_SEARCH:
        fingerprint += (None,) * (len(query.fingerprint) - len(fingerprint))
    strings, integers = fingerprint[:_FINGERPRINT_STRINGS], fingerprint[_FINGERPRINT_STRINGS:_FINGERPRINT_BEFORE_SEARCH]
    if (len(fingerprint) != len(query.fingerprint)
            or not all(value is None or isinstance(value, str) for value in strings + fingerprint[-3:-1])
            or not all(value is None or _is_int(value) for value in integers)
            or not (fingerprint[-1] is None or isinstance(fingerprint[-1], list)
                    and all(isinstance(value, str) for value in fingerprint[-1]))
            or not (_is_int(position.since_ms) and _is_int(position.until_ms))
            or not 0 <= position.since_ms < position.until_ms <= MAX_TIME_MS):
        raise ValidationError("cursor", "is not a cursor this service issued, or it was altered")
    if any(value is not None for value in query.fingerprint) and query.fingerprint != fingerprint:
        raise ValidationError("cursor", "was made for other query parameters; repeat them unchanged or omit them")
    service_name, level, min_level, log_type = strings
    q, trace_id, attrs = fingerprint[_FINGERPRINT_BEFORE_SEARCH:]
    return replace(query, service_name=service_name, level=level, min_level=min_level, log_type=log_type,
                   since_ms=position.since_ms, until_ms=position.until_ms, fingerprint=fingerprint,
                   search=_search(q, trace_id, attrs or []))
