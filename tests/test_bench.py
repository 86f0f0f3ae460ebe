"""The benchmarks in quick mode (tiny sizes), so that they cannot rot.

They assert what the benchmarks count, never how long anything took: the
shape of the BENCH line, items read staying O(limit) while the Scan design
reads the whole table, and the write arithmetic of ingest.
"""
import json
import os

import pytest

from bench import __main__ as bench_main
from bench import data, packing, pricing, sizes
from chalicelib import service

SHARDS = 16


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One quick run of every benchmark; the environment is put back afterwards."""
    saved = dict(os.environ)
    out = tmp_path_factory.mktemp("bench")
    lines = []
    try:
        results = bench_main.run_all(bench_main.QUICK, log=lines.append)
        line = bench_main.bench_line(results)
        from bench.plot import items_read_plot

        items_read_plot(results["read"], out / "benchmarks.png", results["packing"])
    finally:
        os.environ.clear()
        os.environ.update(saved)
        service.reset()
    return {"results": results, "line": line, "log": lines, "plot": out / "benchmarks.png"}


@pytest.mark.slow
def test_the_bench_line_is_one_line_of_json_with_every_section(quick):
    line = quick["line"]
    assert line.startswith("BENCH ") and "\n" not in line
    figures = json.loads(line.removeprefix("BENCH "))
    assert {"read", "read_by_level", "ingest", "coldstart", "capacity", "overhead", "hardening", "packing", "search",
            "archive"} <= set(figures)
    assert {"error_all", "error_hot_service", "min_warn_all", "correct", "wru_per_event", "baseline"} <= set(
        figures["read_by_level"])
    assert {"worst_body_cpu_ratio", "worst_body", "ordinary_cpu_ms", "otlp_worst_cpu_ratio",
            "otlp_stored_over_allowance"} <= set(figures["hardening"])
    assert figures["hardening"]["max_answer_bytes"] <= 5_000_000
    assert figures["hardening"]["max_read_units_per_request"] <= 1_000
    assert {"cpu_ratio_vs_json", "ddb_write_calls_per_1000_records", "wru_per_record", "retry_extra_items",
            "package_zip_bytes"} <= set(figures["otlp"])
    assert {"table_events", "limit", "items_per_request", "calls_per_request", "baseline_items_per_request", "correct",
            "baseline_correct", "baseline_single_scan", "items_per_request_by_table_events"} <= set(figures["read"])
    assert {"http_requests_per_1000_events", "ddb_write_calls_per_1000_events", "wru_per_event",
            "baseline_http_requests_per_1000_events", "baseline_ddb_write_calls_per_1000_events",
            "baseline_wru_per_event",
            "usd_per_million_events", "baseline_usd_per_million_events", "with_event_id"} <= set(figures["ingest"])
    assert {"ratio", "app_ms", "floor_ms"} <= set(figures["coldstart"])
    assert {"max_writes_per_key_per_s", "baseline_max_writes_per_key_per_s"} <= set(figures["capacity"])
    assert {"us_per_event", "client_us_per_event"} <= set(figures["overhead"])
    assert quick["plot"].stat().st_size > 1000


@pytest.mark.slow
def test_items_read_stay_within_a_few_limits_while_the_scan_design_reads_the_whole_table(quick):
    read = quick["results"]["read"]
    bound = 3 * read["limit"] + SHARDS
    for point in read["points"]:
        for name, result in point["ours"].items():
            assert result["items_read"] <= bound, (point["table_events"], name, result)
            assert result["correct"], (point["table_events"], name)
        for result in point["baseline_full_scan"].values():
            assert result["items_read"] == point["table_events"]
            assert result["correct"]
    assert read["baseline_items_per_request"] == read["table_events"]
    assert read["correct"] and read["baseline_correct"]
    assert read["baseline_single_scan"]["items_read"] <= read["limit"]
    assert not read["baseline_single_scan"]["correct"]


@pytest.mark.slow
def test_ingest_batches_writes_and_the_original_writes_once_per_request(quick):
    ingest = quick["results"]["ingest"]
    batch = bench_main.QUICK["ingest"]["batch"]
    assert ingest["http_requests_per_1000_events"] == 1000 / batch
    # Packed: one conditional PutItem a pack; this traffic spreads a batch over an hour, so most packs hold one
    # event (a second of event time at most), and cost what an event item did.
    assert ingest["ddb_write_calls_per_1000_events"] <= 1000
    with_ids, no_timestamp = ingest["with_event_id"], ingest["with_event_id_no_timestamp"]
    # Events with an event_id are written one conditional PutItem each, so that two sends never both store.
    assert with_ids["ddb_write_calls_per_1000_events"] == 1000
    assert with_ids["wru_per_event"] == 2.0 and with_ids["rru_per_event"] == 1.0
    assert no_timestamp["ddb_write_calls_per_1000_events"] == 2 * 1000
    assert no_timestamp["wru_per_event"] == 3.0
    assert ingest["baseline_http_requests_per_1000_events"] == 1000
    assert ingest["baseline_ddb_write_calls_per_1000_events"] == 1000
    assert ingest["wru_per_event"] <= 2.0
    assert ingest["usd_per_million_events"] < ingest["baseline_usd_per_million_events"]


@pytest.mark.slow
def test_capacity_spreads_the_hot_service_while_the_original_puts_it_on_one_key(quick):
    capacity = quick["results"]["capacity"]
    rate = bench_main.QUICK["capacity"]["rate"]
    # The original design puts the whole 90% service on its table key (and most events on one log_type).
    assert capacity["baseline_max_writes_per_key_per_s"] >= 0.85 * rate
    assert capacity["max_writes_per_key_per_s"] < rate / 4


@pytest.mark.slow
def test_timed_figures_are_present_and_positive(quick):
    coldstart, overhead = quick["results"]["coldstart"], quick["results"]["overhead"]
    assert coldstart["app_ms"] > 0 and coldstart["floor_ms"] > 0 and coldstart["ratio"] > 0
    assert overhead["us_per_event"] > 0 and overhead["client_us_per_event"] > 0


def test_item_sizes_follow_dynamodbs_rules():
    assert sizes.item_size({"name": {"S": "abc"}}) == 4 + 3
    assert sizes.item_size({"n": {"N": "12345"}}) == 1 + 3 + 1
    assert sizes.item_size({"n": {"N": "-0.00120"}}) == 1 + 1 + 1
    assert sizes.item_size({"ok": {"BOOL": True}, "no": {"NULL": True}}) == 3 + 3
    assert sizes.item_size({"b": {"B": b"\x00\x01\x02"}}) == 1 + 3
    assert sizes.item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert sizes.item_size({"l": {"L": [{"S": "v"}, {"N": "1"}]}}) == 1 + 3 + (1 + 1) + (2 + 1)
    assert sizes.item_size({"\u00e9": {"S": "\u00e9"}}) == 4


def test_write_units_count_started_kilobytes_and_every_index_holding_the_item():
    schema = {"hash_key": "pk", "range_key": "sk",
              "global_secondary_indexes": [{"name": "by_t", "hash_key": "t", "range_key": "sk",
                                            "projection_type": "ALL"}]}
    small = {"pk": {"S": "a"}, "sk": {"S": "b"}, "t": {"S": "c"}}
    assert sizes.put_write_units(small, schema) == (1, 1)
    assert sizes.put_write_units({"pk": {"S": "a"}, "sk": {"S": "b"}}, schema) == (1, 0)
    big = {**small, "body": {"S": "x" * 1100}}
    assert sizes.put_write_units(big, schema) == (2, 2)


@pytest.mark.slow
def test_level_reads_come_from_the_sparse_indexes_and_are_exact(quick):
    by_level = quick["results"]["read_by_level"]
    limit = quick["results"]["read"]["limit"]
    assert by_level["correct"]
    for name in ("error_all", "error_hot_service", "min_warn_all"):
        assert by_level[name]["items_per_request"] <= 2 * limit + 2 * 16, name
    # Packs of one event (this traffic's events are seconds apart) carry a few attributes more than an event item.
    assert by_level["wru_per_event"] <= 2.11


@pytest.mark.slow
def test_capacity_keeps_every_key_under_the_limit_even_in_an_incident(quick):
    capacity = quick["results"]["capacity"]
    assert capacity["incident"]["max_writes_per_key_per_s"] < capacity["partition_limit_writes_per_s"]
    assert capacity["incident"]["max_writes_per_key_per_s_by_place"]["severity"] > \
        capacity["max_writes_per_key_per_s_by_place"]["severity"]


@pytest.mark.slow
def test_every_crafted_body_gets_the_answer_the_contract_gives_it(quick):
    statuses = {name: body["status"] for name, body in quick["results"]["hardening"]["bodies"].items()}
    assert statuses == {
        "a_megabyte_of_numbers": 400,  # the last one overflows a double
        "a_megabyte_of_objects": 201,
        "deepest_nesting": 400,
        "metadata_at_the_limits": 201,
        "refused_among_siblings": 400,
        "refused_at_the_last_field": 400,
    }


@pytest.mark.slow
def test_an_otlp_export_writes_each_record_once_and_a_retry_adds_nothing(quick):
    figures = quick["results"]["otlp"]
    # Packed: one conditional PutItem a pack of 100 records (the export's 1,000 records span a second).
    assert figures["ddb_write_calls_per_1000_records"] == 10
    assert figures["wru_per_record"] <= 0.15
    assert figures["retry_extra_items"] == 0
    assert figures["package_zip_bytes"] > 100_000


@pytest.mark.slow
def test_packing_reports_every_figure_of_issue_19(quick):
    figures = json.loads(quick["line"].removeprefix("BENCH "))["packing"]
    assert {"wru_per_event_by_batch", "otlp_wru_per_record", "stored_bytes_ratio", "usd_per_million_events",
            "cloudwatch_usd_per_million_events", "read_items", "events_decoded_per_page", "correct", "cpu_ratio",
            "wru_per_event_with_event_id", "compression", "projection"} <= set(figures)
    assert set(figures["wru_per_event_by_batch"]) == {"1", "10", "100", "1000"}
    assert set(figures["read_items"]) == set(figures["events_decoded_per_page"]) == {
        "all", "hot_service", "level_error", "min_level_warn"}
    assert set(figures["cpu_ratio"]) == {"ingest", "read"} and all(figures["cpu_ratio"].values())
    assert {"zlib6_ratio", "zstd_ratio"} <= set(figures["compression"])
    assert figures["compression"]["zstd_ratio"] is not None or figures["compression"]["zstd_reason"]
    assert {"pack_timeline_include_wru_per_event", "pack_timeline_all_wru_per_event",
            "pack_timeline_include_stored_bytes_ratio", "pack_timeline_all_stored_bytes_ratio"} <= set(
        figures["projection"])


@pytest.mark.slow
def test_packs_meet_the_write_storage_and_read_goals_of_issue_19(quick):
    figures = quick["results"]["packing"]
    by_batch = figures["wru_per_event_by_batch"]
    assert by_batch["1000"] <= 0.15 and by_batch["100"] <= 0.3
    assert by_batch["1"] <= figures["today_wru_per_event_by_batch"]["1"]
    assert figures["stored_bytes_ratio"] < 1 < 2 < figures["today_stored_bytes_ratio"]
    assert figures["usd_per_million_events"] <= figures["cloudwatch_usd_per_million_events"]
    assert figures["correct"] and figures["today_correct"]
    for name, decoded in figures["events_decoded_per_page"].items():
        assert 0 < decoded <= 20 * figures["limit"], name
    # Events with an event_id keep one item per event (and an index item), deduplicated by a key read each.
    assert figures["wru_per_event_with_event_id"] >= 2.0 and figures["rru_per_event_with_event_id"] == 1.0


@pytest.mark.slow
def test_packs_meet_the_otlp_and_storage_goals_of_issue_19(quick):
    figures = quick["results"]["packing"]
    assert figures["otlp_wru_per_record"] <= 0.15
    assert figures["stored_bytes_ratio"] <= 0.35
    # Because GSI pack_timeline holds no payload: copying packs whole into it would write and store them twice.
    projection = figures["projection"]
    assert projection["pack_timeline_include_wru_per_event"] < projection["pack_timeline_all_wru_per_event"]
    assert projection["pack_timeline_include_stored_bytes_ratio"] == figures["stored_bytes_ratio"]
    assert projection["pack_timeline_include_stored_bytes_ratio"] < projection["pack_timeline_all_stored_bytes_ratio"]


@pytest.mark.slow
def test_capacity_counts_write_units_and_keeps_the_busiest_key_under_the_limit(quick):
    capacity = quick["results"]["capacity"]
    for figures in (capacity, capacity["incident"]):
        assert figures["max_write_units_per_key_per_s"] >= figures["max_writes_per_key_per_s"]
    assert capacity["max_write_units_per_key_per_s"] <= capacity["partition_limit_write_units_per_s"]


def _mix_events(count=200):
    return [event for batch in data.shipper_batches(count, 100, 1_800_000_000_000, 3_600_000) for event in batch]


def test_the_realistic_mix_varies_like_real_logs():
    events = _mix_events()
    sizes_of = [len(json.dumps(event, separators=(",", ":"))) for event in events]
    assert 230 <= sum(sizes_of) / len(sizes_of) <= 290
    assert len({event["service_name"] for event in events}) >= 5
    assert sum(event["level"] in ("WARN", "ERROR", "FATAL") for event in events) == len(events) // 20
    assert len({event["message"] for event in events}) > 0.95 * len(events)
    assert len({data.identity(event) for event in events}) == len(events)
    assert all({"request_id", "latency_ms"} <= set(event["metadata"]) and "event_id" not in event
               for event in events)
    assert any("user_agent" in event["metadata"] for event in events)


def test_a_shippers_request_spans_a_millisecond_an_event_to_a_few_seconds():
    import random

    rng = random.Random(1)
    for size in (10, 100, 1000):
        for _ in range(20):
            times = sorted(event["timestamp"] for event in data.shipper_batch(rng, "auth", size, 1_800_000_000_000_000))
            span_us = _micros(times[-1]) - _micros(times[0])
            assert span_us <= 3_000_000 and (size < 1000 or span_us >= 900_000), (size, span_us)
    (single,) = data.shipper_batch(rng, "auth", 1, 1_800_000_000_000_000)
    assert single["timestamp"] == "2027-01-15T08:00:00.000000Z"


def _micros(text):
    from datetime import datetime

    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def _answered(event):
    return {**event, "log_type": event.get("log_type", "application"), "timestamp": event["timestamp"][:23] + "Z"}


def test_a_page_is_exact_only_with_the_newest_events_in_order_as_sent():
    events = _mix_events(2)
    sent = {data.identity(event): event for event in events}
    expected = packing.truth([events], lambda event: True, 10)
    page = [_answered(event) for event in expected]
    assert packing.is_exact(page, expected, sent)
    assert not packing.is_exact(page[1:], expected, sent)
    assert not packing.is_exact(page[::-1], expected, sent)
    older = packing.truth([events], lambda event: True, 11)[-1]
    assert not packing.is_exact(page[:-1] + [_answered(older)], expected, sent)
    altered = [dict(page[0], message=page[0]["message"] + "!")] + page[1:]
    assert not packing.is_exact(altered, expected, sent)


def test_a_page_may_hold_either_of_two_events_at_one_timestamp():
    events = _mix_events(2)[:11]
    events[9]["timestamp"] = events[10]["timestamp"]  # the newest two, in one request's time order
    sent = {data.identity(event): event for event in events}
    expected = packing.truth([events], lambda event: True, 1)
    other = events[9] if expected[0] is events[10] else events[10]
    assert packing.is_exact([_answered(other)], expected, sent)


def test_storage_counts_an_item_and_each_index_copy_with_their_overhead():
    schema = {"hash_key": "pk", "range_key": "sk",
              "global_secondary_indexes": [{"name": "by_t", "hash_key": "t", "range_key": "sk",
                                            "projection_type": "ALL"},
                                           {"name": "by_v", "hash_key": "v", "range_key": "sk",
                                            "projection_type": "KEYS_ONLY"}]}
    item = {"pk": {"S": "a"}, "sk": {"S": "b"}, "t": {"S": "c"}, "body": {"B": b"x" * 900}}
    assert sizes.stored_bytes(item, schema) == 2 * (8 + 904 + 100)
    assert sizes.write_units_by_place(item, schema) == {"table": 1, "by_t": 1}
    with_v = {**item, "v": {"S": "d"}}
    assert sizes.stored_bytes(with_v, schema) == 2 * (10 + 904 + 100) + (8 + 100)


def test_cloudwatch_charges_its_ingest_and_storage_on_the_raw_bytes():
    usd, parts = pricing.cloudwatch_usd_per_million_events(2 ** 30 / 1e6, pricing.DAYS_PER_MONTH)
    assert parts == {"ingest": 0.5, "storage": 0.03} and usd == 0.53


@pytest.mark.slow
def test_search_reports_every_figure_of_issue_20_and_finds_the_needle(quick):
    figures = json.loads(quick["line"].removeprefix("BENCH "))["search"]
    assert {"needle_found", "events_scanned_per_cpu_s", "usd_per_gb_scanned", "budget_respected",
            "common_term_items_read", "unfiltered_items_read"} <= set(figures)
    assert figures["needle_found"] == {"q": True, "attr": True, "trace_id": True}
    assert figures["budget_respected"]
    assert figures["nomatch_events_scanned"] >= figures["events"]
    assert figures["common_term_items_read"] <= 20 * figures["unfiltered_items_read"]


@pytest.mark.slow
def test_archive_reports_every_figure_of_issue_21_and_loses_and_doubles_nothing(quick):
    figures = json.loads(quick["line"].removeprefix("BENCH "))["archive"]
    assert {"bytes_per_event_ratio", "usd_per_million_events_year", "cloudwatch_usd_per_million_events_year",
            "cost_ratio_vs_cloudwatch", "roundtrip_lost", "roundtrip_duplicated", "usd_parts"} <= set(figures)
    assert figures["injected_failures"] == 1 and figures["dead_lettered"] == 0
    assert figures["roundtrip_lost"] == figures["roundtrip_duplicated"] == 0
    assert 0 < figures["bytes_per_event_ratio"] < 1
    assert figures["usd_per_million_events_year"] == pytest.approx(sum(figures["usd_parts"].values()), abs=1e-4)


def test_the_archive_costs_follow_the_lifecycle_small_objects_in_standard_and_every_put():
    from bench import archive

    small, large = 1024, 256 * 1024
    usd, cloudwatch, parts = archive.costs(events=1_000_000, raw_bytes=2 ** 30, sizes=[small] * 1000 + [large] * 10,
                                           invocations=10, cpu_s=0)

    assert parts["s3_puts"] == pytest.approx(1010 * 0.005 / 1000)
    # Only objects of 128 KiB or more move to Glacier IR (infra/archive.tf), each with one transition.
    assert parts["s3_transitions"] == pytest.approx(10 * 0.02 / 1000)
    assert parts["s3_glacier_ir_storage"] == pytest.approx(10 * large / 2 ** 30 * 335 / pricing.DAYS_PER_MONTH * 0.004)
    assert parts["s3_standard_storage"] == pytest.approx(
        (1000 * small * 365 + 10 * large * 30) / 2 ** 30 / pricing.DAYS_PER_MONTH * 0.023)
    assert parts["lambda_duration"] == pytest.approx(1010 * archive.S3_PUT_MS / 1000 * 0.5 * 0.0000166667)
    assert cloudwatch == pytest.approx(12 * 0.03)
    assert usd == pytest.approx(sum(parts.values()))
