"""Send Python ``logging`` through OpenTelemetry to the service: the exporter's endpoint and a signing session.

``OTLPLogExporter(**slog.otlp_exporter_args(...))`` exports to ``POST /v1/logs``
with every request signed with SigV4 (``execute-api``), as the caller role
(``role_arn`` with its ``external_id``) or the credentials of the AWS chain,
and no redirect followed. The arguments are ``build_target``'s: ``endpoint``
(else ``SLOG_ENDPOINT``), ``outputs_file``, ``profile``, ``region``,
``role_arn``, ``external_id``. What cannot work (no endpoint, no credentials,
an http endpoint that is not loopback) is a ``SlogError`` with a one-line message.
"""
from slog.auth import signed_session
from slog.config import build_target

OTLP_LOGS_ROUTE = "v1/logs"


def otlp_exporter_args(**options):
    """``{"endpoint", "session"}`` for OpenTelemetry's ``OTLPLogExporter`` (``compression`` is yours to add)."""
    target = build_target(**options)
    return {"endpoint": target.endpoint + OTLP_LOGS_ROUTE, "session": signed_session(target)}
