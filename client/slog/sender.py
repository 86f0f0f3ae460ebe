"""Sending many events: lines of a file to events, events to batches within the API's limits, retries.

Every event gets an ``event_id`` (the service's idempotency key) before its
first send, and is resent byte for byte, so resending after a timeout or a
``retryable`` rejection never stores an event twice. Ids of file lines derive
from the file's content and the line number: sending the same file again
stores nothing new.
"""
import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import timedelta

from slog.client import (
    MAX_BATCH_EVENTS,
    MAX_BODY_BYTES,
    RETRY_STATUSES,
    backoff_delays,
    dumps,
    format_timestamp_us,
    retry_delay,
)
from slog.errors import ApiError, SlogError

_BATCH_OVERHEAD = len('{"logs":[]}')


@dataclass
class Line:
    """One event to send, and where it came from (1-based line number, or None)."""

    event: dict
    line_no: int | None = None


@dataclass
class Rejected:
    line_no: int | None
    code: str
    message: str


@dataclass
class Summary:
    sent: int = 0
    accepted: int = 0
    rejected: list = field(default_factory=list)
    retries: int = 0
    seconds: float = 0.0

    @property
    def ok(self):
        return not self.rejected


def events_from_lines(lines, defaults, source_id, stamped_from=None):
    """``Line`` per non-blank line: a JSON object (defaults fill missing fields) or plain text (the message).

    ``source_id`` (e.g. a digest of the file) makes event ids unique to the source;
    ``stamped_from``, a datetime when given, stamps the lines that carry no timestamp with
    distinct, increasing times from it (a microsecond apart, as precise as the service orders),
    so that they come back in the order they were read.
    """
    for line_no, text in enumerate(lines, start=1):
        text = text.rstrip("\r\n")
        if not text.strip():
            continue
        event = None
        if text.lstrip().startswith("{"):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                event = {**{k: v for k, v in defaults.items() if v is not None}, **parsed}
        if event is None:
            event = {**{k: v for k, v in defaults.items() if v is not None}, "message": text}
        event.setdefault("event_id", f"slog-{source_id}-{line_no}")
        if stamped_from is not None:
            event.setdefault("timestamp", format_timestamp_us(stamped_from + timedelta(microseconds=line_no)))
        yield Line(event, line_no)


def file_digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:20]


def batches(lines, max_events=MAX_BATCH_EVENTS, max_bytes=MAX_BODY_BYTES):
    """Lists of ``Line`` whose ``{"logs": [...]}`` body stays within both limits."""
    batch, size = [], _BATCH_OVERHEAD
    for line in lines:
        event_size = len(dumps(line.event).encode("utf-8")) + (1 if batch else 0)
        if batch and (len(batch) >= max_events or size + event_size > max_bytes):
            yield batch
            batch, size = [], _BATCH_OVERHEAD
            event_size -= 1
        batch.append(line)
        size += event_size
    if batch:
        yield batch


class Sender:
    """Sends batches, resending retryable rejections and failed requests with backoff."""

    def __init__(self, client, attempts=6, sleep=time.sleep, backoff_base=0.2):
        self._client = client
        self._delays = backoff_delays(attempts - 1, base=backoff_base)
        self._sleep = sleep

    def send(self, lines, progress=None):
        summary = Summary()
        started = time.monotonic()
        for batch in batches(lines):
            summary.sent += len(batch)
            self._send_batch(batch, summary)
            if progress is not None:
                progress(len(batch))
        summary.seconds = time.monotonic() - started
        return summary

    def _send_batch(self, batch, summary):
        pending = batch
        for attempt in range(len(self._delays) + 1):
            asked = None
            try:
                status, body = self._client.send_batch([line.event for line in pending])
            except ApiError as error:
                if error.status not in RETRY_STATUSES:
                    if error.status == 403:
                        raise
                    summary.rejected.extend(Rejected(line.line_no, error.code, error.message) for line in pending)
                    return
                retry, asked = pending, error
                last = [Rejected(line.line_no, error.code, error.message) for line in pending]
            except SlogError as error:
                retry = pending
                last = [Rejected(line.line_no, "ConnectionError", str(error)) for line in pending]
            else:
                summary.accepted += body.get("accepted", 0)
                retry, last = [], []
                for rejection in body.get("rejected", []):
                    line = pending[rejection["index"]]
                    entry = Rejected(line.line_no, rejection.get("Code"), rejection.get("Message"))
                    if rejection.get("retryable"):
                        retry.append(line)
                        last.append(entry)
                    else:
                        summary.rejected.append(entry)
            if not retry:
                return
            if attempt < len(self._delays):
                summary.retries += 1
                delay = self._delays[attempt]
                self._sleep(delay if asked is None else retry_delay(asked, delay))
                pending = retry
        summary.rejected.extend(last)
