"""Partition load: the busiest partition key under 10,000 events/s, 90% of them from one service.

The traffic is ``bench.data``'s realistic mix (about 260 bytes of JSON an
event): each second, each service's shippers send that second's events in
requests of at most ``batch``, each request's events spread over the second.
Every request goes through the repository's own ``put_events`` (log ids, packs,
shard choice and item building are the service's code, with the shard counts
from ``chalicelib.settings``); a recording client stands in for DynamoDB and
keeps every item written. Each item lands on its table partition key (``pk``)
and on the partition key of every index whose key it carries (``timeline``
always; the sparse ``severity`` and ``service_severity`` indexes for items
holding WARN, ERROR or FATAL events), in write units by DynamoDB's size rules
(``bench.sizes``): a pack of a hundred events is one write of several units.
DynamoDB serves at most 1,000 write units per second on one partition. Two
traffics: the usual mix (1% ERROR, 4% WARN), and an incident in which the 90%
service logs 50% ERROR. The original design's items (``bench.baseline``) land
on ``service_name`` in the table and ``log_type`` in its index; they are under
1 KB, so its writes are its units.
"""
import random
from collections import Counter

from bench import baseline, data, sizes
from bench.env import CALLER_ARN, configure
from bench.stub import RecordingClient

PARTITION_WRITE_LIMIT_PER_S = 1000


INCIDENT_MIX = {"ERROR": 50, "INFO": 50}


def _second_of_requests(rng, second, rate, batch, hot_mix):
    """One second of traffic: the requests (lists of raw JSON events) each service's shippers send."""
    services = Counter(data.mix_service(rng) for _ in range(rate))
    end_us = (second + 1) * 1_000_000 - 1
    requests = []
    for service_name, count in sorted(services.items()):
        levels = hot_mix if service_name == data.MIX_HOT_SERVICE else data.LEVEL_MIX
        for start in range(0, count, batch):
            requests.append(data.shipper_batch(rng, service_name, min(batch, count - start), end_us,
                                               levels=levels, span_us=999_999))
    return requests


def _by_place(counts):
    """The busiest key's writes (or units) per second in the table and in each index."""
    places = sorted({place for place, _, _ in counts})
    return {where: max(count for (place, _, _), count in counts.items() if place == where) for where in places}


def _items_written(calls):
    for operation, params in calls:
        if operation == "put_item":
            yield params["Item"]
        elif operation == "batch_write_item":
            for requests in params["RequestItems"].values():
                yield from (request["PutRequest"]["Item"] for request in requests)


def _events_in(item):
    if "n" in item:
        return int(item["n"]["N"])
    return 1 if "message" in item else 0


def _load(rate, seconds, batch, hot_mix, with_baseline=True):
    """Writes and write units per ``(place, partition key, second)``, ours and (``with_baseline``) the
    original design's writes."""
    from chalicelib import events as ev
    from chalicelib import settings
    from chalicelib.repository import HASH_KEY, LogRepository
    from devtools.table import load_schema

    rng = random.Random(2)
    recorder = RecordingClient()
    repository = LogRepository(recorder, settings.table_name(), settings.retention_days(),
                               settings.service_shards(), settings.timeline_shards(), settings.severity_shards())
    schema = load_schema()
    hash_keys = {index["name"]: index["hash_key"] for index in schema["global_secondary_indexes"]}
    hash_keys["table"] = HASH_KEY
    base_s = 1_800_000_000
    writes, units = Counter(), Counter()
    original = Counter()
    stored = 0
    for second in range(seconds):
        now_ms = (base_s + second + 1) * 1000
        requests = _second_of_requests(rng, base_s + second, rate, batch, hot_mix)
        recorder.calls.clear()
        for raws in requests:
            events = [ev.normalize_event(raw, now_ms, settings.retention_days()) for raw in raws]
            repository.put_events(events, CALLER_ARN, now_ms)
        for item in _items_written(recorder.calls):
            stored += _events_in(item)
            for where, item_units in sizes.write_units_by_place(item, schema).items():
                key = (where, item[hash_keys[where]]["S"], second)
                writes[key] += 1
                units[key] += item_units
        for raws in requests if with_baseline else ():
            for raw in raws:
                body = {"log_type": "application", **raw}
                for where, key in baseline.partition_keys(baseline.log_entry(body, base_s + second)):
                    original[(where, key, second)] += 1
    if stored != rate * seconds:
        raise RuntimeError(f"simulated {rate * seconds} events but the repository stored {stored}")
    return writes, units, original


def _busiest(counts):
    (where, key, second), writes = counts.most_common(1)[0]
    return writes, {"where": where, "partition_key": key, "second": second}


def run(rate=10_000, seconds=60, batch=1000, log=print):
    configure()
    from chalicelib import settings

    ours, ours_units, original = _load(rate, seconds, batch, data.LEVEL_MIX)
    incident, incident_units, _ = _load(rate, seconds, batch, INCIDENT_MIX, with_baseline=False)
    ours_max, ours_at = _busiest(ours)
    incident_max, incident_at = _busiest(incident)
    units_max, units_at = _busiest(ours_units)
    incident_units_max, incident_units_at = _busiest(incident_units)
    baseline_max, baseline_at = _busiest(original)
    result = {
        "events_per_s": rate,
        "seconds": seconds,
        "batch": batch,
        "hot_service_share": data.HOT_SHARE,
        "service_shards": settings.service_shards(),
        "timeline_shards": settings.timeline_shards(),
        "severity_shards": settings.severity_shards(),
        "max_writes_per_key_per_s": max(ours_max, incident_max),
        "busiest": ours_at if ours_max >= incident_max else incident_at,
        "max_writes_per_key_per_s_by_place": _by_place(ours),
        "max_write_units_per_key_per_s": max(units_max, incident_units_max),
        "busiest_by_units": units_at if units_max >= incident_units_max else incident_units_at,
        "max_write_units_per_key_per_s_by_place": _by_place(ours_units),
        "incident": {
            "hot_service_error_share": INCIDENT_MIX["ERROR"] / sum(INCIDENT_MIX.values()),
            "max_writes_per_key_per_s": incident_max,
            "busiest": incident_at,
            "max_writes_per_key_per_s_by_place": _by_place(incident),
            "max_write_units_per_key_per_s": incident_units_max,
            "busiest_by_units": incident_units_at,
            "max_write_units_per_key_per_s_by_place": _by_place(incident_units),
        },
        "baseline_max_writes_per_key_per_s": baseline_max,
        "baseline_busiest": baseline_at,
        "baseline_max_writes_per_key_per_s_by_place": _by_place(original),
        "partition_limit_writes_per_s": PARTITION_WRITE_LIMIT_PER_S,
        "partition_limit_write_units_per_s": PARTITION_WRITE_LIMIT_PER_S,
    }
    log(f"capacity: {rate} events/s for {seconds} s in requests of up to {batch}, {int(data.HOT_SHARE * 100)}% "
        f"from one service: busiest key takes {units_max} write units/s ({units_at['where']} "
        f"{units_at['partition_key']}, {ours_max} writes/s at most); with that service at 50% ERROR "
        f"{incident_units_max} write units/s ({incident_units_at['where']} {incident_units_at['partition_key']}, "
        f"{incident_max} writes/s at most); original design {baseline_max} writes/s ({baseline_at['where']} "
        f"{baseline_at['partition_key']}); DynamoDB's limit is {PARTITION_WRITE_LIMIT_PER_S} write units/s "
        f"per partition")
    return result
