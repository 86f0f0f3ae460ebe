"""Simple Log Service client: SigV4-signed ``POST /logs`` and ``GET /logs/recent``, the ``slog`` CLI, and the
arguments that point OpenTelemetry's OTLP log exporter at ``POST /v1/logs``."""
from slog.auth import signed_session
from slog.client import LogClient
from slog.config import build_target
from slog.errors import ApiError, SlogError
from slog.otel import otlp_exporter_args

__all__ = ["ApiError", "LogClient", "SlogError", "build_target", "otlp_exporter_args", "signed_session"]
__version__ = "1.0.0"
