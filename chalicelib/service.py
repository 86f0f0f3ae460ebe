"""The two operations of the API, between HTTP (app.py) and storage (repository)."""
import dataclasses
import functools
import time

from chalicelib import aws, cursor, settings
from chalicelib import events as ev
from chalicelib.errors import ValidationError
from chalicelib.repository import LogRepository


@functools.cache
def repository():
    return LogRepository(
        client=aws.client("dynamodb"),
        table_name=settings.table_name(),
        retention_days=settings.retention_days(),
        service_shards=settings.service_shards(),
        timeline_shards=settings.timeline_shards(),
        max_attempts=settings.write_max_attempts(),
    )


@functools.cache
def cursor_key():
    source, value = settings.cursor_key_source()
    if source == "value":
        return value
    response = aws.client("ssm").get_parameter(Name=value, WithDecryption=True)
    return response["Parameter"]["Value"]


def reset():
    """Forget cached dependencies (tests switch tables and settings)."""
    repository.cache_clear()
    cursor_key.cache_clear()
    aws.client.cache_clear()


def now_ms():
    return int(time.time() * 1000)


def ingest(raw_body, ingested_by, now=None):
    """``(status, body)`` for ``POST /logs``."""
    now = now_ms() if now is None else now
    raws, is_batch = ev.split_body(ev.parse_json_body(raw_body))
    retention_days = settings.retention_days()
    if not is_batch:
        event = ev.normalize_event(raws[0], now, retention_days)
        (outcome,) = repository().put_events([event], ingested_by, now)
        return 201, outcome.event

    batch, rejections = ev.validate_batch(raws, now, retention_days)
    if len(rejections) < len(batch):
        outcomes = repository().put_events(batch, ingested_by, now)
    else:
        outcomes = [None] * len(batch)
    for index, outcome in enumerate(outcomes):
        if outcome is not None and not outcome.stored:
            rejections.append(ev.Rejection(index, "ServiceUnavailableError", outcome.error, True))
    rejections.sort(key=lambda rejection: rejection.index)
    log_ids = [outcome.log_id if outcome is not None and outcome.stored else None for outcome in outcomes]
    accepted = sum(log_id is not None for log_id in log_ids)
    body = {"accepted": accepted, "rejected": [r.to_dict() for r in rejections], "log_ids": log_ids}
    if accepted == 0:
        body = {"Code": "BadRequestError", "Message": f"logs: none of the {len(batch)} events is valid", **body}
        return 400, body
    return (201 if not rejections else 207), body


def recent(params, now=None):
    """The body of ``GET /logs/recent`` for query parameters ``{name: [values]}``."""
    now = now_ms() if now is None else now
    query = ev.parse_recent_query(params, now, settings.retention_days())
    after = None
    if query.cursor is not None:
        position = cursor.decode(cursor_key(), query.cursor)
        if any(value is not None for value in query.fingerprint) and query.fingerprint != position.fingerprint:
            raise ValidationError("cursor", "was made for other query parameters; repeat them unchanged or omit them")
        service_name, level, log_type = position.fingerprint[:3]
        query = dataclasses.replace(
            query, service_name=service_name, level=level, log_type=log_type,
            since_ms=position.since_ms, until_ms=position.until_ms, fingerprint=position.fingerprint)
        after = position.after_log_id
    page = repository().recent(query, now, after=after)
    next_cursor = None
    if page.next_after is not None:
        position = cursor.Position(page.next_after, query.since_ms, query.until_ms, query.fingerprint)
        next_cursor = cursor.encode(cursor_key(), position)
    return {"count": len(page.events), "logs": page.events, "next_cursor": next_cursor}
