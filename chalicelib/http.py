"""HTTP in one place: requests to the service's inputs, its results and errors to statuses and bodies."""
import functools
import logging

from chalice import Response

from chalicelib import answer, otlp
from chalicelib.aws import Deadline
from chalicelib.errors import Conflict, PayloadTooLarge, StorageUnavailable, UnsupportedMediaType, ValidationError
from chalicelib.service import BatchOutcome
from chalicelib.settings import SettingsError

logger = logging.getLogger(__name__)

BAD_REQUEST = "BadRequestError"
UNAVAILABLE = "ServiceUnavailableError"
CONFLICT = "ConflictError"


def _error(status, code, message, headers=None):
    return Response(body={"Code": code, "Message": message}, status_code=status, headers=headers or {})


_ANSWERED = (ValidationError, PayloadTooLarge, UnsupportedMediaType, StorageUnavailable, SettingsError)


def _failure(error):
    """``(status, Code, Message, headers)`` for one of the service's errors (``_ANSWERED``)."""
    if isinstance(error, Conflict):
        return 409, CONFLICT, str(error), {}
    if isinstance(error, ValidationError):
        return 400, BAD_REQUEST, str(error), {}
    if isinstance(error, PayloadTooLarge):
        return 413, "PayloadTooLargeError", str(error), {}
    if isinstance(error, UnsupportedMediaType):
        return 415, "UnsupportedMediaTypeError", str(error), {}
    if isinstance(error, StorageUnavailable):
        return 503, UNAVAILABLE, str(error), {"Retry-After": str(error.retry_after)}
    logger.exception("the service is misconfigured")
    return 500, "InternalServerError", "the service is misconfigured; see its logs", {}


def _answering_errors(view, answer):
    """``view``, with the service's errors answered by ``answer(status, code, message, headers)``."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except _ANSWERED as error:
            return answer(*_failure(error))

    return wrapper


def json_errors(view):
    """Turn the service's errors into Chalice-shaped JSON responses."""
    return _answering_errors(view, _error)


# gRPC status codes that OTLP's google.rpc.Status carries for each HTTP answer.
_GRPC_CODE = {400: 3, 409: 6, 413: 3, 415: 3, 500: 13, 503: 14}


def _answer_type(request):
    return otlp.response_content_type(request.headers.get("content-type"), request.headers.get("accept"))


def otlp_errors(app):
    """The service's errors as OTLP answers: a ``google.rpc.Status`` in the request's encoding."""

    def answer(status, _code, message, headers):
        answer_type = _answer_type(app.current_request)
        return Response(body=otlp.status(_GRPC_CODE[status], message, answer_type), status_code=status,
                        headers={"Content-Type": answer_type, **headers})

    return functools.partial(_answering_errors, answer=answer)


def export_response(outcome, request):
    """``POST /v1/logs``: 200 with an ``ExportLogsServiceResponse`` in the request's encoding."""
    answer_type = _answer_type(request)
    body = otlp.export_response(outcome.rejected, outcome.error_message, answer_type)
    return Response(body=body, status_code=200, headers={"Content-Type": answer_type})


def _rejection_code(rejection):
    if rejection.conflict:
        return CONFLICT
    return UNAVAILABLE if rejection.retryable else BAD_REQUEST


def ingest_response(result):
    """``POST /logs``: 201 with the stored event; a batch 201 (all stored), 207 (some), 409 (none: all
    conflicts) or 400 (none: some invalid)."""
    if not isinstance(result, BatchOutcome):
        return Response(body=result, status_code=201)
    body = {
        "accepted": result.accepted,
        "rejected": [
            {"index": rejection.index, "Code": _rejection_code(rejection),
             "Message": rejection.message, "retryable": rejection.retryable}
            for rejection in result.rejections
        ],
        "log_ids": result.log_ids,
    }
    if result.accepted == 0 and all(rejection.conflict for rejection in result.rejections):
        message = f"event_id: each of the {len(result.log_ids)} events resends a known one with other content"
        return Response(body={"Code": CONFLICT, "Message": message, **body}, status_code=409)
    if result.accepted == 0:
        message = f"logs: none of the {len(result.log_ids)} events was stored; see rejected"
        return Response(body={"Code": BAD_REQUEST, "Message": message, **body}, status_code=400)
    return Response(body=body, status_code=201 if not result.rejections else 207)


def recent_response(page):
    """``GET /logs/recent``: 200 with the page, its events' texts joined as they were measured (``answer.Room``)."""
    body = (f'{{"count":{len(page.log_texts)},"logs":[' + ",".join(page.log_texts)
            + f'],"next_cursor":{answer.dumps(page.next_cursor)},'
            + f'"scanned":{{"events":{page.scanned_events},"bytes":{page.scanned_bytes}}}}}')
    return Response(body=body, status_code=200, headers={"Content-Type": answer.CONTENT_TYPE})


def query_lists(request):
    """Query parameters as ``{name: [values]}`` (an empty dict when there are none)."""
    params = request.query_params
    if not params:
        return {}
    return {name: params.getlist(name) for name in params}


def caller_arn(request):
    """The IAM principal API Gateway authenticated, when known."""
    identity = (request.context or {}).get("identity") or {}
    return identity.get("userArn") or None


def deadline(app):
    """The time this invocation may spend on storage, from the Lambda context."""
    return Deadline.for_lambda(app.lambda_context)
