"""The benchmarks in quick mode (tiny sizes), so that they cannot rot.

They assert what the benchmarks count, never how long anything took: the
shape of the BENCH line, items read staying O(limit) while the Scan design
reads the whole table, and the write arithmetic of ingest.
"""
import json
import os

import pytest

from bench import __main__ as bench_main
from bench import sizes
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

        items_read_plot(results["read"], out / "benchmarks.png")
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
    assert {"read", "read_by_level", "ingest", "coldstart", "capacity", "overhead", "hardening"} <= set(figures)
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
    assert ingest["ddb_write_calls_per_1000_events"] == 1000 / 25
    with_ids, no_timestamp = ingest["with_event_id"], ingest["with_event_id_no_timestamp"]
    # Events with an event_id are written one conditional PutItem each, so that two sends never both store.
    assert with_ids["ddb_write_calls_per_1000_events"] == 1000
    assert with_ids["wru_per_event"] == 2.0 and with_ids["rru_per_event"] == 1.0
    assert no_timestamp["ddb_write_calls_per_1000_events"] == 2 * 1000
    assert no_timestamp["wru_per_event"] == 3.0
    assert ingest["baseline_http_requests_per_1000_events"] == 1000
    assert ingest["baseline_ddb_write_calls_per_1000_events"] == 1000
    assert ingest["wru_per_event"] == 2.0
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
    assert by_level["wru_per_event"] <= 2.1


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
    assert figures["ddb_write_calls_per_1000_records"] == 1000  # one conditional PutItem a record
    assert figures["wru_per_record"] == 2.0
    assert figures["retry_extra_items"] == 0
    assert figures["package_zip_bytes"] > 100_000
