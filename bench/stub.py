"""DynamoDB that answers at once: for timing the app and the client without the network or an emulator."""
import contextlib
import json

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


def repository_on(client, table_name=None, **options):
    """A repository on ``client`` with the service's settings, unless ``table_name`` or ``options`` say."""
    from chalicelib import settings
    from chalicelib.repository import LogRepository

    return LogRepository(client, table_name or settings.table_name(), settings.retention_days(),
                         settings.service_shards(), settings.timeline_shards(), settings.severity_shards(),
                         max_attempts=settings.write_max_attempts(), **options)


@contextlib.contextmanager
def serving(repository):
    """Make the service use ``repository`` for the block."""
    from chalicelib import service

    original = service.repository
    service.repository = lambda: repository
    try:
        yield repository
    finally:
        service.repository = original


def repository_client(client, table_name=None, **options):
    """Make the service use a repository on ``client`` (``repository_on``) for the block."""
    return serving(repository_on(client, table_name, **options))


def _request_key(body):
    """A read's parameters as sent, without what only the bench's meter adds."""
    params = json.loads(body)
    params.pop("ReturnConsumedCapacity", None)
    return json.dumps(params, sort_keys=True)


class AnswerRecorder:
    """Keeps the raw HTTP answer DynamoDB gave to each read (Query, BatchGetItem) of a client, to be replayed by
    ``replay_answers``."""

    def __init__(self):
        self.answers = {}

    def attach(self, client):
        # BatchGetItem too: the all-services view fetches the packs it opens.
        for operation in ("Query", "BatchGetItem"):
            client.meta.events.register(f"before-call.dynamodb.{operation}", self._before)
            client.meta.events.register(f"after-call.dynamodb.{operation}", self._after)
        return self

    @staticmethod
    def _before(params, context, **_):
        context["bench_request_key"] = _request_key(params["body"])

    def _after(self, http_response, context, **_):
        self.answers[context["bench_request_key"]] = http_response.content


def replay_answers(client, answers):
    """Answer each read of ``client`` with the recorded answer to the same request: the client parses it as
    it would DynamoDB's, with no network and no emulator in the CPU time."""

    def answer(request, **_):
        return AWSResponse(request.url, 200, {"content-type": "application/x-amz-json-1.0"},
                           _Body(answers[_request_key(request.body)]))

    client.meta.events.register_first("before-send.dynamodb", answer)
    return client


@contextlib.contextmanager
def frozen_clock(now_ms):
    """The service's clock stands at ``now_ms`` for the block (a replayed read must send the recorded Query)."""
    from chalicelib import service

    original = service.now_ms
    service.now_ms = lambda: now_ms
    try:
        yield
    finally:
        service.now_ms = original
