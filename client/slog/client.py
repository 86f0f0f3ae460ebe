"""A small SigV4-signing client for the Simple Log Service API (``POST /logs``, ``GET /logs/recent``)."""
import json
import time
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import requests

from slog.auth import signed_session
from slog.errors import ApiError, SlogError

MAX_BATCH_EVENTS = 1000
MAX_BODY_BYTES = 1_048_576
MAX_PAGE = 1000
# Answers worth the same request again, after a pause: throttling and the service's transient failures.
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_RETRY_AFTER_S = 30.0


def dumps(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def format_timestamp(moment):
    """ISO 8601 UTC with milliseconds, as the service writes them: ``2026-11-28T10:30:45.123Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def format_timestamp_us(moment):
    """ISO 8601 UTC with microseconds, the finest the service orders events of a JSON body by."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def timestamp_now():
    return format_timestamp(datetime.now(UTC))


def retry_delay(error, delay):
    """The wait before resending after ``error``: the backoff ``delay``, or longer if its ``Retry-After`` says so."""
    return max(delay, min(error.retry_after or 0.0, MAX_RETRY_AFTER_S))


class LogClient:
    """Signs each request as it will be sent, with the target's current credentials (``execute-api``, its region);
    follows no redirect."""

    def __init__(self, target, timeout=30.0, attempts=6, sleep=time.sleep):
        self.target = target
        self._timeout = timeout
        self._http = signed_session(target)
        self._delays = backoff_delays(attempts - 1)
        self._sleep = sleep

    def request(self, method, route, params=None, body=None):
        """``(response, decoded JSON body or None)``; transport failures and redirects are ``SlogError``."""
        data = body if body is None or isinstance(body, bytes) else dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"} if data is not None else {}
        # Every byte but A-Z a-z 0-9 - _ . ~ percent-encoded (a space as %20, never "+", which API Gateway reads
        # as a plus; "/" as %2F): the query sent is then SigV4's canonical form, so the signature botocore makes
        # over it as sent is the one the gateway computes. A list value is a repeated parameter (attr).
        query = urlencode({name: value for name, value in (params or {}).items() if value is not None},
                          doseq=True, quote_via=quote, safe="")
        url = self.target.endpoint + route.lstrip("/")
        try:
            response = self._http.request(method, url, params=query or None, data=data, headers=headers,
                                          timeout=self._timeout)
        except requests.RequestException as error:
            raise SlogError(f"cannot reach {url}: {type(error).__name__}: {error}") from None
        try:
            decoded = response.json() if response.content else None
        except ValueError:
            decoded = None
        return response, decoded

    @staticmethod
    def error(response, body):
        """The ``ApiError`` for ``response``, naming the URL it answered."""
        body = body if isinstance(body, dict) else {}
        status = response.status_code
        code = body.get("Code") or body.get("__type") or ("Forbidden" if status == 403 else "Error")
        message = body.get("Message") or body.get("message") or "no message"
        return ApiError(status, code, message, response.request.method, response.url, body,
                        _seconds(response.headers.get("Retry-After")))

    def resending(self, call):
        """``call()``, made again after throttling, a transient failure or a lost answer.

        Only for requests that are safe to repeat: reads, and events that carry an
        ``event_id`` (the same event each time). Waits with backoff, at least the
        answer's ``Retry-After``.
        """
        for delay in [*self._delays, None]:
            try:
                return call()
            except ApiError as error:
                if error.status not in RETRY_STATUSES or delay is None:
                    raise
                delay = retry_delay(error, delay)
            except SlogError:
                if delay is None:
                    raise
            self._sleep(delay)

    def send_event(self, event):
        """Store one event; returns the stored event (with ``log_id``).

        Resent as it is when worth it, if it has an ``event_id`` (without one, a resend
        could store it twice).
        """
        def send():
            response, body = self.request("POST", "/logs", body=event)
            if response.status_code != 201:
                raise self.error(response, body)
            return body
        return self.resending(send) if event.get("event_id") else send()

    def send_batch(self, events):
        """``(status, body)`` for a ``{"logs": [...]}`` batch; 201, 207 and batch-shaped 400 are answers.

        Sent once: ``slog.sender.Sender`` decides what of a batch to send again.
        """
        response, body = self.request("POST", "/logs", body={"logs": events})
        status = response.status_code
        if status in (201, 207) or (status == 400 and isinstance(body, dict) and "rejected" in body):
            return status, body
        raise self.error(response, body)

    def recent_page(self, **params):
        """One page of ``GET /logs/recent``, read again after throttling or a transient failure."""
        def read():
            response, body = self.request("GET", "/logs/recent", params=params)
            if response.status_code != 200:
                raise self.error(response, body)
            return body
        return self.resending(read)

    def pages(self, limit=100, **filters):
        """The pages of ``GET /logs/recent`` that hold the ``limit`` newest matching events: the first asked with
        ``filters``, the next ones by ``next_cursor`` (which keeps them), until ``limit`` events came or the
        cursor is null. A page may be short, or empty, while the cursor is not; a caller may stop early."""
        count, cursor = 0, None
        while True:
            page = self.recent_page(limit=min(MAX_PAGE, limit - count), **({"cursor": cursor} if cursor else filters))
            yield page
            count += len(page["logs"])
            cursor = page.get("next_cursor")
            if not cursor or count >= limit:
                return

    def recent(self, limit=100, **filters):
        """Up to ``limit`` newest matching events, following ``next_cursor`` across pages."""
        logs, cursor = [], None
        for page in self.pages(limit, **filters):
            logs.extend(page["logs"])
            cursor = page.get("next_cursor")
        return {"count": len(logs), "logs": logs, "next_cursor": cursor}


def _seconds(text):
    try:
        return max(0.0, float(text))
    except (TypeError, ValueError):
        return None


def backoff_delays(attempts, base=0.2, cap=5.0):
    """Exponential backoff: base, 2*base, ... capped (deterministic: resends are idempotent anyway)."""
    return [min(cap, base * 2 ** attempt) for attempt in range(attempts)]
