"""Load test of Simple Log Service: SigV4-signed single posts, batches and reads.

`make load` runs it headless against the local stack (bounded users and duration).
By hand: `.venv/bin/locust -f locustfile.py --headless -u 10 -r 5 --run-time 30s --host http://127.0.0.1:8000`.
Credentials come from the standard AWS chain; on a loopback host with none configured,
the local slog-full profile (local/aws-credentials).

Each user first calls every route once, so even a short run exercises each kind of
request. Every answer is checked against the contract: anything else is a failure
named by what came back. Under overload the contract's answer is a 503 with
Retry-After (or a 207 whose rejections are all retryable); those count as failures
named ``OVERLOADED``, so a run shows how often the service shed load.
"""
import random
import uuid

from locust import HttpUser, between, task
from slog.auth import SigV4RequestsAuth
from slog.config import build_target

SERVICES = [f"load-{name}" for name in ("api", "worker", "billing", "search")]
LEVELS = ["DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR"]
BATCH_SIZE = 50
OVERLOADED = "OVERLOADED: the contract's answer to overload (503 with Retry-After, or retryable rejections)"


def event(service=None):
    return {"service_name": service or random.choice(SERVICES), "level": random.choice(LEVELS),
            "log_type": "load", "message": f"load test event {uuid.uuid4().hex}",
            "metadata": {"user": random.randint(1, 1000)}, "event_id": uuid.uuid4().hex}


def _body(response):
    try:
        return response.json()
    except ValueError:
        return None


def _overloaded(response, body):
    if response.status_code == 503:
        return bool(response.headers.get("Retry-After"))
    return response.status_code == 207 and isinstance(body, dict) and bool(body.get("rejected")) and all(
        rejection.get("retryable") for rejection in body["rejected"])


def judge(response, expected_status, is_complete):
    """Mark a ``catch_response`` response as the contract says it should be read."""
    body = _body(response)
    if response.status_code == 0:
        response.failure(f"no answer: {response.error!r}")
    elif _overloaded(response, body):
        response.failure(OVERLOADED)
    elif response.status_code != expected_status:
        response.failure(f"unexpected {response.status_code}: {response.text[:300]}")
    elif not isinstance(body, dict) or not is_complete(body):
        response.failure(f"unexpected {response.status_code} body: {response.text[:300]}")
    else:
        response.success()


class LogServiceUser(HttpUser):
    wait_time = between(0.05, 0.5)

    def on_start(self):
        target = build_target(endpoint=self.host)
        self.client.auth = SigV4RequestsAuth(target.credentials, target.region)
        for route in (self.post_one, self.post_batch, self.read_recent, self.read_service):
            route()

    @task(5)
    def post_one(self):
        with self.client.post("/logs", json=event(), name="POST /logs (one)", catch_response=True) as response:
            judge(response, 201, lambda body: bool(body.get("log_id")))

    @task(2)
    def post_batch(self):
        service = random.choice(SERVICES)
        with self.client.post("/logs", json={"logs": [event(service) for _ in range(BATCH_SIZE)]},
                              name=f"POST /logs (batch of {BATCH_SIZE})", catch_response=True) as response:
            judge(response, 201, lambda body: body.get("accepted") == BATCH_SIZE)

    @task(3)
    def read_recent(self):
        with self.client.get("/logs/recent", params={"limit": 50}, name="GET /logs/recent",
                             catch_response=True) as response:
            judge(response, 200, lambda body: isinstance(body.get("logs"), list))

    @task(2)
    def read_service(self):
        with self.client.get("/logs/recent", params={"service_name": random.choice(SERVICES), "limit": 100},
                             name="GET /logs/recent?service_name", catch_response=True) as response:
            judge(response, 200, lambda body: isinstance(body.get("logs"), list))
