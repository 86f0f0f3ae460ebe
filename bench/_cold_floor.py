"""Child process of bench.coldstart: the floor any Python Lambda using DynamoDB pays.

Import boto3 and create a DynamoDB client, in a fresh interpreter; print the time taken.
"""
import time

START = time.perf_counter()

import json  # noqa: E402

import boto3  # noqa: E402

boto3.session.Session().client("dynamodb")
elapsed_ms = (time.perf_counter() - START) * 1000
print(json.dumps({"ms": elapsed_ms, "status": 0}))
