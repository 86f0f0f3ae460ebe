"""The local API Gateway: ``chalice local``'s server with IAM (SigV4) authorization in front.

``make run`` serves the app through this module instead of ``chalice local``.
Every request is checked before the app sees it, as API Gateway's
``AWS_IAM`` authorization does: the signature (``devtools.local_auth``), then
the caller role's routes. The caller's role session ARN becomes the request
identity's ``userArn``, so ``ingested_by`` is filled as it is when deployed.

It also answers STS ``AssumeRole`` for the local roles at ``/_local/sts`` (a
path the deployed API does not have), so ``--role-arn``/``--external-id``
callers such as ``slog smoke`` work against the local stack unchanged: they
sign with a local profile, get temporary keys for the role, and use them.

Run directly: ``python -m devtools.local_gateway --stage local --port 8000 [--no-iam]``.
"""
import argparse
import contextlib
import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    LocalGateway,
    RouteMatcher,
)

from devtools.local_auth import LOCAL_ACCOUNT, LOCAL_REGION, AuthError, CallerRegistry, SigV4Verifier, authorize

ROOT = Path(__file__).resolve().parent.parent
STS_PATH = "/_local/sts"
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}\Z")


class LocalIam:
    """What the local gateway knows about callers: keys, roles, and whether to enforce them."""

    def __init__(self, registry, enforce=True, region=LOCAL_REGION, clock=time.time):
        self.registry = registry
        self.enforce = enforce
        self.api = SigV4Verifier(registry, service="execute-api", region=region, clock=clock)
        self.sts = SigV4Verifier(registry, service="sts", region=region, clock=clock)


class _IdentityGateway(LocalGateway):
    """chalice's LocalGateway, with the authenticated caller in the event's identity."""

    caller = None

    def _generate_lambda_event(self, method, path, headers, body):
        event = super()._generate_lambda_event(method, path, headers, body)
        if self.caller is not None:
            event["requestContext"]["identity"].update({
                "userArn": self.caller.user_arn,
                "accessKey": self.caller.access_key,
                "accountId": LOCAL_ACCOUNT,
                "caller": self.caller.user_arn.split("/", 1)[-1],
                "user": self.caller.user_arn.split("/", 1)[-1],
            })
        return event


class SigV4RequestHandler(ChaliceRequestHandler):
    """Authenticates and authorizes each request, then hands it to chalice's gateway."""

    def __init__(self, request, client_address, server, app_object, config, iam):
        self.iam = iam
        self._routes = RouteMatcher(list(app_object.routes))
        self._payload = None
        self.local_gateway = _IdentityGateway(app_object, config)
        # BaseHTTPRequestHandler handles the request inside __init__: set everything up first.
        super(ChaliceRequestHandler, self).__init__(request, client_address, server)

    def _parse_payload(self):
        return self._payload

    def _generic_handle(self):
        self._payload = super()._parse_payload()
        body = self._payload[1]
        path = self.path.split("?", 1)[0]
        try:
            if path.rstrip("/") == STS_PATH:
                self._send(200, None, self._assume_role(body), content_type="text/xml")
                return
            self.local_gateway.caller = self._authenticate(path, body) if self.iam.enforce else None
        except AuthError as error:
            if path.rstrip("/") == STS_PATH:
                self._send(error.status, error.code, _sts_error(error), content_type="text/xml")
            else:
                self._send(error.status, error.code, json.dumps(error.to_dict()))
            return
        super()._generic_handle()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def __getattr__(self, name):
        # Any other method (TRACE, ...) is authorized like the rest (a 403), never http.server's 501.
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)

    def _authenticate(self, path, body):
        caller = self.iam.api.verify(self.command, self.path, self.headers.items(), body)
        try:
            resource = self._routes.match_route(path).route
        except ValueError:
            resource = path
        authorize(caller, self.command, resource)
        return caller

    def _assume_role(self, body):
        caller = self.iam.sts.verify(self.command, self.path, self.headers.items(), body)
        form = {name: values[0] for name, values in parse_qs((body or b"").decode("utf-8", "replace")).items()}
        if form.get("Action") != "AssumeRole":
            raise AuthError("InvalidAction", "the local STS answers only AssumeRole")
        role = self.iam.registry.role_by_arn(form.get("RoleArn", ""))
        if role is None:
            raise AuthError("AccessDenied", f"{form.get('RoleArn')!r} is not a role of the local stack")
        if role.external_id is None or form.get("ExternalId") != role.external_id:
            raise AuthError("AccessDenied", f"User: {caller.user_arn} is not authorized to perform: sts:AssumeRole "
                                            f"on resource: {role.arn} (wrong or missing ExternalId)")
        session_name = form.get("RoleSessionName", "")
        if not _SESSION_NAME.match(session_name):
            raise AuthError("ValidationError", "RoleSessionName must be 2-64 characters of [\\w+=,.@-]")
        duration = int(form.get("DurationSeconds", "3600")) if form.get("DurationSeconds", "").isdigit() else 3600
        session = self.iam.registry.issue_session(role, session_name, duration_s=min(max(duration, 900), 43200))
        expiration = datetime.fromtimestamp(session.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
            f"<Credentials><AccessKeyId>{session.access_key}</AccessKeyId>"
            f"<SecretAccessKey>{escape(session.secret_key)}</SecretAccessKey>"
            f"<SessionToken>{escape(session.session_token)}</SessionToken>"
            f"<Expiration>{expiration}</Expiration></Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>AROALOCAL:{escape(session_name)}</AssumedRoleId>"
            f"<Arn>{escape(session.user_arn)}</Arn></AssumedRoleUser>"
            f"</AssumeRoleResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</AssumeRoleResponse>"
        )

    def _send(self, status, error_type, body, content_type="application/json"):
        headers = {"Content-Type": content_type, "x-amzn-RequestId": str(uuid.uuid4())}
        if error_type:
            headers["x-amzn-ErrorType"] = error_type
        self._send_http_response(status, headers, body)


def _sts_error(error):
    return (f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(error.code)}</Code>"
            f"<Message>{escape(error.message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")


def create_server(app_obj, config, host, port, iam):
    """A ``LocalDevServer`` (threaded, like ``chalice local``) whose requests go through ``iam``."""
    if not isinstance(app_obj, LocalChalice):
        # What `chalice local` does: the current request becomes thread-local (the server is threaded).
        CustomLocalChalice.__bases__ = (LocalChalice, app_obj.__class__)
        app_obj.__class__ = CustomLocalChalice
    return LocalDevServer(app_obj, config, host, port,
                          handler_cls=lambda *args, **kwargs: SigV4RequestHandler(*args, iam=iam, **kwargs))


def main(argv=None):
    parser = argparse.ArgumentParser(description="chalice local with SigV4 (IAM) authorization in front")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    parser.add_argument("--no-iam", dest="iam", action="store_false",
                        help="admit unsigned requests (no caller identity), as plain `chalice local` does")
    args = parser.parse_args(argv)

    from chalice.cli.factory import CLIFactory

    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    config = CLIFactory(project_dir=str(ROOT), environ=os.environ).create_config_obj(chalice_stage_name=args.stage)
    iam = LocalIam(CallerRegistry.from_files(), enforce=args.iam)
    server = create_server(config.chalice_app, config, args.host, args.port, iam)
    mode = "SigV4 (IAM) enforced" if args.iam else "IAM NOT enforced (--no-iam)"
    print(f"API on http://{args.host}:{args.port}, stage {args.stage}, {mode}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
