"""HTTP in one place: requests to the service's inputs, its results and errors to statuses and bodies."""
import functools
import logging

from chalice import Response

from chalicelib.aws import Deadline
from chalicelib.errors import PayloadTooLarge, StorageUnavailable, ValidationError
from chalicelib.service import BatchOutcome
from chalicelib.settings import SettingsError

logger = logging.getLogger(__name__)

BAD_REQUEST = "BadRequestError"
UNAVAILABLE = "ServiceUnavailableError"


def _error(status, code, message, headers=None):
    return Response(body={"Code": code, "Message": message}, status_code=status, headers=headers or {})


def json_errors(view):
    """Turn the service's errors into Chalice-shaped JSON responses."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except ValidationError as error:
            return _error(400, BAD_REQUEST, str(error))
        except PayloadTooLarge as error:
            return _error(413, "PayloadTooLargeError", str(error))
        except StorageUnavailable as error:
            return _error(503, UNAVAILABLE, str(error), {"Retry-After": str(error.retry_after)})
        except SettingsError:
            logger.exception("the service is misconfigured")
            return _error(500, "InternalServerError", "the service is misconfigured; see its logs")

    return wrapper


def ingest_response(result):
    """``POST /logs``: 201 with the stored event; a batch 201 (all stored), 207 (some) or 400 (none valid)."""
    if not isinstance(result, BatchOutcome):
        return Response(body=result, status_code=201)
    body = {
        "accepted": result.accepted,
        "rejected": [
            {"index": rejection.index, "Code": UNAVAILABLE if rejection.retryable else BAD_REQUEST,
             "Message": rejection.message, "retryable": rejection.retryable}
            for rejection in result.rejections
        ],
        "log_ids": result.log_ids,
    }
    if result.accepted == 0:
        message = f"logs: none of the {len(result.log_ids)} events is valid"
        return Response(body={"Code": BAD_REQUEST, "Message": message, **body}, status_code=400)
    return Response(body=body, status_code=201 if not result.rejections else 207)


def recent_response(page):
    """``GET /logs/recent``: 200 with the page."""
    return {"count": len(page.logs), "logs": page.logs, "next_cursor": page.next_cursor}


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
