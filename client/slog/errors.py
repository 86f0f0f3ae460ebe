"""The one exception the CLI turns into a single line on stderr."""
import re
from urllib.parse import urlsplit

_ROLE_IN_ARN = re.compile(r"assumed-role/([^/\s]+)/")


class SlogError(Exception):
    """Something the user should read as one line; never a traceback."""


class ApiError(SlogError):
    """The API answered with an error status (or a redirect) to ``method url``."""

    def __init__(self, status, code, message, method, url, body=None, retry_after=None):
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        # The URL called, as errors name it: without its query (filters, a long cursor).
        self.url = urlsplit(url)._replace(query="", fragment="").geturl()
        self.body = body
        self.retry_after = retry_after  # seconds, from a Retry-After header
        super().__init__(self.describe())

    def describe(self):
        if self.status == 403 and self.code in ("AccessDeniedException", "AccessDenied") or (
                self.status == 403 and "not authorized" in (self.message or "")):
            match = _ROLE_IN_ARN.search(self.message or "")
            who = f"role {match.group(1)}" if match else "the caller"
            return f"access denied (403): {who} is not allowed to call {self.method} {self.url}"
        if self.status == 403:
            return f"request refused (403 {self.code}) for {self.method} {self.url}: {self.message}"
        return f"{self.method} {self.url} failed ({self.status} {self.code}): {self.message}"
