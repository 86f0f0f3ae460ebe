"""``make load``: locust headless, bounded in users and time.

By default only the local stack: if nothing answers at the loopback host, the
stack is started for the run and stopped afterwards. A deployed stage is a
deliberate choice: ``--remote`` (``make load LOAD_REMOTE=1 LOAD_HOST=<api_endpoint>``)
accepts an https endpoint and signs with the caller's own AWS credentials.
"""
import argparse
import contextlib
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from devtools.local_stack import answers, running_stack

ROOT = Path(__file__).resolve().parent.parent
MAX_USERS = 50
MAX_SECONDS = 600
# At the end of the run, requests still in flight get this long to be answered (and counted).
STOP_TIMEOUT_S = 120
_DURATION = re.compile(r"(\d+)([smh]?)\Z")


def seconds(duration):
    match = _DURATION.match(duration.strip())
    if match is None:
        raise SystemExit(f"run time {duration!r}: use e.g. 30s, 2m")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def locust_command(host, users, spawn_rate, run_time, csv=None):
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless", "--only-summary",
               "--host", host.rstrip("/"), "--users", str(users), "--spawn-rate", str(spawn_rate),
               "--run-time", run_time, "--stop-timeout", str(STOP_TIMEOUT_S)]
    return command + (["--csv", csv] if csv else [])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="http://127.0.0.1:8000")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--spawn-rate", type=float, default=5)
    parser.add_argument("--run-time", default="30s")
    parser.add_argument("--dynamodb-port", type=int, default=8001)
    parser.add_argument("--remote", action="store_true", help="allow a deployed https endpoint")
    parser.add_argument("--csv", metavar="PREFIX", help="also write locust's PREFIX_stats.csv and PREFIX_failures.csv")
    args = parser.parse_args(argv)

    parts = urlsplit(args.host)
    local = parts.hostname in ("127.0.0.1", "localhost") and parts.port is not None
    if args.remote and parts.scheme != "https":
        raise SystemExit(f"--remote takes a deployed https endpoint (terraform output api_endpoint), not {args.host}")
    if not args.remote and not local:
        raise SystemExit(f"load runs only against the local stack (http://127.0.0.1:<port>), not {args.host}; "
                         "for a deployed stage add --remote (make load LOAD_REMOTE=1)")
    if not 1 <= args.users <= MAX_USERS:
        raise SystemExit(f"--users must be 1 to {MAX_USERS}")
    if not 1 <= seconds(args.run_time) <= MAX_SECONDS:
        raise SystemExit(f"--run-time must be 1s to {MAX_SECONDS}s")

    with contextlib.ExitStack() as stack:
        if local and not answers(parts.port):
            print(f"nothing answers at {args.host}: starting the local stack for this run", flush=True)
            stack.enter_context(running_stack(parts.port, args.dynamodb_port))
        return subprocess.run(locust_command(args.host, args.users, args.spawn_rate, args.run_time, args.csv),
                              cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
