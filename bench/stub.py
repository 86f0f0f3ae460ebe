"""DynamoDB that answers at once: for timing the app and the client without the network or an emulator."""
import contextlib

from botocore.awsrequest import AWSResponse


class _Body:
    def __init__(self, payload):
        self._payload = payload

    def stream(self, **_):
        yield self._payload


def _answer_at_once(request, **_):
    """Every DynamoDB write succeeds with an empty result (no UnprocessedItems)."""
    return AWSResponse(request.url, 200, {"content-type": "application/x-amz-json-1.0"}, _Body(b"{}"))


def stub_sends(client):
    """Short-circuit the HTTP send of ``client``: validation, serialization and signing still run."""
    client.meta.events.register_first("before-send.dynamodb", _answer_at_once)
    return client


class RecordingClient:
    """Stands in for the boto3 client: records each call and does nothing else (every key is new)."""

    def __init__(self):
        self.calls = []

    def batch_write_item(self, **params):
        self.calls.append(("batch_write_item", params))
        return {}

    def put_item(self, **params):
        self.calls.append(("put_item", params))
        return {}

    def batch_get_item(self, **params):
        self.calls.append(("batch_get_item", params))
        return {}


@contextlib.contextmanager
def repository_client(client):
    """Make the service use a repository on ``client`` (its settings unchanged) for the block."""
    from chalicelib import service, settings
    from chalicelib.repository import LogRepository

    repository = LogRepository(client, settings.table_name(), settings.retention_days(),
                               settings.service_shards(), settings.timeline_shards(),
                               max_attempts=settings.write_max_attempts())
    original = service.repository
    service.repository = lambda: repository
    try:
        yield repository
    finally:
        service.repository = original
