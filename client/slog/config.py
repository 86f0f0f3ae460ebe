"""Where to send requests and with which credentials.

Endpoint: ``--endpoint``, else ``SLOG_ENDPOINT``, else ``api_endpoint`` from a saved
``terraform output -json`` (``--outputs FILE``).

Credentials: the standard AWS chain (``--profile``, ``AWS_PROFILE``, environment,
shared files...), optionally exchanged for a caller role through STS
(``--role-arn``/``--external-id``) at the STS endpoint botocore is configured
with. For a loopback endpoint (the local stack) with no credentials configured,
the local ``slog-full`` profile of ``local/aws-credentials`` is used.
"""
import configparser
import ipaddress
import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

from slog.errors import SlogError

LOCAL_REGION = "us-east-1"
LOCAL_PROFILE = "slog-full"
LOCAL_CREDENTIALS = Path("local") / "aws-credentials"
# The local stack's outputs, as `terraform output -json` writes a stage's: its archive bucket among them.
LOCAL_OUTPUTS = Path("local") / "outputs.json"
_EXECUTE_API_HOST = re.compile(r"[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?\Z")
_REFRESH_BEFORE_S = 300
# What the API serves under its base URL (or under a stage prefix: api_endpoint ends in /<stage>).
API_ROUTES = ("logs/recent", "v1/logs", "logs")


def read_outputs(path):
    """``{name: value}`` from ``terraform output -json`` saved to a file (or a flat JSON object)."""
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as error:
        raise SlogError(f"cannot read outputs file {path}: {error.strerror}") from None
    except ValueError:
        raise SlogError(f"outputs file {path} is not JSON (save it with `terraform output -json > FILE`)") from None
    if not isinstance(raw, dict):
        raise SlogError(f"outputs file {path} must hold a JSON object")
    return {name: value.get("value") if isinstance(value, dict) and "value" in value else value
            for name, value in raw.items()}


def resolve_endpoint(endpoint=None, outputs=None):
    """The API base URL, always ending in ``/``: https unless loopback, its path at most a stage prefix."""
    endpoint = endpoint or os.environ.get("SLOG_ENDPOINT")
    if not endpoint and outputs is not None:
        endpoint = outputs.get("api_endpoint")
    if not endpoint:
        raise SlogError("no endpoint: pass --endpoint URL, set SLOG_ENDPOINT, or --outputs FILE "
                        "(terraform output -json with api_endpoint)")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SlogError(f"endpoint {endpoint!r} is not an http(s) URL")
    # Plain http would show the signed requests, session token included, to anyone on the way.
    if parts.scheme != "https" and not is_loopback(endpoint):
        raise SlogError(f"endpoint {endpoint} must be https (http only for loopback: 127.0.0.1, ::1, localhost)")
    if parts.query or parts.fragment:
        raise SlogError(f"endpoint {endpoint} has a query or fragment: give the API's base URL")
    path = parts.path.strip("/")
    route = next((route for route in API_ROUTES if path == route or path.endswith("/" + route)), None)
    if route is not None:
        base = parts._replace(path=parts.path.rstrip("/").removesuffix(route)).geturl()
        raise SlogError(f"endpoint {endpoint} ends in the route /{route}: give the API's base URL "
                        f"({base}); slog adds the routes")
    return endpoint if endpoint.endswith("/") else endpoint + "/"


def is_loopback(endpoint):
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def region_for(endpoint, explicit=None, session=None):
    """The signing region: explicit, else from an execute-api host name, else local or configured."""
    if explicit:
        return explicit
    match = _EXECUTE_API_HOST.match(urlsplit(endpoint).hostname or "")
    if match:
        return match.group(1)
    if is_loopback(endpoint):
        return LOCAL_REGION
    region = (session.region_name if session is not None else None) or os.environ.get("AWS_REGION") \
        or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise SlogError("cannot tell the API's region: pass --region")
    return region


def local_file(name):
    """``name`` (``local/...``) of this repository: from the working directory up, else beside the package."""
    for directory in [Path.cwd(), *Path.cwd().parents]:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    candidate = Path(__file__).resolve().parents[2] / name
    return candidate if candidate.is_file() else None


def local_profile_credentials(profile=LOCAL_PROFILE):
    path = local_file(LOCAL_CREDENTIALS)
    if path is None:
        raise SlogError("no AWS credentials configured, and no local/aws-credentials found for the local stack")
    parser = configparser.ConfigParser()
    parser.read(path)
    if profile not in parser:
        raise SlogError(f"profile {profile} is not in {path}")
    section = parser[profile]
    return Credentials(section["aws_access_key_id"].strip(), section["aws_secret_access_key"].strip())


class AssumedRoleCredentials:
    """Credentials of a caller role from STS AssumeRole, renewed shortly before they expire."""

    def __init__(self, sts_client, role_arn, external_id=None, session_name=None, clock=time.time):
        self._sts = sts_client
        self.role_arn = role_arn
        self._external_id = external_id
        self._session_name = session_name or f"slog-{uuid.uuid4().hex[:12]}"
        self._clock = clock
        self._lock = threading.Lock()
        self._credentials = None
        self._expires_at = 0.0

    def get(self):
        with self._lock:
            if self._credentials is None or self._clock() > self._expires_at - _REFRESH_BEFORE_S:
                self._assume()
            return self._credentials

    def _assume(self):
        request = {"RoleArn": self.role_arn, "RoleSessionName": self._session_name}
        if self._external_id:
            request["ExternalId"] = self._external_id
        try:
            response = self._sts.assume_role(**request)
        except ClientError as error:
            detail = error.response.get("Error", {})
            raise SlogError(f"cannot assume role {self.role_arn}: {detail.get('Code')}: {detail.get('Message')}") \
                from None
        except BotoCoreError as error:
            raise SlogError(f"cannot assume role {self.role_arn}: {error}") from None
        granted = response["Credentials"]
        self._credentials = Credentials(granted["AccessKeyId"], granted["SecretAccessKey"], granted["SessionToken"])
        self._expires_at = granted["Expiration"].timestamp()


class StaticCredentials:
    def __init__(self, credentials):
        self._credentials = credentials

    def get(self):
        return self._credentials


@dataclass
class Target:
    """An endpoint, its signing region, and a source of credentials for it."""

    endpoint: str
    region: str
    credentials: object  # has .get() -> botocore Credentials
    base_session: object = None

    def assume(self, role_arn, external_id=None):
        """The same endpoint, signing as ``role_arn`` (assumed with this target's base credentials)."""
        return Target(self.endpoint, self.region,
                      AssumedRoleCredentials(_sts_client(self), role_arn, external_id), self.base_session)


def _missing_credentials_file():
    """``AWS_SHARED_CREDENTIALS_FILE`` when it names no file: a relative name (``local/aws-credentials``) is read
    from the working directory, so it works only from where it was written for."""
    named = os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
    return named if named and not Path(named).expanduser().is_file() else None


def _credentials_error(detail):
    """``SlogError(detail)``, or the reason behind it when ``AWS_SHARED_CREDENTIALS_FILE`` names no file."""
    missing = _missing_credentials_file()
    if missing:
        detail = (f"AWS_SHARED_CREDENTIALS_FILE={missing}: no such file (looked in {Path.cwd()}); "
                  'name it by its absolute path: export AWS_SHARED_CREDENTIALS_FILE="$(pwd)/local/aws-credentials" '
                  "at the repository root")
    return SlogError(detail)


def _base_credentials(session, endpoint, profile):
    try:
        credentials = session.get_credentials()
    except BotoCoreError as error:
        raise _credentials_error(f"cannot load AWS credentials: {error}") from None
    if credentials is not None:
        return credentials.get_frozen_credentials()
    if is_loopback(endpoint) and profile is None and not _missing_credentials_file():
        return local_profile_credentials()
    raise _credentials_error("no AWS credentials found: use --profile, AWS_PROFILE, "
                             "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")


def _sts_client(target):
    """STS where botocore's configuration says (``AWS_ENDPOINT_URL_STS``, a profile's ``endpoint_url``)."""
    frozen = target.credentials.get()
    return target.base_session.client("sts", region_name=target.region, aws_access_key_id=frozen.access_key,
                                      aws_secret_access_key=frozen.secret_key, aws_session_token=frozen.token)


def build_target(endpoint=None, outputs_file=None, profile=None, region=None, role_arn=None, external_id=None):
    """Endpoint, region and credentials from flags, environment and the AWS chain."""
    outputs = read_outputs(outputs_file) if outputs_file else None
    endpoint = resolve_endpoint(endpoint, outputs)
    try:
        session = boto3.session.Session(profile_name=profile)
    except BotoCoreError as error:
        raise _credentials_error(str(error)) from None
    target = Target(endpoint, region_for(endpoint, region, session),
                    StaticCredentials(_base_credentials(session, endpoint, profile)), session)
    if role_arn:
        target = target.assume(role_arn, external_id)
    return target


def archive_bucket(bucket=None, outputs_file=None, endpoint=None):
    """The archive's bucket: ``bucket``, else ``archive_bucket`` of the outputs file, else for a loopback
    endpoint the local stack's (``local/outputs.json``)."""
    if bucket:
        return bucket
    if outputs_file:
        found = read_outputs(outputs_file).get("archive_bucket")
    else:
        local = local_file(LOCAL_OUTPUTS) if endpoint and is_loopback(endpoint) else None
        found = read_outputs(local).get("archive_bucket") if local else None
    if not found:
        raise SlogError("no archive bucket: pass --bucket NAME, or --outputs FILE (terraform output -json with "
                        "archive_bucket)")
    return found


def s3_client(target, endpoint=None):
    """S3 as ``target``'s caller, in its region: at ``endpoint``, else where botocore's configuration says
    (``AWS_ENDPOINT_URL_S3``, a profile's ``endpoint_url``), else AWS. Plain http only to loopback; and the
    local stack's archive is on its emulator, so a loopback API with S3 anywhere else is refused rather than
    called with the local keys."""
    frozen = target.credentials.get()
    client = target.base_session.client("s3", region_name=target.region, endpoint_url=endpoint,
                                        aws_access_key_id=frozen.access_key, aws_secret_access_key=frozen.secret_key,
                                        aws_session_token=frozen.token)
    where = client.meta.endpoint_url
    if is_loopback(target.endpoint) and not is_loopback(where):
        raise SlogError(f"the local stack's archive is on its emulator, not {where}: pass --s3-endpoint "
                        "http://127.0.0.1:<DYNAMODB_PORT> (make run prints it) or set AWS_ENDPOINT_URL_S3")
    if urlsplit(where).scheme != "https" and not is_loopback(where):
        raise SlogError(f"S3 endpoint {where} must be https (http only for loopback: 127.0.0.1, ::1, localhost)")
    return client
