"""Run every benchmark; the last line printed is ``BENCH {json}``.

    python -m bench                 full sizes (make bench), a few minutes
    python -m bench --quick         tiny sizes, seconds (tests/test_bench.py)
    python -m bench --out DIR       where results.json and the plot go (default build/bench)
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from bench import archive, capacity, coldstart, hardening, ingest_cost, otlp, overhead, packing, read_cost, search
from bench.env import ROOT, configure

FULL = {
    "read": {"sizes": (2_000, 5_000, 10_000, 20_000, 40_000), "limit": 100},
    "overhead": {"batch": 1000, "repeats": 15, "baseline_requests": 300},
    "ingest": {"events": 10_000, "batch": 1000},
    "capacity": {"rate": 10_000, "seconds": 30},
    "coldstart": {"runs": 7},
    "hardening": {"repeats": 9},
    "otlp": {"records": 1000, "repeats": 9},
    "packing": {"counts": {"1": 200, "10": 50, "100": 10, "1000": 5}, "read_events": 40_000, "limit": 100,
                "repeats": 7},
    "search": {"requests": 200, "repeats": 3},
    "archive": {"requests": 200, "repeats": 3},
}
QUICK = {
    "read": {"sizes": (200, 600), "limit": 10},
    "overhead": {"batch": 100, "repeats": 2, "baseline_requests": 5},
    "ingest": {"events": 300, "batch": 100},
    "capacity": {"rate": 1_000, "seconds": 2},
    "coldstart": {"runs": 1},
    # Still past both read limits without the bounds: 6 x 1.5 MB of answer, 40 x 256 KiB = 1,280 read units.
    "hardening": {"repeats": 1, "otlp_scale": 0.02, "hostile": {"control": 6, "large": 40, "small": 200}},
    "otlp": {"records": 100, "repeats": 1},
    "packing": {"counts": {"1": 10, "10": 5, "100": 2, "1000": 1}, "read_events": 2_000, "limit": 10, "repeats": 1},
    "search": {"requests": 12, "repeats": 1},
    "archive": {"requests": 6, "repeats": 1},
}


def machine():
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()}


def run_all(sizes, log=print):
    started = time.perf_counter()
    results = {"read": read_cost.run(log=log, **sizes["read"])}
    results["read_by_level"] = results["read"].pop("by_level")
    results["overhead"] = overhead.run(log=log, **sizes["overhead"])
    results["ingest"] = ingest_cost.run(results["overhead"], log=log, **sizes["ingest"])
    results["capacity"] = capacity.run(log=log, **sizes["capacity"])
    results["coldstart"] = coldstart.run(log=log, **sizes["coldstart"])
    results["hardening"] = hardening.run(log=log, **sizes["hardening"])
    results["otlp"] = otlp.run(log=log, **sizes["otlp"])
    results["packing"] = packing.run(log=log, **sizes["packing"])
    results["search"] = search.run(log=log, **sizes["search"])
    results["archive"] = archive.run(log=log, **sizes["archive"])
    results["machine"] = machine()
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def bench_line(results):
    """The one-line summary: every figure except the per-size detail (kept in results.json)."""
    summary = {name: value for name, value in results.items() if name != "machine"}
    summary["read"] = {name: value for name, value in results["read"].items() if name != "points"}
    summary["hardening"] = {name: value for name, value in results["hardening"].items()
                            if name not in ("bodies", "otlp_exports")}
    return "BENCH " + json.dumps(summary, separators=(",", ":"), sort_keys=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the benchmarks still run")
    parser.add_argument("--out", default=str(ROOT / "build" / "bench"), help="directory for results.json and plot")
    args = parser.parse_args(argv)
    configure()
    results = run_all(QUICK if args.quick else FULL, log=lambda line: print(line, flush=True))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    from bench.plot import items_read_plot

    items_read_plot(results["read"], out / "benchmarks.png", results["packing"])
    print(f"results: {out / 'results.json'}, plot: {out / 'benchmarks.png'} ({results['seconds']} s)")
    print(bench_line(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
