"""Read cost: DynamoDB items read by one ``GET /logs/recent`` as the table grows, ours against the Scan design.

Both designs hold the same events (20 services, one with 90% of them) in moto,
in-process. The service is called through its Lambda entry point; the
original design through its own read code (``bench.baseline``). Items read is
``ScannedCount`` summed over every Query/Scan call the request made, taken from
botocore's ``after-call`` events on the very client each design uses; never
time: moto's index queries take time in proportion to the table's size, which
DynamoDB's do not.

Reads by level (1% of the events are ERROR, 4% WARN): the newest 100 at
``level=ERROR`` of all services, of the 90% service, and at ``min_level=WARN``,
served by the sparse severity indexes; the baseline is the same reads on the
general views with a ``FilterExpression`` on level (the design before those
indexes). The write cost of that traffic is averaged over every item loaded.
"""
import time

import boto3
from moto import mock_aws

from bench import baseline, data, sizes
from bench.env import CALLER_ARN, configure, invoke, lambda_event
from bench.meter import DynamoDBMeter
from bench.stub import serving
from devtools.moto_capacity import make_faithful

BASELINE_TABLE = "simple-log-service-original"
SPAN_MS = 20 * 3600 * 1000
LOAD_CHUNK = 1000


LEVEL_READS = {
    "error_all": {"level": "ERROR"},
    "error_hot_service": {"level": "ERROR", "service_name": data.HOT_SERVICE},
    "min_warn_all": {"min_level": "WARN"},
}


def _truth(loaded, limit, service_name=None, levels=None):
    matching = [event for event in loaded if (service_name is None or event["service_name"] == service_name)
                and (levels is None or event["level"] in levels)]
    matching.sort(key=lambda event: event["timestamp"], reverse=True)
    return [data.sequence_of(event["message"]) for event in matching[:limit]]


def _sequences(items):
    return [data.sequence_of(item["message"]) for item in items]


class _Stack:
    """Both designs' tables in one moto, with a meter on each design's own client."""

    def __init__(self, now_ms):
        from app import app
        from chalicelib import aws, service, settings
        from chalicelib import events as ev
        from chalicelib.repository import LogRepository
        from devtools.table import create_table

        self.app, self.ev, self.now_ms = app, ev, now_ms
        self.retention_days = settings.retention_days()
        service.reset()
        loader_client = boto3.client("dynamodb")
        create_table(loader_client, settings.table_name())
        baseline.create_table(loader_client, BASELINE_TABLE)
        self.loader = LogRepository(loader_client, settings.table_name(), self.retention_days,
                                    settings.service_shards(), settings.timeline_shards(),
                                    settings.severity_shards())
        self.load_meter = DynamoDBMeter().attach(loader_client)
        self.meter = DynamoDBMeter().attach(aws.client("dynamodb"))
        self.baseline_table = boto3.resource("dynamodb").Table(BASELINE_TABLE)
        self.baseline_meter = DynamoDBMeter().attach(self.baseline_table.meta.client)

    def load(self, raws):
        for start in range(0, len(raws), LOAD_CHUNK):
            chunk = raws[start:start + LOAD_CHUNK]
            events = [self.ev.normalize_event(raw, self.now_ms, self.retention_days) for raw in chunk]
            outcomes = self.loader.put_events(events, CALLER_ARN, self.now_ms)
            if not all(outcome.stored for outcome in outcomes):
                raise RuntimeError("loading the service's table failed")
        with self.baseline_table.batch_writer() as writer:
            for raw in raws:
                writer.put_item(Item=baseline.log_entry(raw, timestamp_s=raw["timestamp"] / 1000))

    def ours(self, limit, service_name, truth, **filters):
        query = {"limit": [str(limit)]}
        if service_name is not None:
            query["service_name"] = [service_name]
        query.update({name: [value] for name, value in filters.items()})
        self.meter.reset()
        status, body = invoke(self.app, lambda_event("GET", "/logs/recent", query=query))
        if status != 200 or self.meter.read_calls == 0:
            raise RuntimeError(f"GET /logs/recent answered {status} after {self.meter.read_calls} reads: {body}")
        return {"items_read": self.meter.scanned, "calls": self.meter.read_calls, "read_units": self.meter.read_units,
                "returned": body["count"], "correct": _sequences(body["logs"]) == truth}

    def filtered(self, limit, service_name, truth, **filters):
        """The same read with the level as a FilterExpression on the general views."""
        from chalicelib import aws, settings

        repository = _filter_design(aws.client("dynamodb"), settings.table_name(), self.retention_days,
                                    settings.service_shards(), settings.timeline_shards(), settings.severity_shards())
        with serving(repository):
            return self.ours(limit, service_name, truth, **filters)

    def write_units_per_event(self):
        from chalicelib import settings
        from devtools.table import load_schema

        schema = load_schema()
        units = [sum(sizes.put_write_units(item, schema)) for table, item in self.load_meter.written
                 if table == settings.table_name()]
        return round(sum(units) / len(units), 3)

    def baseline(self, read, limit, service_name, truth):
        cutoff_s = (self.now_ms - 24 * 3600 * 1000) / 1000
        self.baseline_meter.reset()
        items = read(self.baseline_table, limit, cutoff_s, service_name)
        found = _sequences(items)
        return {"items_read": self.baseline_meter.scanned, "calls": self.baseline_meter.read_calls,
                "returned": len(items), "newest_found": len(set(found) & set(truth)), "correct": found == truth}


def _filter_design(client, table_name, retention_days, *shards):
    """A repository that reads levels as it did before the severity indexes: a filter on the general views."""
    from chalicelib import events as ev
    from chalicelib.repository import LogRepository
    from chalicelib.repository.calls import Calls
    from chalicelib.repository.reads import Reads

    class FilterReads(Reads):
        def _view(self, query):
            if query.min_level:
                return self._general_view(query, ev.levels_at_least(query.min_level))
            return self._general_view(query, (query.level,) if query.level else None)

    class FilterDesign(LogRepository):
        def __init__(self):
            super().__init__(client, table_name, retention_days, *shards)
            self._reads = FilterReads(Calls(client, table_name, 6, time.sleep), retention_days * ev.DAY_MS, shards)

        def recent(self, query, now_ms, **options):
            # Before the severity indexes there was no read budget either.
            return super().recent(query, now_ms, **{**options, "budget": 10 ** 9, "units": 10 ** 9,
                                                    "decoded": 10 ** 9})

    return FilterDesign()


def _level_reads(stack, raws, limit):
    from chalicelib import events as ev

    reads = {}
    for name, filters in LEVEL_READS.items():
        levels = ev.levels_at_least(filters["min_level"]) if "min_level" in filters else (filters["level"],)
        service_name = filters.get("service_name")
        truth = _truth(raws, limit, service_name, levels)
        options = {key: value for key, value in filters.items() if key != "service_name"}
        reads[name] = {"ours": stack.ours(limit, service_name, truth, **options),
                       "baseline": stack.filtered(limit, service_name, truth, **options)}
    return reads


def run(sizes=(2_000, 5_000, 10_000, 20_000, 40_000), limit=100, log=print):
    configure()
    make_faithful()
    now_ms = int(time.time() * 1000)
    raws = data.events(max(sizes), now_ms, SPAN_MS, seed=11)
    filters = {"unfiltered": None, "hot_service": data.HOT_SERVICE, "small_service": data.SERVICES[1]}
    points = []
    from chalicelib import service

    with mock_aws():
        stack = _Stack(now_ms)
        loaded = 0
        for size in sizes:
            stack.load(raws[loaded:size])
            loaded = size
            point = {"table_events": size, "ours": {}, "baseline_full_scan": {}, "baseline_single_scan": {},
                     "by_level": _level_reads(stack, raws[:size], limit)}
            for name, service_name in filters.items():
                truth = _truth(raws[:size], limit, service_name)
                point["ours"][name] = stack.ours(limit, service_name, truth)
                for design, read in (("baseline_full_scan", baseline.recent_full_scan),
                                     ("baseline_single_scan", baseline.recent_single_scan)):
                    point[design][name] = stack.baseline(read, limit, service_name, truth)
            points.append(point)
            log(f"read  {size:>6} events: ours reads "
                + ", ".join(f"{name} {result['items_read']} ({result['calls']} calls)"
                            for name, result in point["ours"].items())
                + f"; Scan design reads {point['baseline_full_scan']['unfiltered']['items_read']}")
            log(f"read  {size:>6} events by level: ours reads "
                + ", ".join(f"{name} {reads['ours']['items_read']} ({reads['ours']['calls']} calls)"
                            for name, reads in point["by_level"].items())
                + "; with a level filter "
                + ", ".join(f"{name} {reads['baseline']['items_read']}" for name, reads in point["by_level"].items()))
        wru_per_event = stack.write_units_per_event()
        service.reset()
    summary = summarize(points, limit)
    summary["by_level"] = summarize_by_level(points, wru_per_event)
    return summary


def summarize_by_level(points, wru_per_event):
    """``read_by_level`` of the BENCH line: each read at the largest table, correctness at every size."""
    last = points[-1]["by_level"]

    def figures(result):
        return {"items_per_request": result["items_read"], "calls_per_request": result["calls"],
                "correct": result["correct"]}

    summary = {name: figures(reads["ours"]) for name, reads in last.items()}
    summary["correct"] = all(reads["ours"]["correct"] for point in points for reads in point["by_level"].values())
    summary["wru_per_event"] = wru_per_event
    summary["baseline"] = {name: figures(reads["baseline"]) for name, reads in last.items()}
    summary["items_per_request_by_table_events"] = {
        str(point["table_events"]): max(reads["ours"]["items_read"] for reads in point["by_level"].values())
        for point in points}
    summary["baseline_items_per_request_by_table_events"] = {
        str(point["table_events"]): max(reads["baseline"]["items_read"] for reads in point["by_level"].values())
        for point in points}
    return summary


def summarize(points, limit):
    last = points[-1]
    ours = last["ours"].values()
    full = last["baseline_full_scan"].values()
    single = last["baseline_single_scan"]["unfiltered"]
    return {
        "table_events": last["table_events"],
        "limit": limit,
        "items_per_request": max(result["items_read"] for result in ours),
        "calls_per_request": max(result["calls"] for result in ours),
        "correct": all(result["correct"] for result in ours),
        "baseline_items_per_request": max(result["items_read"] for result in full),
        "baseline_calls_per_request": max(result["calls"] for result in full),
        "baseline_correct": all(result["correct"] for result in full),
        "baseline_single_scan": {"items_read": single["items_read"], "returned": single["returned"],
                             "newest_found": single["newest_found"], "correct": single["correct"]},
        "items_per_request_by_table_events": {
            str(point["table_events"]): max(result["items_read"] for result in point["ours"].values())
            for point in points
        },
        "baseline_items_per_request_by_table_events": {
            str(point["table_events"]): max(result["items_read"] for result in point["baseline_full_scan"].values())
            for point in points
        },
        "points": points,
    }
