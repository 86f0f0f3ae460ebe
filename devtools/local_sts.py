"""STS ``AssumeRole`` for the local stack's caller roles, granting only what AWS would grant.

The local gateway serves it at ``/_local/sts`` (a path the deployed API does not
have), so ``--role-arn``/``--external-id`` callers such as ``slog smoke`` work against
the local stack unchanged once their STS endpoint points there
(``AWS_ENDPOINT_URL_STS=http://127.0.0.1:8000/_local/sts``).

Who may assume what follows the caller roles' trust as ``infra/iam.tf`` writes it: each
role trusts its own list of principals (``infra/caller_roles.json``: Terraform's
``principals_variable``, locally ``local_trusted_profiles``), and the caller must also give
the role's own external ID. Locally each profile of ``local/aws-credentials`` is a
distinct principal: the ingest key is trusted by the ingest role alone, the read key by
the read role alone, and the full-access key, which stands for the operator who runs
``slog smoke``, by all three. Temporary keys from this STS are no profile, so no role
trusts them (no chaining). Sessions last 900 s
to the roles' maximum of 3,600 s (``max_session_duration``), 3,600 s unless asked, and
are forgotten once expired. Errors are STS's: an XML ``ErrorResponse`` with its codes
and statuses.
"""
import re
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from devtools.local_auth import AuthError, Refusal

STS_PATH = "/_local/sts"
MIN_SESSION_S = 900
MAX_SESSION_S = 3600  # max_session_duration of the caller roles in infra/iam.tf
DEFAULT_SESSION_S = 3600
XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}\Z")
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}\Z")
# How STS names the signature refusals the verifier raises (API Gateway's names), and their statuses.
_SIGNATURE_ERRORS = {
    "MissingAuthenticationTokenException": ("MissingAuthenticationToken", 403),
    "IncompleteSignatureException": ("IncompleteSignature", 400),
    "UnrecognizedClientException": ("InvalidClientTokenId", 403),
    "InvalidSignatureException": ("SignatureDoesNotMatch", 403),
}


def sts_refusal(error):
    """A signature refusal (named as API Gateway names it) as STS words it."""
    code, status = _SIGNATURE_ERRORS.get(error.code, (error.code, error.status))
    return Refusal(status, code, error.message)


def error_answer(refusal):
    """``(status, XML ErrorResponse)`` as STS answers a refused request."""
    return refusal.status, (f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type>'
                            f"<Code>{escape(refusal.code)}</Code><Message>{escape(refusal.message)}</Message>"
                            f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")


def _validation(message):
    return Refusal(400, "ValidationError", message)


class LocalSts:
    """Answers ``AssumeRole`` requests signed (service ``sts``) by a key the registry knows."""

    def __init__(self, registry, verifier):
        self._registry = registry
        self._verifier = verifier

    def start(self, method, target, headers):
        """The signature checks that need no body; a ``Refusal`` in STS's words when they fail."""
        try:
            return self._verifier.start(method, target, headers)
        except AuthError as error:
            raise sts_refusal(error) from None

    def assume_role(self, signed, body):
        """``(status, XML)``: the session ``AssumeRole`` grants, or STS's error."""
        try:
            caller = signed.verify(body)
            session = self._grant(caller, self._parameters(signed.target, body))
        except AuthError as error:
            return error_answer(sts_refusal(error))
        except Refusal as refusal:
            return error_answer(refusal)
        expiration = datetime.fromtimestamp(session.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        session_name = session.user_arn.rsplit("/", 1)[-1]
        return 200, (
            f'<AssumeRoleResponse xmlns="{XMLNS}"><AssumeRoleResult>'
            f"<Credentials><AccessKeyId>{session.access_key}</AccessKeyId>"
            f"<SecretAccessKey>{escape(session.secret_key)}</SecretAccessKey>"
            f"<SessionToken>{escape(session.session_token)}</SessionToken>"
            f"<Expiration>{expiration}</Expiration></Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>AROALOCAL:{escape(session_name)}</AssumedRoleId>"
            f"<Arn>{escape(session.user_arn)}</Arn></AssumedRoleUser>"
            f"</AssumeRoleResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</AssumeRoleResponse>"
        )

    @staticmethod
    def _parameters(target, body):
        """Query and form parameters, as STS reads either."""
        query = target.partition("?")[2]
        form = (body or b"").decode("utf-8", "replace")
        return dict(parse_qsl(query, keep_blank_values=True)) | dict(parse_qsl(form, keep_blank_values=True))

    def _grant(self, caller, params):
        if params.get("Action") != "AssumeRole":
            raise Refusal(400, "InvalidAction", f"Could not find operation {params.get('Action')} for version "
                                                 f"{params.get('Version')}; the local STS answers only AssumeRole")
        role_arn = params.get("RoleArn")
        session_name = params.get("RoleSessionName")
        if not role_arn:
            raise _validation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: "
                              "Member must not be null")
        if session_name is None or not _SESSION_NAME.match(session_name):
            raise _validation(f"1 validation error detected: Value {session_name!r} at 'roleSessionName' failed to "
                              "satisfy constraint: Member must be 2 to 64 characters of [\\w+=,.@-]")
        external_id = params.get("ExternalId")
        if external_id is not None and not _EXTERNAL_ID.match(external_id):
            raise _validation("1 validation error detected: Value at 'externalId' failed to satisfy constraint: "
                              "Member must be 2 to 1224 characters of [\\w+=,.@:/-]")
        duration = self._duration(params.get("DurationSeconds"))
        role = self._registry.role_by_arn(role_arn)
        denied = Refusal(403, "AccessDenied", f"User: {caller.user_arn} is not authorized to perform: "
                                               f"sts:AssumeRole on resource: {role_arn}")
        if role is None or caller.profile not in role.trusted_profiles:
            raise denied
        if role.external_id is None or external_id != role.external_id:
            raise denied
        if duration > MAX_SESSION_S:
            raise _validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        return self._registry.issue_session(role, session_name, duration_s=duration)

    @staticmethod
    def _duration(text):
        if text is None:
            return DEFAULT_SESSION_S
        if not re.fullmatch(r"\d{1,9}", text):
            raise _validation(f"1 validation error detected: Value {text!r} at 'durationSeconds' failed to satisfy "
                              "constraint: Member must be a whole number of seconds")
        if int(text) < MIN_SESSION_S:
            raise _validation(f"1 validation error detected: Value '{text}' at 'durationSeconds' failed to satisfy "
                              f"constraint: Member must have value greater than or equal to {MIN_SESSION_S}")
        return int(text)
