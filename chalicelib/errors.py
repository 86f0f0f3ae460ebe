"""Domain errors, raised in chalicelib; ``chalicelib.http`` alone maps them to HTTP responses."""


class ServiceError(Exception):
    """Base of every error the service reports to a caller."""


class ValidationError(ServiceError):
    """A client mistake: 400, with a message that starts with the field name."""

    def __init__(self, field, problem):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


class Conflict(ValidationError):
    """A resend of a known ``event_id`` whose content differs from the stored event's: 409, nothing stored."""

    def __init__(self):
        super().__init__("event_id", "was stored before with other content; nothing was stored or changed "
                                     "(give a new event_id to a new event)")


class PayloadTooLarge(ServiceError):
    """The request body is over the contract's limit: 413."""


class UnsupportedMediaType(ServiceError):
    """The body's Content-Type or Content-Encoding is not one the route takes: 415."""


class StorageUnavailable(ServiceError):
    """Storage throttled or unreachable after retries: 503 with Retry-After."""

    def __init__(self, message="storage is busy; retry later", retry_after=1):
        self.retry_after = retry_after
        super().__init__(message)
