"""Load test of Simple Log Service: SigV4-signed single posts, batches and reads.

`make load` runs it headless against the local stack (bounded users and duration).
By hand: `.venv/bin/locust -f locustfile.py --headless -u 10 -r 5 --run-time 30s --host http://127.0.0.1:8000`.
Credentials come from the standard AWS chain; on a loopback host with none configured,
the local slog-full profile (local/aws-credentials).
"""
import random
import uuid

from locust import HttpUser, between, task
from slog.auth import SigV4RequestsAuth
from slog.config import build_target

SERVICES = [f"load-{name}" for name in ("api", "worker", "billing", "search")]
LEVELS = ["DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR"]
BATCH_SIZE = 50


def event(service=None):
    return {"service_name": service or random.choice(SERVICES), "level": random.choice(LEVELS),
            "log_type": "load", "message": f"load test event {uuid.uuid4().hex}",
            "metadata": {"user": random.randint(1, 1000)}, "event_id": uuid.uuid4().hex}


class LogServiceUser(HttpUser):
    wait_time = between(0.05, 0.5)

    def on_start(self):
        target = build_target(endpoint=self.host)
        self.client.auth = SigV4RequestsAuth(target.credentials, target.region)

    @task(5)
    def post_one(self):
        self.client.post("/logs", json=event(), name="POST /logs (one)")

    @task(2)
    def post_batch(self):
        service = random.choice(SERVICES)
        with self.client.post("/logs", json={"logs": [event(service) for _ in range(BATCH_SIZE)]},
                              name=f"POST /logs (batch of {BATCH_SIZE})", catch_response=True) as response:
            if response.status_code == 201 and response.json().get("accepted") != BATCH_SIZE:
                response.failure(f"accepted {response.json().get('accepted')} of {BATCH_SIZE}")

    @task(3)
    def read_recent(self):
        self.client.get("/logs/recent", params={"limit": 50}, name="GET /logs/recent")

    @task(2)
    def read_service(self):
        self.client.get("/logs/recent", params={"service_name": random.choice(SERVICES), "limit": 100},
                        name="GET /logs/recent?service_name")
