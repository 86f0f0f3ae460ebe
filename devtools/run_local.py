"""The local stack behind ``make run``: the emulator on loopback, the log table, the API, the archive.

The emulator is moto's server with every call atomic, answering loopback callers only
(``devtools.local_dynamodb``). It serves the table (with its stream), the archive's S3
bucket (``archive_bucket`` of ``local/outputs.json``) and the archive's dead-letter queue
(SQS): ``devtools.local_archive`` polls the stream and runs the app's ``archive`` function,
as the event source mapping does when deployed.

The API is the app on Chalice's local gateway behind the local API Gateway
(``devtools.local_gateway``), which enforces SigV4 (IAM) authorization with the
keys in ``local/aws-credentials``; ``--no-iam`` (or ``LOCAL_IAM=off``) turns that off.
Both servers bind 127.0.0.1. Stopping this process (Ctrl-C, SIGTERM) stops them and the poller.
No AWS account is needed: credentials are dummies and the metadata probe is off.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3

from devtools import local_archive
from devtools.table import create_table

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STAGE = "local"


def local_environment(dynamodb_port):
    """The environment the servers and the poller run with: the emulator's endpoints, dummy credentials."""
    env = dict(os.environ)
    emulator = f"http://{HOST}:{dynamodb_port}"
    env.update({
        "AWS_ENDPOINT_URL_DYNAMODB": emulator,
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": emulator,
        "AWS_ENDPOINT_URL_S3": emulator,
        "AWS_ENDPOINT_URL_SQS": emulator,
        "AWS_ACCESS_KEY_ID": env.get("LOCAL_AWS_ACCESS_KEY_ID", "local"),
        "AWS_SECRET_ACCESS_KEY": env.get("LOCAL_AWS_SECRET_ACCESS_KEY", "local"),
        "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", "us-east-1"),
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    return env


def _port_is_free(port):
    with socket.socket() as sock:
        # Like the servers themselves: connections in TIME_WAIT do not make a port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _wait_for_port(port, process, name, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with code {process.returncode} before it was ready")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"{name} did not listen on {HOST}:{port} within {timeout:.0f}s")


def _table_name():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return config["stages"][STAGE]["environment_variables"]["LOG_TABLE_NAME"]


def archive_bucket():
    """The local archive's bucket: ``local/outputs.json`` names it, as a stage's outputs do (``slog archive``)."""
    return json.loads((ROOT / "local" / "outputs.json").read_text())["archive_bucket"]["value"]


def _create_archive(env):
    """The archive's bucket and dead-letter queue in the emulator; returns the queue's URL."""
    options = {"region_name": env["AWS_DEFAULT_REGION"], "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
               "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"]}
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], **options).create_bucket(Bucket=archive_bucket())
    sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL_SQS"], **options)
    return sqs.create_queue(QueueName=f"{_table_name()}-archive-dead-letters")["QueueUrl"]


def _until_one_exits(named, poll_s=0.5):
    """Wait until a process of ``named`` (name: process) exits, and return an exit code saying so: the local stack
    runs whole or not at all (a stack whose archive poller died would store events it never archives)."""
    while True:
        for name, process in named.items():
            if process.poll() is not None:
                print(f"{name} exited with code {process.returncode}: stopping the local stack", file=sys.stderr,
                      flush=True)
                return process.returncode or 1
        time.sleep(poll_s)


def _stop(processes):
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--dynamodb-port", type=int, default=int(os.environ.get("DYNAMODB_PORT", 8001)))
    parser.add_argument("--no-iam", dest="iam", action="store_false",
                        default=os.environ.get("LOCAL_IAM", "on").lower() not in ("off", "0", "false", "no"),
                        help="admit unsigned requests (default: SigV4 enforced; also LOCAL_IAM=off)")
    args = parser.parse_args(argv)

    for port, name in ((args.port, "PORT"), (args.dynamodb_port, "DYNAMODB_PORT")):
        if not _port_is_free(port):
            raise SystemExit(f"{HOST}:{port} is in use; choose another with {name}=<port>")

    env = local_environment(args.dynamodb_port)
    processes = []

    def shutdown(signum, frame):
        # Only unwind here: the `finally` below stops both servers. Waiting for them inside the
        # handler would block on the lock of the `api.wait()` this signal interrupted.
        del frame
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        dynamodb = subprocess.Popen(
            [sys.executable, "-m", "devtools.local_dynamodb", "-H", HOST, "-p", str(args.dynamodb_port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        processes.append(dynamodb)
        _wait_for_port(args.dynamodb_port, dynamodb, "the DynamoDB emulator")
        client = boto3.client(
            "dynamodb", endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"], region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        create_table(client, _table_name(), stream=True)
        print(f"DynamoDB emulator on http://{HOST}:{args.dynamodb_port}, table {_table_name()}", flush=True)
        dead_letters = _create_archive(env)
        poller = subprocess.Popen(
            [sys.executable, "-m", "devtools.local_archive", "--stage", STAGE, "--table", _table_name(),
             "--bucket", archive_bucket(), "--dead-letter-queue", dead_letters], cwd=ROOT, env=env)
        processes.append(poller)
        print(f"Archive: s3://{archive_bucket()} in the emulator, from the table's stream every "
              f"{local_archive.POLL_S:.0f} s; read it with: slog archive get --endpoint http://{HOST}:{args.port}/ "
              f"--s3-endpoint {env['AWS_ENDPOINT_URL_S3']} --service NAME --since 1h", flush=True)

        api = subprocess.Popen(
            [sys.executable, "-m", "devtools.local_gateway", "--stage", STAGE, "--host", HOST,
             "--port", str(args.port)] + ([] if args.iam else ["--no-iam"]),
            cwd=ROOT, env=env,
        )
        processes.append(api)
        _wait_for_port(args.port, api, "the local API")
        auth = "SigV4 required: keys in local/aws-credentials" if args.iam else "IAM NOT enforced"
        print(f"Simple Log Service on http://{HOST}:{args.port} ({auth}; Ctrl-C stops it all)", flush=True)
        return _until_one_exits({"the DynamoDB emulator": dynamodb, "the archive poller": poller, "the local API": api})
    finally:
        _stop(processes)


if __name__ == "__main__":
    sys.exit(main())
