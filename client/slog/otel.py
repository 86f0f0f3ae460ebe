"""Send Python ``logging`` through OpenTelemetry to the service: the exporter's endpoint and a signing session.

``OTLPLogExporter(**slog.otlp_exporter_args(...))`` exports to ``POST /v1/logs``
with every request signed with SigV4 (``execute-api``), as the caller role
(``role_arn`` with its ``external_id``) or the credentials of the AWS chain.
The arguments are ``build_target``'s: ``endpoint`` (else ``SLOG_ENDPOINT``),
``outputs_file``, ``profile``, ``region``, ``role_arn``, ``external_id``.
"""
import requests

from slog.auth import SigV4RequestsAuth
from slog.config import build_target

OTLP_LOGS_ROUTE = "v1/logs"


def signed_session(target):
    """A ``requests.Session`` that signs every request for ``target`` (renewing assumed-role keys)."""
    session = requests.Session()
    session.auth = SigV4RequestsAuth(target.credentials, target.region)
    return session


def otlp_exporter_args(**options):
    """``{"endpoint", "session"}`` for OpenTelemetry's ``OTLPLogExporter`` (``compression`` is yours to add)."""
    target = build_target(**options)
    return {"endpoint": target.endpoint + OTLP_LOGS_ROUTE, "session": signed_session(target)}
