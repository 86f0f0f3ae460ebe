"""SigV4 verification and caller roles for the local stack, as API Gateway's IAM authorization does it.

Local only: ``make run`` serves the API through ``devtools.local_gateway``, which
calls this module before a request reaches the Chalice app. Nothing here ships in
the Lambda package (Chalice packages only ``app.py``, ``chalicelib/`` and
``requirements.txt``); behind API Gateway, IAM does this job.

The signature is recomputed with botocore's own SigV4 code (``SigV4Auth``) from the
request as it came off the wire, with the secret of the access key it names,
and compared in constant time. Each local key belongs to one caller role of
``infra/caller_roles.json``, the file Terraform's caller roles are built from,
and a role may call only its routes.
"""
import configparser
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parent.parent
CALLER_ROLES_PATH = ROOT / "infra" / "caller_roles.json"
CREDENTIALS_PATH = ROOT / "local" / "aws-credentials"
OUTPUTS_PATH = ROOT / "local" / "outputs.json"

LOCAL_ACCOUNT = "000000000000"
LOCAL_REGION = "us-east-1"
SERVICE = "execute-api"
APP_NAME = "simple-log-service"
MAX_CLOCK_SKEW_S = 300
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})\s*\Z"
)


class Refusal(Exception):
    """A request refused before it reaches the app: HTTP status, error code, message."""

    def __init__(self, status, code, message):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def to_dict(self):
        return {"Code": self.code, "Message": self.message}


class AuthError(Refusal):
    """A request API Gateway's IAM authorization would refuse: 403."""

    def __init__(self, code, message):
        super().__init__(403, code, message)


@dataclass(frozen=True)
class Role:
    """A caller role: its short name (``log-ingest``), ARN, allowed ``(method, path)`` routes, and the
    local profiles whose keys may assume it (its trust policy's principals, locally)."""

    name: str
    arn: str
    routes: frozenset
    external_id: str | None = None
    trusted_profiles: frozenset = frozenset()

    @property
    def role_name(self):
        return self.arn.rsplit("/", 1)[-1]

    def session_arn(self, session_name):
        return f"arn:aws:sts::{LOCAL_ACCOUNT}:assumed-role/{self.role_name}/{session_name}"

    def allows(self, method, path):
        return (method.upper(), path) in self.routes


@dataclass(frozen=True)
class Caller:
    """Who signed a request: the key, its secret, the role it acts as, and the local profile it is (none for an
    STS session)."""

    access_key: str
    secret_key: str
    role: Role
    user_arn: str
    session_token: str | None = None
    expires_at: float | None = None
    profile: str | None = None


def role_arn(role_name, stage="local"):
    return f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{APP_NAME}-{stage}-{role_name}"


def _output_value(outputs, name):
    value = outputs.get(name)
    return value.get("value") if isinstance(value, dict) else value


def load_roles(caller_roles_path=CALLER_ROLES_PATH, outputs_path=OUTPUTS_PATH):
    """The local caller roles, by short name, from caller_roles.json (+ local external ids)."""
    definitions = json.loads(Path(caller_roles_path).read_text())["roles"]
    outputs = json.loads(Path(outputs_path).read_text()) if Path(outputs_path).exists() else {}
    return {
        name: Role(
            name=name,
            arn=role_arn(name),
            routes=frozenset((method.upper(), path) for method, path in spec["routes"]),
            external_id=_output_value(outputs, spec["external_id_variable"]),
            trusted_profiles=frozenset(spec["local_trusted_profiles"]),
        )
        for name, spec in definitions.items()
    }


def load_static_callers(roles, caller_roles_path=CALLER_ROLES_PATH, credentials_path=CREDENTIALS_PATH):
    """``{access key: Caller}`` for each role's local profile in the shared-credentials file."""
    definitions = json.loads(Path(caller_roles_path).read_text())["roles"]
    parser = configparser.ConfigParser()
    parser.read(credentials_path)
    callers = {}
    for name, spec in definitions.items():
        profile = parser[spec["local_profile"]]
        role = roles[name]
        access_key = profile["aws_access_key_id"].strip()
        callers[access_key] = Caller(access_key, profile["aws_secret_access_key"].strip(), role,
                                     role.session_arn("local"), profile=spec["local_profile"])
    return callers


class CallerRegistry:
    """Every key the local stack accepts: the static local profiles and STS sessions it issued."""

    def __init__(self, roles, static_callers, clock=time.time):
        self.roles = roles
        self._static = dict(static_callers)
        self._sessions = {}
        self._lock = threading.Lock()
        self._clock = clock

    @classmethod
    def from_files(cls, clock=time.time, caller_roles_path=CALLER_ROLES_PATH):
        roles = load_roles(caller_roles_path)
        return cls(roles, load_static_callers(roles, caller_roles_path), clock=clock)

    def lookup(self, access_key):
        caller = self._static.get(access_key)
        if caller is not None:
            return caller
        with self._lock:
            caller = self._sessions.get(access_key)
            if caller is not None and caller.expires_at <= self._clock():
                del self._sessions[access_key]
                caller = None
        return caller

    def role_by_arn(self, arn):
        return next((role for role in self.roles.values() if role.arn == arn), None)

    def issue_session(self, role, session_name, duration_s):
        """Temporary credentials for ``role``, as STS AssumeRole hands them out; expired ones are forgotten."""
        access_key = "ASIALOCAL" + secrets.token_hex(6).upper()[:11]
        caller = Caller(
            access_key=access_key,
            secret_key=secrets.token_urlsafe(30),
            role=role,
            user_arn=role.session_arn(session_name),
            session_token="local-only-session-" + secrets.token_urlsafe(48),
            expires_at=self._clock() + duration_s,
        )
        with self._lock:
            now = self._clock()
            for expired in [key for key, session in self._sessions.items() if session.expires_at <= now]:
                del self._sessions[expired]
            self._sessions[access_key] = caller
        return caller


class _ExactHeadersSigV4(SigV4Auth):
    """botocore's SigV4 over exactly the headers the client said it signed, and a given canonical query."""

    def __init__(self, credentials, service_name, region_name, signed_headers, canonical_query):
        super().__init__(credentials, service_name, region_name)
        self._signed = signed_headers
        self._query = canonical_query

    def headers_to_sign(self, request):
        return self._signed

    def canonical_query_string(self, request):
        return self._query


def _pairs(text):
    """``(name, value)`` of each non-empty ``&`` component, split at its first ``=``, as written."""
    return [part.partition("=")[::2] for part in text.split("&") if part]


def _denoted(canonical):
    """The parameters a canonical query string stands for, as SigV4 reads it (percent-decoded, ``+`` a plus)."""
    return sorted((unquote(name), unquote(value)) for name, value in _pairs(canonical) if name or value)


def canonical_queries(raw_query):
    """The canonical query strings a client may have signed for the raw query it sent.

    SigV4 says decode each name and value, then URI-encode it (botocore's rule for
    parameters). Some signers instead sort the query as sent (botocore with a
    pre-encoded URL), or encode it as sent without decoding, cutting each value at a
    second ``=`` (awscurl). A candidate counts only if it stands for exactly the
    parameters and values the app is given (``parse_qsl``: percent-decoded, ``+`` a
    space): so a query altered in a way some encoding hides (``limit=5=9999`` signed
    by awscurl as ``limit=5``, ``+`` for ``%2B``) matches none.
    """
    given = sorted(parse_qsl(raw_query, keep_blank_values=True))
    pairs = _pairs(raw_query)
    variants = (
        [(quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~")) for k, v in pairs],
        # botocore keeps empty components (``?limit=5&`` signs as ``=&limit=5``).
        [part.partition("=")[::2] for part in raw_query.split("&")] if raw_query else [],
        [(quote(k.strip(), safe="~="), quote(v.split("=")[0].strip(), safe="~=")) for k, v in pairs],
    )
    candidates = []
    for variant in variants:
        text = "&".join(f"{k}={v}" for k, v in sorted(variant))
        if _denoted(text) == given and text not in candidates:
            candidates.append(text)
    return candidates


def _parse_amz_date(text):
    try:
        return datetime.strptime(text, AMZ_DATE_FORMAT).replace(tzinfo=UTC).timestamp()
    except (TypeError, ValueError):
        return None


class SigV4Verifier:
    """Checks a request's SigV4 signature the way API Gateway does, for one service and region."""

    def __init__(self, registry, service=SERVICE, region=LOCAL_REGION, clock=time.time):
        self._registry = registry
        self._service = service
        self._region = region
        self._clock = clock

    def start(self, method, target, headers):
        """Every check that needs no body; returns the ``SignedRequest`` to finish with the body, or ``AuthError``.

        ``target`` is the request target exactly as sent (path and raw query);
        ``headers`` a list of ``(name, value)`` pairs as received.
        """
        by_name = {}
        for name, value in headers:
            by_name.setdefault(name.lower(), []).append(value)
        authorization = (by_name.get("authorization") or [None])[0]
        if not authorization:
            # API Gateway's words, and locally what they mean: the request was not signed.
            raise AuthError("MissingAuthenticationTokenException",
                            "Missing Authentication Token: requests must be signed with AWS SigV4 (service "
                            "execute-api); see README.md, \"Calling the API\"")
        match = _AUTHORIZATION.match(authorization.strip())
        if match is None:
            raise AuthError("IncompleteSignatureException",
                            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                            "parameters (AWS4-HMAC-SHA256)")
        access_key, amz_date = self._credential(match["credential"], by_name)
        caller = self._registry.lookup(access_key)
        if caller is None:
            raise AuthError("UnrecognizedClientException", "The security token included in the request is invalid")
        signed_names = match["signed"].lower().split(";")
        for required in ("host", "x-amz-date"):
            if required not in signed_names:
                raise AuthError("IncompleteSignatureException", f"SignedHeaders must include {required}")
        missing = [name for name in signed_names if name not in by_name]
        if missing:
            raise AuthError("IncompleteSignatureException", f"signed header {missing[0]} is not in the request")
        self._check_session_token(caller, by_name, signed_names)
        return SignedRequest(self, caller, method, target, by_name, signed_names, amz_date, match["signature"])

    def _credential(self, credential, by_name):
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise AuthError("IncompleteSignatureException",
                            "Credential must be <access key>/<yyyymmdd>/<region>/<service>/aws4_request")
        access_key, day, region, service, _ = parts
        amz_date = (by_name.get("x-amz-date") or [None])[0]
        moment = _parse_amz_date(amz_date)
        if moment is None:
            raise AuthError("IncompleteSignatureException",
                            "Authorization requires a valid X-Amz-Date header (yyyymmddThhmmssZ)")
        if day != amz_date[:8]:
            raise AuthError("InvalidSignatureException", f"Credential date {day} does not match X-Amz-Date {amz_date}")
        if region != self._region or service != self._service:
            raise AuthError("InvalidSignatureException",
                            f"Credential should be scoped to region '{self._region}' and service '{self._service}', "
                            f"not '{region}' and '{service}'")
        now = self._clock()
        if abs(now - moment) > MAX_CLOCK_SKEW_S:
            now_text = datetime.fromtimestamp(now, UTC).strftime(AMZ_DATE_FORMAT)
            raise AuthError("InvalidSignatureException",
                            f"Signature expired: {amz_date} is more than 5 minutes away from now ({now_text})")
        return access_key, amz_date

    @staticmethod
    def _check_session_token(caller, by_name, signed_names):
        token = (by_name.get("x-amz-security-token") or [None])[0]
        if caller.session_token is None:
            if token is not None:
                raise AuthError("UnrecognizedClientException",
                                "The security token included in the request is invalid")
            return
        if token is None or not hmac.compare_digest(token.encode(), caller.session_token.encode()):
            raise AuthError("UnrecognizedClientException", "The security token included in the request is invalid")
        if "x-amz-security-token" not in signed_names:
            raise AuthError("IncompleteSignatureException", "X-Amz-Security-Token must be signed")

    def signatures(self, signed, body):
        """The signature of this request under each canonical query a client may have signed."""
        path, _, raw_query = signed.target.partition("?")
        host = signed.headers["host"][0]
        request = AWSRequest(method=signed.method.upper(), url=f"http://{host}{path}", data=body or b"")
        # The request carries no headers of its own: botocore would take a claimed X-Amz-Content-SHA256
        # as the payload hash, so the hash comes from the body itself (a claimed value is still signed).
        headers_to_sign = HTTPHeaders()
        for name in signed.signed_names:
            headers_to_sign[name] = ",".join(signed.headers[name])
        claimed = (signed.headers.get("x-amz-content-sha256") or [None])[0]
        if claimed is not None and claimed != hashlib.sha256(body or b"").hexdigest():
            raise AuthError("InvalidSignatureException", "X-Amz-Content-SHA256 does not match the request body")
        request.context["timestamp"] = signed.amz_date
        caller = signed.caller
        credentials = Credentials(caller.access_key, caller.secret_key, caller.session_token)
        queries = canonical_queries(raw_query)
        if not queries:
            raise AuthError("InvalidSignatureException", "a '+' in the query reads as a space to the API but as a "
                                                         "plus to SigV4: encode a space as %20 and a plus as %2B")
        signatures = []
        for query in queries:
            signer = _ExactHeadersSigV4(credentials, self._service, self._region, headers_to_sign, query)
            canonical = signer.canonical_request(request)
            signatures.append(signer.signature(signer.string_to_sign(request, canonical), request))
        return signatures


@dataclass(frozen=True)
class SignedRequest:
    """A request whose signature passed every check but the one that needs its body."""

    verifier: SigV4Verifier
    caller: Caller
    method: str
    target: str
    headers: dict
    signed_names: list
    amz_date: str
    signature: str

    def verify(self, body):
        """The ``Caller`` who signed the request with this body, or ``AuthError``."""
        candidates = self.verifier.signatures(self, body)
        if not any([hmac.compare_digest(expected, self.signature) for expected in candidates]):
            raise AuthError("InvalidSignatureException",
                            "The request signature we calculated does not match the signature you provided. "
                            "Check your AWS Secret Access Key and signing method.")
        return self.caller


def authorize(caller, method, path):
    """``AuthError`` unless the caller's role may call ``method path``."""
    if not caller.role.allows(method, path):
        raise AuthError(
            "AccessDeniedException",
            f"User: {caller.user_arn} is not authorized to perform: execute-api:Invoke on resource: "
            f"{method.upper()} {path} (role {caller.role.name} allows only "
            + ", ".join(f"{m} {p}" for m, p in sorted(caller.role.routes)) + ")",
        )

