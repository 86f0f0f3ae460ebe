"""Simple Log Service client: SigV4-signed ``POST /logs`` and ``GET /logs/recent``, and the ``slog`` CLI."""
from slog.client import LogClient
from slog.config import build_target
from slog.errors import ApiError, SlogError

__all__ = ["ApiError", "LogClient", "SlogError", "build_target"]
__version__ = "1.0.0"
