"""What a million ingested events cost, from a documented price table.

Prices: AWS list prices, us-east-1, on-demand, as published on the AWS
pricing pages (DynamoDB on-demand: $0.625 per million write request units
and $0.125 per million read request units since the November 2024 reduction; API Gateway REST APIs: $3.50 per million
requests for the first 333 million a month; Lambda x86: $0.20 per million
requests and $0.0000166667 per GB-second, billed per started millisecond;
DynamoDB Standard storage: $0.25 per GB-month; CloudWatch Logs Standard:
$0.50 per GB ingested and $0.03 per GB-month stored, here on the events' raw
bytes, which overstates CloudWatch's storage a little, as it bills archived
logs compressed; S3 Standard: $0.023 per GB-month; S3 Glacier Instant Retrieval:
$0.004 per GB-month, billed at least 128 KB an object and 90 days; S3 PUT: $0.005 per
1,000 requests; lifecycle transitions into Glacier Instant Retrieval: $0.02 per 1,000).
A GB is 2^30 bytes and a month 730 hours, as AWS bills them.
Free tiers are left out. Check them against the pricing pages before quoting
a figure; the arithmetic is here so that a new price is one edit.

Lambda duration is modelled from what was measured: the request's CPU time on
this machine, stretched by the CPU share Lambda gives the function (a full
vCPU at 1,769 MB, proportionally less below), plus one DynamoDB round trip per
sequential wave of write calls (the repository sends up to ``WORKERS`` calls
at once). The round trip is an assumption, stated here: 10 ms, the usual
in-region latency of a small PutItem or a 25-item BatchWriteItem.
"""
import math

PRICES_USD = {
    "dynamodb_write_request_unit": 0.625 / 1e6,
    "dynamodb_read_request_unit": 0.125 / 1e6,
    "api_gateway_rest_request": 3.50 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000166667,
    "dynamodb_storage_gb_month": 0.25,
    "cloudwatch_logs_ingest_gb": 0.50,
    "cloudwatch_logs_storage_gb_month": 0.03,
    "s3_standard_gb_month": 0.023,
    "s3_glacier_ir_gb_month": 0.004,
    "s3_put_request": 0.005 / 1000,
    "s3_glacier_ir_transition_request": 0.02 / 1000,
}
GB = 2 ** 30
DAYS_PER_MONTH = 730 / 24
LAMBDA_FULL_VCPU_MB = 1769
DYNAMODB_ROUND_TRIP_MS = 10.0


def lambda_duration_ms(cpu_ms, sequential_round_trips, memory_mb):
    stretch = max(1.0, LAMBDA_FULL_VCPU_MB / memory_mb)
    return math.ceil(cpu_ms * stretch + sequential_round_trips * DYNAMODB_ROUND_TRIP_MS)


def usd_per_million_events(requests_per_event, wru_per_event, duration_ms, memory_mb, rru_per_event=0.0):
    requests = 1e6 * requests_per_event
    parts = {
        "dynamodb_writes": 1e6 * wru_per_event * PRICES_USD["dynamodb_write_request_unit"],
        "dynamodb_key_reads": 1e6 * rru_per_event * PRICES_USD["dynamodb_read_request_unit"],
        "api_gateway": requests * PRICES_USD["api_gateway_rest_request"],
        "lambda_requests": requests * PRICES_USD["lambda_request"],
        "lambda_duration": requests * duration_ms / 1000 * memory_mb / 1024 * PRICES_USD["lambda_gb_second"],
    }
    return round(sum(parts.values()), 4), {name: round(value, 4) for name, value in parts.items()}


def storage_usd_per_million_events(bytes_per_event, retention_days, price_gb_month):
    """Keeping a million events' bytes for the retention period (each event is stored that long, then expires)."""
    return 1e6 * bytes_per_event / GB * retention_days / DAYS_PER_MONTH * price_gb_month


def cloudwatch_usd_per_million_events(raw_bytes_per_event, retention_days):
    """CloudWatch Logs' ingest and storage of the same events, on their raw bytes."""
    parts = {
        "ingest": 1e6 * raw_bytes_per_event / GB * PRICES_USD["cloudwatch_logs_ingest_gb"],
        "storage": storage_usd_per_million_events(raw_bytes_per_event, retention_days,
                                                  PRICES_USD["cloudwatch_logs_storage_gb_month"]),
    }
    return round(sum(parts.values()), 4), {name: round(value, 4) for name, value in parts.items()}
