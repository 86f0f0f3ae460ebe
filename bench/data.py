"""Synthetic log events: 20 services, one of them sending 90% of the traffic.

Levels follow ``LEVEL_MIX`` exactly, in every block of 100 events (1% ERROR,
4% WARN: the severe events a sparse index holds), or ``INFO_ONLY`` where a
figure is about events that no severity index touches.
"""
import json
import random
import time
import uuid

SERVICES = tuple(f"svc-{number:02d}" for number in range(20))
HOT_SERVICE = SERVICES[0]
HOT_SHARE = 0.9
LEVEL_MIX = {"DEBUG": 20, "INFO": 75, "WARN": 4, "ERROR": 1}
INFO_ONLY = {"INFO": 1}
EVENT_BYTES = 200


def pick_service(rng):
    return HOT_SERVICE if rng.random() < HOT_SHARE else rng.choice(SERVICES[1:])


def level_sequence(rng, count, mix=LEVEL_MIX):
    """``count`` levels in the exact proportions of ``mix``, shuffled within each block of ``sum(mix)``."""
    block = [level for level, share in mix.items() for _ in range(share)]
    made = []
    while len(made) < count:
        rng.shuffle(block)
        made.extend(block)
    return made[:count]


def event(rng, sequence, timestamp_ms, service_name=None, event_id=None, size=EVENT_BYTES, level="INFO"):
    """One event whose JSON is ``size`` bytes (without ``event_id``); ``sequence`` makes it unique."""
    body = {
        "service_name": service_name or pick_service(rng),
        "level": level,
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
              level=level)
        for sequence, (offset, level) in enumerate(zip(offsets, level_sequence(rng, count, levels), strict=True))
    ]
    if not with_timestamp:
        for body in made:
            del body["timestamp"]
    return made


def sequence_of(message):
    return int(message.split(" ", 1)[0].removeprefix("seq="))


# --- a realistic mix, for the packing figures ----------------------------------------------------
#
# Shippers (the OpenTelemetry SDK and Collector, Fluent Bit, ``slog send --file``) send one service's
# events of the last second or so per request. The events vary as a service's logs do: a handful of
# message shapes, with order, user and SKU numbers, latencies, request ids shared by the few lines
# of one request, and user agents.

MIX_SERVICES = ("checkout-api", "payments", "inventory", "auth", "search", "notifications", "gateway")
MIX_HOT_SERVICE = MIX_SERVICES[0]
USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5)",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
    "Go-http-client/2.0",
)
_MESSAGES = {
    "DEBUG": ("cache {outcome} for product:{sku} in {latency} ms",
              "loaded {count} rows from orders_{shard} in {latency} ms"),
    "INFO": ("GET /api/orders/{order} 200 in {latency} ms",
             "POST /api/cart/{user}/items 201 in {latency} ms",
             "order {order} placed by user {user}: {count} items, {amount} USD",
             "payment {payment} authorized for order {order} via {provider}",
             "user {user} signed in from 10.{shard}.{count}.{sku3}",
             "search q=\"{term}\" returned {count} hits in {latency} ms"),
    "WARN": ("slow query on orders_{shard}: {latency} ms (threshold 250 ms)",
             "retrying {provider} call for order {order} (attempt {attempt}/3)"),
    "ERROR": ("{provider} answered 503 for payment {payment} after {latency} ms",
              "order {order} failed: card_declined (user {user})"),
}
_TERMS = ("running shoes", "usb-c cable", "coffee grinder", "desk lamp", "wool socks", "phone case")
_PROVIDERS = ("stripe", "adyen", "paypal", "braintree")


def _message(rng, level):
    return rng.choice(_MESSAGES[level]).format(
        order=rng.randrange(10_000_000, 99_999_999), user=rng.randrange(100_000, 999_999),
        sku=rng.randrange(10_000, 99_999), sku3=rng.randrange(1, 255), shard=rng.randrange(16),
        count=rng.randrange(1, 40), amount=f"{rng.randrange(500, 50_000) / 100:.2f}",
        payment=f"pay_{rng.getrandbits(48):012x}", provider=rng.choice(_PROVIDERS), term=rng.choice(_TERMS),
        latency=_latency(rng, level), attempt=rng.randrange(1, 4), outcome=rng.choice(("hit", "miss")))


def _latency(rng, level):
    return int(rng.lognormvariate(3.2, 0.8)) + (250 if level == "WARN" else 0)


def _iso(microseconds):
    seconds, micros = divmod(microseconds, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def shipper_batch(rng, service_name, size, end_us, with_event_id=False, levels=LEVEL_MIX, span_us=None):
    """One shipper's request: ``size`` events of ``service_name`` in the ``span_us`` before ``end_us`` (epoch
    microseconds), their levels in the proportions of ``levels``.

    By default the events span ``size`` ms to 3 s (a service logging 1,000 events/s fills a 1,000-event
    request in a second; a quieter one's shipper flushes every second or so).
    """
    if span_us is None:
        span_us = int(rng.uniform(size, max(size, 3000)) * 1000) if size > 1 else 0
    times = sorted(end_us - rng.randrange(span_us + 1) for _ in range(size))
    made, seen = [], set()
    request_id, lines_left = None, 0
    for moment, level in zip(times, level_sequence(rng, size, levels), strict=True):
        if lines_left == 0:
            request_id, lines_left = str(uuid.UUID(int=rng.getrandbits(128), version=4)), rng.randrange(1, 5)
        lines_left -= 1
        body = {
            "service_name": service_name,
            "level": level,
            "timestamp": _iso(moment),
            "message": _message(rng, level),
            "metadata": {"request_id": request_id, "latency_ms": _latency(rng, level)},
        }
        # Lines written while serving a client carry its user agent; background work has none.
        if rng.random() < 0.5:
            body["metadata"]["user_agent"] = rng.choice(USER_AGENTS)
        if level == "INFO" and rng.random() < 0.3:
            body["log_type"] = "access"
        # Two lines of one request alike to the millisecond could not be told apart by a read's check.
        while identity(body) in seen:
            body["message"] = _message(rng, level)
        seen.add(identity(body))
        if with_event_id:
            body["event_id"] = f"{request_id}-{len(made)}"
        made.append(body)
    return made


def mix_service(rng):
    return MIX_HOT_SERVICE if rng.random() < HOT_SHARE else rng.choice(MIX_SERVICES[1:])


def shipper_batches(count, size, now_ms, span_ms, seed=19, with_event_id=False):
    """``count`` requests of ``size`` events, each of one service (90 % the hot one), within ``span_ms`` of now."""
    rng = random.Random(seed)
    now_us = now_ms * 1000
    return [shipper_batch(rng, mix_service(rng), size, now_us - rng.randrange(span_ms * 1000) - 3_000_000,
                          with_event_id) for _ in range(count)]


def identity(event):
    """What tells two events of the mix apart, as sent or as ``GET /logs/recent`` answers them (its
    timestamps stop at the millisecond): service, millisecond, request id and message."""
    return event["service_name"], event["timestamp"][:23], event["metadata"]["request_id"], event["message"]
