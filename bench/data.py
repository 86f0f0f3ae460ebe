"""Synthetic log events: 20 services, one of them sending 90% of the traffic.

Levels follow ``LEVEL_MIX`` (1% ERROR, 4% WARN: the severe events a sparse
index holds), or ``INFO_ONLY`` where a figure is about events that no
severity index touches.
"""
import json
import random

SERVICES = tuple(f"svc-{number:02d}" for number in range(20))
HOT_SERVICE = SERVICES[0]
HOT_SHARE = 0.9
LEVEL_MIX = {"DEBUG": 20, "INFO": 75, "WARN": 4, "ERROR": 1}
INFO_ONLY = {"INFO": 1}
EVENT_BYTES = 200


def pick_service(rng):
    return HOT_SERVICE if rng.random() < HOT_SHARE else rng.choice(SERVICES[1:])


def event(rng, sequence, timestamp_ms, service_name=None, event_id=None, size=EVENT_BYTES, levels=LEVEL_MIX):
    """One event whose JSON is ``size`` bytes (without ``event_id``); ``sequence`` makes it unique."""
    body = {
        "service_name": service_name or pick_service(rng),
        "level": rng.choices(list(levels), weights=list(levels.values()))[0],
        "log_type": "application",
        "timestamp": timestamp_ms,
        "message": "",
        "metadata": {"request_id": f"req-{sequence:08d}"},
    }
    head = f"seq={sequence:08d} GET /api/orders 200 "
    padding = size - len(json.dumps(body, separators=(",", ":"))) - len(head)
    body["message"] = head + "x" * max(0, padding)
    if event_id is not None:
        body["event_id"] = event_id
    return body


def events(count, now_ms, span_ms, seed=7, with_event_id=False, with_timestamp=True, levels=LEVEL_MIX):
    """``count`` events with distinct timestamps spread over ``(now - span, now]``.

    ``with_timestamp=False`` leaves the timestamp out (the service stamps the
    event with its time of receipt), as a client that does not stamp its events would.
    """
    rng = random.Random(seed)
    offsets = rng.sample(range(span_ms), count)
    made = [
        event(rng, sequence, now_ms - offset, event_id=f"evt-{seed}-{sequence:08d}" if with_event_id else None,
              levels=levels)
        for sequence, offset in enumerate(offsets)
    ]
    if not with_timestamp:
        for body in made:
            del body["timestamp"]
    return made


def sequence_of(message):
    return int(message.split(" ", 1)[0].removeprefix("seq="))
