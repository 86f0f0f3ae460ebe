"""The local API Gateway: the app behind IAM (SigV4) authorization, as API Gateway's ``AWS_IAM`` serves it.

``make run`` serves the app through this module instead of ``chalice local``. Each
request is checked before the app sees it, and nothing is read that a check can
refuse first:

1. ``Content-Length``: not a number of bytes is a 400; over the largest body any
   route of the API accepts (``MAX_BODY_BYTES``: ``POST /v1/logs``'s 4 MiB) a 413,
   from the header alone, as API Gateway refuses bodies over its 10 MB; a route
   with a smaller limit (``POST /logs``, 1 MiB) is refused by the app itself.
2. the signature's headers (``devtools.local_auth``): unsigned, malformed, an
   unknown key, a wrong session token or an ``X-Amz-Date`` more than 5 minutes off
   is a 403, still before the body is read;
3. the body is read as raw bytes and the signature checked over it and the query;
4. the caller role's routes (``infra/caller_roles.json``, whatever routes it lists);
5. the app answers through ``devtools.local_chalice`` (Chalice's ``LocalGateway``),
   with the caller's role session ARN as the identity's ``userArn``, so
   ``ingested_by`` is filled as it is when deployed;
6. an answer Lambda could not return (its payload, the proxy result as JSON, over
   ``LAMBDA_PAYLOAD_BYTES``) is a 502 and a log line, as API Gateway answers when
   the function fails, so a test catches it here rather than in AWS.

Refusals are ``{"Code", "Message"}`` with ``x-amzn-ErrorType``. STS ``AssumeRole`` for
the local roles is answered at ``/_local/sts`` (``devtools.local_sts``).

Run directly: ``python -m devtools.local_gateway --stage local --port 8000 [--no-iam]``.
"""
import argparse
import base64
import contextlib
import json
import logging
import os
import re
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from chalicelib import events, otlp
from chalicelib.answer import LAMBDA_PAYLOAD_BYTES
from devtools.local_auth import LOCAL_ACCOUNT, LOCAL_REGION, CallerRegistry, Refusal, SigV4Verifier, authorize
from devtools.local_chalice import LocalApp
from devtools.local_sts import STS_PATH, LocalSts, error_answer

ROOT = Path(__file__).resolve().parent.parent
MAX_BODY_BYTES = max(events.MAX_BODY_BYTES, otlp.MAX_BODY_BYTES)
logger = logging.getLogger(__name__)
_LENGTH = re.compile(r"[0-9]{1,18}\Z")


def lambda_payload_bytes(status, headers, body):
    """The size of the answer as Lambda returns it: the proxy result as JSON, written as a python3.11
    runtime writes it (every non-ASCII character escaped), a body that is not text in base64."""
    try:
        text, binary = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, binary = base64.b64encode(body).decode("ascii"), True
    result = {"statusCode": status, "headers": dict(headers), "multiValueHeaders": {}, "body": text,
              "isBase64Encoded": binary}
    return len(json.dumps(result))


class LocalIam:
    """What the local gateway knows about callers: keys, roles, STS, and whether to enforce them."""

    def __init__(self, registry, enforce=True, region=LOCAL_REGION, clock=time.time):
        self.enforce = enforce
        self.api = SigV4Verifier(registry, service="execute-api", region=region, clock=clock)
        self.sts = LocalSts(registry, SigV4Verifier(registry, service="sts", region=region, clock=clock))


def identity(caller):
    """``requestContext.identity`` as API Gateway fills it for an IAM-authorized caller."""
    name = caller.user_arn.split("/", 1)[-1]
    return {"userArn": caller.user_arn, "accessKey": caller.access_key, "accountId": LOCAL_ACCOUNT,
            "caller": name, "user": name}


def resource(path):
    """The route a request path names: API Gateway ignores a trailing slash."""
    return path.rstrip("/") or "/"


class GatewayServer(ThreadingHTTPServer):
    """A threaded HTTP server on which every request goes through ``GatewayHandler``."""

    daemon_threads = True

    def __init__(self, address, app, iam, max_body=MAX_BODY_BYTES):
        self.app = app
        self.iam = iam
        self.max_body = max_body
        super().__init__(address, GatewayHandler)


class GatewayHandler(BaseHTTPRequestHandler):
    """The requests of one connection: checked in the module's order, answered by the app or STS."""

    protocol_version = "HTTP/1.1"

    def __getattr__(self, name):
        # Every method (GET, POST, TRACE, ...) is checked like the rest, never http.server's 501.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _handle(self):
        try:
            length = self._length()
            if resource(self.path.partition("?")[0]) == STS_PATH:
                self._assume_role(length)
            else:
                self._call_api(length)
        except Refusal as refusal:
            self._refuse(refusal)
        except ConnectionAbortedError:
            self.close_connection = True  # the client left before sending its whole body: no one to answer

    def _length(self):
        if self.headers.get("Transfer-Encoding"):
            raise Refusal(411, "LengthRequired", "the local API takes bodies with a Content-Length, not chunked")
        lengths = set(self.headers.get_all("Content-Length") or ["0"])
        text = lengths.pop().strip() if len(lengths) == 1 else None
        if text is None or not _LENGTH.match(text):
            raise Refusal(400, "BadRequestError", "Content-Length: must be one whole number of bytes")
        if int(text) > self.server.max_body:
            raise Refusal(413, "PayloadTooLargeError",
                          f"body: {int(text)} bytes is over the limit of {self.server.max_body} bytes")
        return int(text)

    def _read(self, length):
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            self.close_connection = True
            raise ConnectionAbortedError("the client closed the connection before sending its body")
        return body

    def _call_api(self, length):
        method, target, headers = self.command, self.path, list(self.headers.items())
        iam = self.server.iam
        who = None
        signed = iam.api.start(method, target, headers) if iam.enforce else None
        body = self._read(length)
        if signed is not None:
            caller = signed.verify(body)
            authorize(caller, method, resource(target.partition("?")[0]))
            who = identity(caller)
        status, answer_headers, answer = self.server.app.handle(method, target, headers, body, who)
        size = lambda_payload_bytes(status, answer_headers, answer)
        if size > LAMBDA_PAYLOAD_BYTES:
            logger.error("%s %s: the function's answer is %d bytes as Lambda returns it, over Lambda's %d: "
                         "API Gateway would answer 502", method, target.partition("?")[0], size, LAMBDA_PAYLOAD_BYTES)
            raise Refusal(502, "BadGatewayError", "the function's answer is larger than Lambda can return")
        self._send(status, answer_headers, answer)

    def _assume_role(self, length):
        sts = self.server.iam.sts
        try:
            signed = sts.start(self.command, self.path, list(self.headers.items()))
        except Refusal as refusal:
            status, answer = error_answer(refusal)
        else:
            status, answer = sts.assume_role(signed, self._read(length))
        self._send(status, [("Content-Type", "text/xml")], answer.encode("utf-8"))

    def _refuse(self, refusal):
        # The body may be unread: this connection serves no further request.
        self.close_connection = True
        self._send(refusal.status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", refusal.code)],
                   json.dumps(refusal.to_dict()).encode("utf-8"))

    def _send(self, status, headers, body):
        self.send_response(status)
        names = {name.lower() for name, _ in headers}
        if "content-type" not in names:
            headers = [*headers, ("Content-Type", "application/json")]
        if "x-amzn-requestid" not in names:
            headers = [*headers, ("x-amzn-RequestId", str(uuid.uuid4()))]
        for name, value in headers:
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def create_server(app_obj, config, host, port, iam):
    """A threaded server on ``host:port`` answering with the Chalice app ``app_obj`` through ``iam``."""
    return GatewayServer((host, port), LocalApp(app_obj, config), iam)


def main(argv=None):
    parser = argparse.ArgumentParser(description="the app behind a local API Gateway with SigV4 (IAM) authorization")
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
