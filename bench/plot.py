"""The plot in docs/benchmarks.md: DynamoDB items read per GET /logs/recent against table size.

Left: unfiltered and by service, against the original design's Scan. Right:
the newest errors and warnings, from the sparse severity indexes, against the
same reads with a FilterExpression on level (the design before those indexes,
whose reads had no budget). Third, with the packing figures: write units per
event by request size, packed against one item per event.
"""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

LABELS = {
    "unfiltered": "this service, all services",
    "hot_service": "this service, service_name = the 90% service",
    "small_service": "this service, service_name = a 0.5% service",
}
LEVEL_LABELS = {
    "error_all": "level=ERROR, all services",
    "error_hot_service": "level=ERROR, the 90% service",
    "min_warn_all": "min_level=WARN, all services",
}


def _finish(axes, title, limit):
    axes.axhline(3 * limit, color="grey", linestyle=":", label=f"3 x limit ({3 * limit})")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("events in the table")
    axes.set_ylabel(f"DynamoDB items read per request (ScannedCount), limit={limit}")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)


def _packing_panel(axes, packing):
    sizes = sorted(packing["wru_per_event_by_batch"], key=int)
    for key, style, label in (("today_wru_per_event_by_batch", "o--", "one item per event"),
                              ("wru_per_event_by_batch", "s-", "packed")):
        axes.plot([int(size) for size in sizes], [packing[key][size] for size in sizes], style, label=label)
    axes.axhline(packing["otlp_wru_per_record"], color="tab:green", linestyle=":",
                 label="packed, OTLP exports of 1,000 records")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("events per request (one service, realistic mix)")
    axes.set_ylabel("write units per event, table and every index")
    axes.set_title("POST /logs: write units per event")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)


def items_read_plot(read, path, packing=None):
    points = read["points"]
    sizes = [point["table_events"] for point in points]
    figure, (left, right, *third) = plt.subplots(1, 3 if packing else 2, figsize=(19 if packing else 13, 5),
                                                 dpi=120)
    left.plot(sizes, [point["baseline_full_scan"]["unfiltered"]["items_read"] for point in points],
              "o-", color="tab:red", label="original design: Scan every page (the only correct answer)")
    for name, label in LABELS.items():
        left.plot(sizes, [point["ours"][name]["items_read"] for point in points], "s-", label=label)
    _finish(left, "GET /logs/recent: items read per request", read["limit"])
    for name, label in LEVEL_LABELS.items():
        right.plot(sizes, [point["by_level"][name]["ours"]["items_read"] for point in points], "s-",
                   label=f"severity index: {label}")
        right.plot(sizes, [point["by_level"][name]["baseline"]["items_read"] for point in points], "o--",
                   label=f"level filter: {label}")
    _finish(right, "Newest errors and warnings: items read per request", read["limit"])
    if packing:
        _packing_panel(third[0], packing)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
