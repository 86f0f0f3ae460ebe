"""The local gateway refuses, as API Gateway in front of Lambda does, an answer Lambda could not return."""
import logging
import threading

import pytest
import requests

from devtools.local_auth import CallerRegistry
from devtools.local_gateway import GatewayServer, LocalIam
from tests.conftest import free_port


class Answering:
    """An app that answers every request with 200 and ``body``."""

    def __init__(self, body):
        self.body = body

    def handle(self, method, target, headers, body, identity=None):
        return 200, [("Content-Type", "application/json; charset=utf-8")], self.body


@pytest.fixture
def serve():
    started = []

    def start(body):
        server = GatewayServer(("127.0.0.1", free_port()), Answering(body), LocalIam(CallerRegistry.from_files(),
                                                                                     enforce=False))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/logs/recent"

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def text_body(characters):
    return ('{"logs":"' + "é" * characters + '"}').encode("utf-8")


def test_an_answer_lambda_could_not_return_is_a_502_and_a_log_line(serve, caplog):
    # 2.2 MB of body, but every é is six bytes (\u00e9) in the payload Lambda returns: 6.6 MB.
    url = serve(text_body(1_100_000))

    with caplog.at_level(logging.ERROR, logger="devtools.local_gateway"):
        response = requests.get(url, timeout=30)

    assert response.status_code == 502
    assert set(response.json()) == {"Code", "Message"}
    assert any("over Lambda's 6291456" in record.getMessage() for record in caplog.records)


def test_an_answer_within_lambdas_payload_passes(serve):
    body = text_body(1_000_000)

    response = requests.get(serve(body), timeout=30)

    assert response.status_code == 200 and response.content == body
