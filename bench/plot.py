"""The plot in docs/benchmarks.md: DynamoDB items read per GET /logs/recent against table size."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

LABELS = {
    "unfiltered": "this service, all services",
    "hot_service": "this service, service_name = the 90% service",
    "small_service": "this service, service_name = a 0.5% service",
}


def items_read_plot(read, path):
    points = read["points"]
    sizes = [point["table_events"] for point in points]
    figure, axes = plt.subplots(figsize=(8, 5), dpi=120)
    axes.plot(sizes, [point["baseline_full_scan"]["unfiltered"]["items_read"] for point in points],
              "o-", color="tab:red", label="original design: Scan every page (the only correct answer)")
    for name, label in LABELS.items():
        axes.plot(sizes, [point["ours"][name]["items_read"] for point in points], "s-", label=label)
    axes.axhline(3 * read["limit"], color="grey", linestyle=":", label=f"3 x limit ({3 * read['limit']})")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("events in the table")
    axes.set_ylabel(f"DynamoDB items read per request (ScannedCount), limit={read['limit']}")
    axes.set_title("GET /logs/recent: items read per request")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
