"""The archive read back with a SQL engine (DuckDB) over local copies of its objects, with the same keys: the
files and Hive partition layout Athena reads (gzip NDJSON under ``service=…/dt=…/hour=…/``). For the tests and
the bench; ``slog archive get`` reads S3 itself."""
import json

from chalicelib.archiving import PREFIX

# Every field of an event, as the API answers it; metadata is an object (read as JSON text).
TEXT_COLUMNS = ("log_id", "service_name", "level", "log_type", "message", "timestamp", "event_id", "ingested_at",
                "ingested_by")


def download(s3, bucket, directory):
    """Copy every archive object of ``bucket`` under ``directory`` at its key; their sizes in bytes."""
    sizes = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        for entry in page.get("Contents", []):
            path = directory / entry["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read())
            sizes.append(entry["Size"])
    return sizes


def rows(directory):
    """Every line of the copies under ``directory``: ``[(event as the API answers it, service, dt, hour)]``,
    the last three from the partition path (DuckDB decodes the URL-quoted service)."""
    import duckdb

    if not (directory / PREFIX).exists():
        return []
    columns = {name: "VARCHAR" for name in TEXT_COLUMNS} | {"metadata": "JSON"}
    files = f"{directory}/{PREFIX}service=*/dt=*/hour=*/*.json.gz"
    found = duckdb.sql(
        f"SELECT {', '.join(columns)}, service, dt, hour FROM read_json('{files}', "
        f"columns = {columns}, hive_partitioning = true, hive_types_autocast = false, "
        f"format = 'newline_delimited', compression = 'gzip')").fetchall()
    return [({**dict(zip(columns, row, strict=False)), "metadata": json.loads(row[len(TEXT_COLUMNS)])}, *row[-3:])
            for row in found]
