"""Start ``make run``'s local stack in the background and stop it again (tests, ``make load``)."""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def answers(port, host=HOST):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@contextlib.contextmanager
def running_stack(port, dynamodb_port, iam=True, timeout=120.0, log=None):
    """``devtools.run_local`` on the given loopback ports; yields its base URL; always stops it."""
    command = [sys.executable, "-m", "devtools.run_local", "--port", str(port), "--dynamodb-port", str(dynamodb_port)]
    if not iam:
        command.append("--no-iam")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log or subprocess.DEVNULL,
                               stderr=subprocess.STDOUT if log else subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not answers(port):
            if process.poll() is not None:
                raise RuntimeError(f"the local stack exited with code {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local stack did not answer on {HOST}:{port} within {timeout:.0f}s")
            time.sleep(0.2)
        yield f"http://{HOST}:{port}/"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
