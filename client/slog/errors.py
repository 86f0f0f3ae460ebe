"""The one exception the CLI turns into a single line on stderr."""
import re

_ROLE_IN_ARN = re.compile(r"assumed-role/([^/\s]+)/")


class SlogError(Exception):
    """Something the user should read as one line; never a traceback."""


class ApiError(SlogError):
    """The API answered with an error status."""

    def __init__(self, status, code, message, method, route, body=None, retry_after=None):
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.route = route
        self.body = body
        self.retry_after = retry_after  # seconds, from a Retry-After header
        super().__init__(self.describe())

    def describe(self):
        if self.status == 403 and self.code in ("AccessDeniedException", "AccessDenied") or (
                self.status == 403 and "not authorized" in (self.message or "")):
            match = _ROLE_IN_ARN.search(self.message or "")
            who = f"role {match.group(1)}" if match else "the caller"
            return f"access denied (403): {who} is not allowed to call {self.method} {self.route}"
        if self.status == 403:
            return f"request refused (403 {self.code}): {self.message}"
        return f"{self.method} {self.route} failed ({self.status} {self.code}): {self.message}"
