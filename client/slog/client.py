"""A small SigV4-signing client for the Simple Log Service API (``POST /logs``, ``GET /logs/recent``)."""
import json
from datetime import UTC, datetime

import requests

from slog.auth import SigV4RequestsAuth
from slog.errors import ApiError, SlogError

SERVICE = "execute-api"
MAX_BATCH_EVENTS = 1000
MAX_BODY_BYTES = 1_048_576
MAX_PAGE = 1000


def dumps(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def format_timestamp(moment):
    """ISO 8601 UTC with milliseconds, as the service writes them: ``2026-11-28T10:30:45.123Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def timestamp_now():
    return format_timestamp(datetime.now(UTC))


class LogClient:
    """Signs each request as it will be sent, with the target's current credentials (``execute-api``, its region)."""

    def __init__(self, target, timeout=30.0, http=None):
        self.target = target
        self._timeout = timeout
        self._http = http or requests.Session()
        self._auth = SigV4RequestsAuth(target.credentials, target.region, SERVICE)

    def request(self, method, route, params=None, body=None):
        """``(status, decoded JSON body or None, headers)``; transport failures are ``SlogError``."""
        data = body if body is None or isinstance(body, bytes) else dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            response = self._http.request(method, self.target.endpoint + route.lstrip("/"), params=params, data=data,
                                          headers=headers, auth=self._auth, timeout=self._timeout)
        except requests.RequestException as error:
            raise SlogError(f"cannot reach {self.target.endpoint}: {type(error).__name__}: {error}") from None
        try:
            decoded = response.json() if response.content else None
        except ValueError:
            decoded = None
        return response.status_code, decoded, response.headers

    @staticmethod
    def error(status, body, method, route):
        body = body if isinstance(body, dict) else {}
        code = body.get("Code") or body.get("__type") or ("Forbidden" if status == 403 else "Error")
        message = body.get("Message") or body.get("message") or "no message"
        return ApiError(status, code, message, method, route, body)

    def send_event(self, event):
        """Store one event; returns the stored event (with ``log_id``)."""
        status, body, _ = self.request("POST", "/logs", body=event)
        if status != 201:
            raise self.error(status, body, "POST", "/logs")
        return body

    def send_batch(self, events):
        """``(status, body)`` for a ``{"logs": [...]}`` batch; 201, 207 and batch-shaped 400 are answers."""
        status, body, headers = self.request("POST", "/logs", body={"logs": events})
        if status in (201, 207) or (status == 400 and isinstance(body, dict) and "rejected" in body):
            return status, body
        error = self.error(status, body, "POST", "/logs")
        error.retry_after = headers.get("Retry-After")
        raise error

    def recent_page(self, **params):
        status, body, _ = self.request("GET", "/logs/recent", params=params)
        if status != 200:
            raise self.error(status, body, "GET", "/logs/recent")
        return body

    def recent(self, limit=100, **filters):
        """Up to ``limit`` newest matching events, following ``next_cursor`` across pages."""
        logs, cursor = [], None
        while len(logs) < limit:
            params = {"limit": min(MAX_PAGE, limit - len(logs)), **filters}
            if cursor is not None:
                params = {"limit": params["limit"], "cursor": cursor}
            page = self.recent_page(**params)
            logs.extend(page["logs"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return {"count": len(logs), "logs": logs, "next_cursor": cursor}


def backoff_delays(attempts, base=0.2, cap=5.0):
    """Exponential backoff: base, 2*base, ... capped (deterministic: resends are idempotent anyway)."""
    return [min(cap, base * 2 ** attempt) for attempt in range(attempts)]
