"""Domain errors to HTTP responses, in one place."""
import functools
import logging

from chalice import Response

from chalicelib.errors import PayloadTooLarge, StorageUnavailable, ValidationError
from chalicelib.settings import SettingsError

logger = logging.getLogger(__name__)


def _error(status, code, message, headers=None):
    return Response(body={"Code": code, "Message": message}, status_code=status, headers=headers or {})


def json_errors(view):
    """Turn the service's errors into Chalice-shaped JSON responses."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except ValidationError as error:
            return _error(400, "BadRequestError", str(error))
        except PayloadTooLarge as error:
            return _error(413, "PayloadTooLargeError", str(error))
        except StorageUnavailable as error:
            return _error(503, "ServiceUnavailableError", str(error), {"Retry-After": str(error.retry_after)})
        except SettingsError:
            logger.exception("the service is misconfigured")
            return _error(500, "InternalServerError", "the service is misconfigured; see its logs")

    return wrapper


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
