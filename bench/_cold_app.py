"""Child process of bench.coldstart: import the app, serve its first request, print the time taken.

Run as a script in a fresh interpreter; the clock starts before any import.
"""
import time

START = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, os.environ["BENCH_ROOT"])

from app import app  # noqa: E402


class _Context:
    function_name = "simple-log-service-bench"
    memory_limit_in_mb = 512
    aws_request_id = "cold-start"

    @staticmethod
    def get_remaining_time_in_millis():
        return 20_000


response = app(json.loads(os.environ["BENCH_EVENT"]), _Context())
elapsed_ms = (time.perf_counter() - START) * 1000
print(json.dumps({"ms": elapsed_ms, "status": response["statusCode"]}))
