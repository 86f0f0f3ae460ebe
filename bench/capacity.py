"""Partition load: the busiest partition key under 10,000 events/s, 90% of them from one service.

Every event goes through the repository's own ``put_events`` (log ids, shard
choice and item building are the service's code, with the shard counts from
``chalicelib.settings``); a recording client stands in for DynamoDB and keeps
every item written. Each item lands on its table partition key (``pk``) and on
the partition key of every index whose key it carries (``timeline`` always;
the sparse ``severity`` and ``service_severity`` indexes for WARN, ERROR and
FATAL). Two traffics: the usual mix (1% ERROR, 4% WARN), and an incident in
which the 90% service logs 50% ERROR. The original design's items
(``bench.baseline``) land on ``service_name`` in the table and ``log_type`` in
its index. DynamoDB serves at most 1,000 write units per second on one
partition; these items are under 1 KB, so writes = units.
"""
import random
from collections import Counter

from bench import baseline, data
from bench.env import CALLER_ARN, configure
from bench.stub import RecordingClient

PARTITION_WRITE_LIMIT_PER_S = 1000


INCIDENT_MIX = {"ERROR": 50, "INFO": 50}


def _second_of_events(rng, second, rate, ev, hot_mix):
    """``{service: [LogEvent]}`` for one second of traffic; the hot service's levels follow ``hot_mix``."""
    by_service = {}
    start_ms = second * 1000
    services = [data.pick_service(rng) for _ in range(rate)]
    hot_levels = iter(data.level_sequence(rng, services.count(data.HOT_SERVICE), hot_mix))
    other_levels = iter(data.level_sequence(rng, rate - services.count(data.HOT_SERVICE)))
    for service_name in services:
        level = next(hot_levels) if service_name == data.HOT_SERVICE else next(other_levels)
        event = ev.LogEvent(service_name=service_name, level=level, message="m", log_type="application",
                            timestamp_ms=start_ms + rng.randrange(1000))
        by_service.setdefault(service_name, []).append(event)
    return by_service


def _by_place(counts):
    """The busiest key's writes per second in the table and in each index."""
    places = sorted({place for place, _, _ in counts})
    return {where: max(count for (place, _, _), count in counts.items() if place == where) for where in places}


def _load(rate, seconds, batch, hot_mix, with_baseline=True):
    """Writes per ``(place, partition key, second)``, ours and (``with_baseline``) the original design's."""
    from chalicelib import events as ev
    from chalicelib import settings
    from chalicelib.repository import HASH_KEY, LogRepository
    from devtools.table import load_schema

    rng = random.Random(2)
    recorder = RecordingClient()
    repository = LogRepository(recorder, settings.table_name(), settings.retention_days(),
                               settings.service_shards(), settings.timeline_shards(), settings.severity_shards())
    indexes = [(index["name"], index["hash_key"]) for index in load_schema()["global_secondary_indexes"]]
    base_ms = 1_800_000_000_000
    ours = Counter()
    original = Counter()
    for second in range(seconds):
        now_ms = base_ms + (second + 1) * 1000
        by_service = _second_of_events(rng, base_ms // 1000 + second, rate, ev, hot_mix)
        recorder.calls.clear()
        for events in by_service.values():
            for start in range(0, len(events), batch):
                repository.put_events(events[start:start + batch], CALLER_ARN, now_ms)
        for _, params in recorder.calls:
            for requests in params["RequestItems"].values():
                for request in requests:
                    item = request["PutRequest"]["Item"]
                    ours[("table", item[HASH_KEY]["S"], second)] += 1
                    for name, hash_key in indexes:
                        if hash_key in item:
                            ours[(name, item[hash_key]["S"], second)] += 1
        for events in by_service.values() if with_baseline else ():
            for event in events:
                body = {"service_name": event.service_name, "log_type": event.log_type, "message": event.message}
                for where, key in baseline.partition_keys(baseline.log_entry(body, event.timestamp_ms / 1000)):
                    original[(where, key, second)] += 1
    total = sum(count for (where, _, _), count in ours.items() if where == "table")
    if total != rate * seconds:
        raise RuntimeError(f"simulated {rate * seconds} events but the repository wrote {total}")
    return ours, original


def _busiest(counts):
    (where, key, second), writes = counts.most_common(1)[0]
    return writes, {"where": where, "partition_key": key, "second": second}


def run(rate=10_000, seconds=60, batch=1000, log=print):
    configure()
    from chalicelib import settings

    ours, original = _load(rate, seconds, batch, data.LEVEL_MIX)
    incident, _ = _load(rate, seconds, batch, INCIDENT_MIX, with_baseline=False)
    ours_max, ours_at = _busiest(ours)
    incident_max, incident_at = _busiest(incident)
    baseline_max, baseline_at = _busiest(original)
    result = {
        "events_per_s": rate,
        "seconds": seconds,
        "hot_service_share": data.HOT_SHARE,
        "service_shards": settings.service_shards(),
        "timeline_shards": settings.timeline_shards(),
        "severity_shards": settings.severity_shards(),
        "max_writes_per_key_per_s": max(ours_max, incident_max),
        "busiest": ours_at if ours_max >= incident_max else incident_at,
        "max_writes_per_key_per_s_by_place": _by_place(ours),
        "incident": {
            "hot_service_error_share": INCIDENT_MIX["ERROR"] / sum(INCIDENT_MIX.values()),
            "max_writes_per_key_per_s": incident_max,
            "busiest": incident_at,
            "max_writes_per_key_per_s_by_place": _by_place(incident),
        },
        "baseline_max_writes_per_key_per_s": baseline_max,
        "baseline_busiest": baseline_at,
        "baseline_max_writes_per_key_per_s_by_place": _by_place(original),
        "partition_limit_writes_per_s": PARTITION_WRITE_LIMIT_PER_S,
    }
    log(f"capacity: {rate} events/s for {seconds} s, {int(data.HOT_SHARE * 100)}% from one service: "
        f"busiest key takes {ours_max} writes/s ({ours_at['where']} {ours_at['partition_key']}); "
        f"with that service at 50% ERROR {incident_max} writes/s "
        f"({incident_at['where']} {incident_at['partition_key']}); "
        f"original design {baseline_max} writes/s ({baseline_at['where']} {baseline_at['partition_key']}); "
        f"DynamoDB's limit is {PARTITION_WRITE_LIMIT_PER_S}/s per partition")
    return result
