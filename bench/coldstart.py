"""Cold start: a fresh interpreter importing the app and serving its first request, against the floor.

The floor is a fresh interpreter importing boto3 and creating a DynamoDB
client, which any Python function using DynamoDB pays. Both children start
their clock before their first import (interpreter start-up itself is the same
for both and left out), run with the same environment, and talk to a DynamoDB
emulator (moto's server, in this process, on a free loopback port) holding the
log table. Runs alternate app/floor; one warm-up of each is discarded so both
read compiled bytecode. ``ratio`` is the median of the app's times over the
median of the floor's, for the first request being ``POST /logs`` with one
event; ``get_ratio`` is the same for ``GET /logs/recent``.
"""
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import time

import boto3

from bench import data
from bench.env import ROOT, SAFE_ENV, configure, lambda_event, stage_environment

HERE = os.path.dirname(os.path.abspath(__file__))


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _child(script, environment):
    completed = subprocess.run([sys.executable, os.path.join(HERE, script)], env=environment,
                               capture_output=True, text=True, timeout=120, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{script} failed: {completed.stderr[-2000:]}")
    answer = json.loads(completed.stdout.strip().splitlines()[-1])
    return answer


def _environment(endpoint, event):
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("AWS_", "BENCH_", "PYTHON"))}
    environment.update(SAFE_ENV)
    environment.update(stage_environment())
    environment.update({
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "BENCH_ROOT": str(ROOT),
        "BENCH_EVENT": json.dumps(event),
    })
    return environment


def _medians(environment, runs, expected_status):
    app_ms, floor_ms = [], []
    for run in range(runs + 1):
        app = _child("_cold_app.py", environment)
        if app["status"] != expected_status:
            raise RuntimeError(f"the app's first request answered {app['status']}, not {expected_status}")
        floor = _child("_cold_floor.py", environment)
        if run > 0:
            app_ms.append(app["ms"])
            floor_ms.append(floor["ms"])
    return statistics.median(app_ms), statistics.median(floor_ms)


def run(runs=7, log=print):
    configure()
    from moto.server import ThreadedMotoServer

    from chalicelib import settings
    from devtools.table import create_table

    port = _free_port()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        create_table(boto3.client("dynamodb", endpoint_url=endpoint), settings.table_name())
        now_ms = int(time.time() * 1000)
        post = lambda_event("POST", "/logs", body=json.dumps(data.events(1, now_ms, 1000, seed=9)[0]))
        get = lambda_event("GET", "/logs/recent", query={"limit": ["100"]})
        app_ms, floor_ms = _medians(_environment(endpoint, post), runs, 201)
        get_app_ms, get_floor_ms = _medians(_environment(endpoint, get), runs, 200)
    finally:
        server.stop()
    result = {
        "runs": runs,
        "app_ms": round(app_ms, 1),
        "floor_ms": round(floor_ms, 1),
        "ratio": round(app_ms / floor_ms, 3),
        "get_app_ms": round(get_app_ms, 1),
        "get_ratio": round(get_app_ms / get_floor_ms, 3),
    }
    log(f"coldstart: app import + first POST {result['app_ms']} ms, boto3 import + client {result['floor_ms']} ms, "
        f"ratio {result['ratio']} (first GET: {result['get_app_ms']} ms, ratio {result['get_ratio']}); "
        f"medians of {runs} fresh processes")
    return result
