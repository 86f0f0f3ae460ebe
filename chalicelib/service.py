"""The operations of the API, between HTTP (app.py, chalicelib.http) and storage (repository).

They take decoded requests and return domain results; ``chalicelib.http``
alone turns those into statuses and bodies.
"""
import dataclasses
import functools
import threading
import time

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import answer, aws, cursor, otlp, query, settings
from chalicelib import events as ev
from chalicelib.errors import Conflict, StorageUnavailable
from chalicelib.repository import LogRepository
from chalicelib.strict_json import parse_json_body


@dataclasses.dataclass(frozen=True)
class BatchOutcome:
    """A ``{"logs": [...]}`` request: a log id (or None) per event, and why each missing one is missing."""

    log_ids: list
    rejections: list

    @property
    def accepted(self):
        return sum(log_id is not None for log_id in self.log_ids)


@dataclasses.dataclass(frozen=True)
class ExportOutcome:
    """An OTLP export: how many records were rejected (the rest are stored), and why the first one was."""

    rejected: int
    error_message: str


@dataclasses.dataclass(frozen=True)
class RecentPage:
    """A page of ``GET /logs/recent``: each event as its JSON text (``answer.dumps``), and the cursor."""

    log_texts: list
    next_cursor: str | None
    # Events examined and their bytes as stored (``scanned``).
    scanned_events: int = 0
    scanned_bytes: int = 0


@functools.cache
def repository():
    return LogRepository(
        client=aws.client("dynamodb"),
        table_name=settings.table_name(),
        retention_days=settings.retention_days(),
        service_shards=settings.service_shards(),
        timeline_shards=settings.timeline_shards(),
        severity_shards=settings.severity_shards(),
        max_attempts=settings.write_max_attempts(),
        shard_key=_secret(settings.shard_key_source()).encode("utf-8"),
    )


def _secret(source):
    """A secret from settings: the value itself, or the SSM SecureString parameter it names."""
    kind, value = source
    if kind == "value":
        return value
    return _ssm_parameter(value)["Value"]


def _ssm_parameter(name):
    """An SSM SecureString parameter (``name`` may select a version); SSM throttled or unreachable is a 503.

    Any other error (a missing parameter, a missing grant) is the stage's misconfiguration and propagates.
    """
    try:
        return aws.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if "Throttl" not in code and error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) < 500:
            raise
        raise StorageUnavailable("a service key could not be read; retry later") from error
    except BotoCoreError as error:
        raise StorageUnavailable("a service key could not be read; retry later") from error


# The cursor keys are read again after this long, so a rotated key reaches every container.
CURSOR_KEYS_REFRESH_S = 300
# A cursor naming a key this container does not know yet (another one read a newer version first)
# has the keys read again at once, but no more often than this, whatever cursors are sent.
CURSOR_KEYS_RECHECK_S = 30
# How long after a new key version a cursor signed by the version before it still works.
CURSOR_KEY_GRACE_S = 24 * 3600


class _CursorKeyring:
    """The cursor keys, read on first use and again after ``CURSOR_KEYS_REFRESH_S``; never a read per request."""

    def __init__(self):
        self._lock = threading.Lock()
        self._keys = None
        self._read_at = None

    def get(self, wanted=None, clock=time.monotonic):
        """The keys; read again if they are old, or if ``wanted`` (a cursor's key id) is not among them."""
        with self._lock:
            now = clock()
            age = None if self._read_at is None else now - self._read_at
            unknown = wanted is not None and self._keys is not None and wanted not in (
                self._keys.current[0], (self._keys.previous or (None,))[0])
            if age is None or age > CURSOR_KEYS_REFRESH_S or (unknown and age > CURSOR_KEYS_RECHECK_S):
                try:
                    self._keys, self._read_at = _read_cursor_keys(), now
                except StorageUnavailable:
                    if self._keys is None:
                        raise
                    # Keep the keys this container has; try again after the recheck interval.
                    self._read_at = now - CURSOR_KEYS_REFRESH_S + CURSOR_KEYS_RECHECK_S
            return self._keys

    def forget(self):
        with self._lock:
            self._keys = self._read_at = None


def _read_cursor_keys():
    """Local and test stages: the key and the previous one as set. Deployed stages: the SSM parameter's
    current version, and the version before it until ``CURSOR_KEY_GRACE_S`` after the current one was put."""
    source, value = settings.cursor_key_source()
    if source == "value":
        previous = settings.previous_cursor_key()
        return cursor.CursorKeys((cursor.key_id_of(value), value),
                                 (cursor.key_id_of(previous), previous) if previous else None)
    current = _ssm_parameter(value)
    keys = cursor.CursorKeys((str(current["Version"]), current["Value"]))
    if current["Version"] > 1:
        try:
            previous = _ssm_parameter(f"{value}:{current['Version'] - 1}")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ParameterVersionNotFound":
                raise
        else:
            keys = dataclasses.replace(keys, previous=(str(previous["Version"]), previous["Value"]),
                                       previous_until=current["LastModifiedDate"].timestamp() + CURSOR_KEY_GRACE_S)
    return keys


cursor_keys = _CursorKeyring()


def reset():
    """Forget cached dependencies (tests switch tables and settings)."""
    repository.cache_clear()
    cursor_keys.forget()
    aws.client.cache_clear()


def now_ms():
    return int(time.time() * 1000)


def ingest(raw_body, ingested_by, deadline=None, now=None):
    """``POST /logs``: the stored event (a dict) for one event, a ``BatchOutcome`` for a batch."""
    now = now_ms() if now is None else now
    raws, is_batch = ev.split_body(parse_json_body(raw_body))
    retention_days = settings.retention_days()
    with aws.within(deadline):
        if not is_batch:
            event = ev.normalize_event(raws[0], now, retention_days)
            (outcome,) = repository().put_events([event], ingested_by, now)
            if outcome.conflict:
                raise Conflict()
            return outcome.event

        batch, rejections = ev.validate_batch(raws, now, retention_days)
        if len(rejections) < len(batch):
            outcomes = repository().put_events(batch, ingested_by, now)
        else:
            outcomes = [None] * len(batch)
    for index, outcome in enumerate(outcomes):
        if outcome is not None and outcome.conflict:
            rejections.append(ev.Rejection(index, str(Conflict()), retryable=False, conflict=True))
        elif outcome is not None and not outcome.stored:
            rejections.append(ev.Rejection(index, outcome.error, retryable=True))
    rejections.sort(key=lambda rejection: rejection.index)
    log_ids = [outcome.log_id if outcome is not None and outcome.stored else None for outcome in outcomes]
    return BatchOutcome(log_ids, rejections)


def export_logs(body, content_type, content_encoding, ingested_by, deadline=None, now=None):
    """``POST /v1/logs``: store every valid record of an OTLP export; an ``ExportOutcome``.

    Records are stored under ids derived from their content, so when storage
    cannot take them all the whole export is answered retryable (``503``): a
    retry writes what was stored again to the same keys, which is free. The
    same answer, with nothing stored, when the deadline passes while the
    records are being turned into events.
    """
    now = now_ms() if now is None else now
    request, export_bytes = otlp.decode(body, content_type, content_encoding)
    with aws.within(deadline) as deadline:
        raws = otlp.raw_events(request, export_bytes, deadline)
        batch, rejections = ev.validate_batch(raws, now, settings.retention_days())
        if len(rejections) < len(batch):
            outcomes = repository().put_events(batch, ingested_by, now, content_ids=True)
            if any(outcome is not None and not outcome.stored and not outcome.conflict for outcome in outcomes):
                raise StorageUnavailable()
            rejections += [ev.Rejection(index, str(Conflict()), retryable=False, conflict=True)
                           for index, outcome in enumerate(outcomes) if outcome is not None and outcome.conflict]
            rejections.sort(key=lambda rejection: rejection.index)
    message = f"log record {rejections[0].index}: {rejections[0].message}" if rejections else ""
    return ExportOutcome(len(rejections), message)


def recent(params, deadline=None, now=None):
    """``GET /logs/recent`` for query parameters ``{name: [values]}``: a ``RecentPage``."""
    now = now_ms() if now is None else now
    request = query.parse_recent_query(params, now, settings.retention_days())
    after = None
    if request.cursor is not None:
        position = cursor.decode(cursor_keys.get(wanted=cursor.key_id(request.cursor)), request.cursor)
        request = query.continued(request, position)
        after = position.after
    room = answer.Room()
    with aws.within(deadline):
        page = repository().recent(request, now, after=after, fits=room.take)
    next_cursor = None
    if page.next_after is not None:
        position = cursor.Position(page.next_after, request.since_ms, request.until_ms, request.fingerprint)
        next_cursor = cursor.encode(cursor_keys.get(), position)
    return RecentPage(room.texts, next_cursor, page.scanned_events, page.scanned_bytes)
