"""Partition load: the busiest partition key under 10,000 events/s, 90% of them from one service.

Every event goes through the repository's own ``put_events`` (log ids, shard
choice and item building are the service's code, with the shard counts from
``chalicelib.settings``); a recording client stands in for DynamoDB and keeps
every item written. Each item lands on its table partition key (``pk``) and,
if it carries the index's key, on the ``timeline`` index's partition key. The
original design's items (``bench.baseline``) land on ``service_name`` in the
table and ``log_type`` in its index. DynamoDB serves at most 1,000 write units
per second on one partition; these items are under 1 KB, so writes = units.
"""
import random
from collections import Counter

from bench import baseline, data
from bench.env import CALLER_ARN, configure
from bench.stub import RecordingClient

PARTITION_WRITE_LIMIT_PER_S = 1000


def _second_of_events(rng, second, rate, ev):
    """``{service: [LogEvent]}`` for one second of traffic."""
    by_service = {}
    start_ms = second * 1000
    for _ in range(rate):
        service_name = data.pick_service(rng)
        event = ev.LogEvent(service_name=service_name, level="INFO", message="m", log_type="application",
                            timestamp_ms=start_ms + rng.randrange(1000))
        by_service.setdefault(service_name, []).append(event)
    return by_service


def _by_place(counts):
    """The busiest key's writes per second in the table and in each index."""
    places = sorted({place for place, _, _ in counts})
    return {where: max(count for (place, _, _), count in counts.items() if place == where) for where in places}


def run(rate=10_000, seconds=60, batch=1000, log=print):
    configure()
    from chalicelib import events as ev
    from chalicelib import settings
    from chalicelib.repository import HASH_KEY, TIMELINE_HASH_KEY, TIMELINE_INDEX, LogRepository

    rng = random.Random(2)
    recorder = RecordingClient()
    repository = LogRepository(recorder, settings.table_name(), settings.retention_days(),
                               settings.service_shards(), settings.timeline_shards())
    base_ms = 1_800_000_000_000
    ours = Counter()
    original = Counter()
    for second in range(seconds):
        now_ms = base_ms + (second + 1) * 1000
        by_service = _second_of_events(rng, base_ms // 1000 + second, rate, ev)
        recorder.calls.clear()
        for events in by_service.values():
            for start in range(0, len(events), batch):
                repository.put_events(events[start:start + batch], CALLER_ARN, now_ms)
        for _, params in recorder.calls:
            for requests in params["RequestItems"].values():
                for request in requests:
                    item = request["PutRequest"]["Item"]
                    ours[("table", item[HASH_KEY]["S"], second)] += 1
                    if TIMELINE_HASH_KEY in item:
                        ours[(TIMELINE_INDEX, item[TIMELINE_HASH_KEY]["S"], second)] += 1
        for events in by_service.values():
            for event in events:
                body = {"service_name": event.service_name, "log_type": event.log_type, "message": event.message}
                for where, key in baseline.partition_keys(baseline.log_entry(body, event.timestamp_ms / 1000)):
                    original[(where, key, second)] += 1

    def busiest(counts):
        (where, key, second), writes = counts.most_common(1)[0]
        return writes, {"where": where, "partition_key": key, "second": second}

    ours_max, ours_at = busiest(ours)
    baseline_max, baseline_at = busiest(original)
    total = sum(count for (where, _, _), count in ours.items() if where == "table")
    if total != rate * seconds:
        raise RuntimeError(f"simulated {rate * seconds} events but the repository wrote {total}")
    result = {
        "events_per_s": rate,
        "seconds": seconds,
        "hot_service_share": data.HOT_SHARE,
        "service_shards": settings.service_shards(),
        "timeline_shards": settings.timeline_shards(),
        "max_writes_per_key_per_s": ours_max,
        "busiest": ours_at,
        "max_writes_per_key_per_s_by_place": _by_place(ours),
        "baseline_max_writes_per_key_per_s": baseline_max,
        "baseline_busiest": baseline_at,
        "baseline_max_writes_per_key_per_s_by_place": _by_place(original),
        "partition_limit_writes_per_s": PARTITION_WRITE_LIMIT_PER_S,
    }
    log(f"capacity: {rate} events/s for {seconds} s, {int(data.HOT_SHARE * 100)}% from one service: "
        f"busiest key takes {ours_max} writes/s ({ours_at['where']} {ours_at['partition_key']}); "
        f"original design {baseline_max} writes/s ({baseline_at['where']} {baseline_at['partition_key']}); "
        f"DynamoDB's limit is {PARTITION_WRITE_LIMIT_PER_S}/s per partition")
    return result
