"""The local stack's DynamoDB emulator: moto's server, every call atomic, answering only loopback callers.

moto serves concurrent calls on threads without a lock, so two conditional puts of one
key could both succeed; the service's event_id claims rely on DynamoDB refusing the
second (``devtools.moto_atomic``). ``make run`` starts this instead of ``moto_server``;
it takes the same ``-H HOST -p PORT`` options.

moto's own server answers any web page: it reflects every ``Origin`` in CORS headers and
accepts any ``Host``, so a page open in the engineer's browser could read or delete local
logs, directly or by DNS rebinding (a name of its own that resolves to 127.0.0.1).
``LoopbackOnly`` stands in front of it: a request whose ``Host`` is not a loopback name
(with this port or none) or that carries an ``Origin`` other than the emulator's own is
refused, and no response carries a CORS header. botocore sends ``Host: 127.0.0.1:<port>``
and never an ``Origin``.
"""
import argparse
import json
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

from devtools.moto_atomic import make_atomic

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_REFUSAL = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
                       "message": "the local DynamoDB emulator answers only loopback callers, never a web page"})


class LoopbackOnly:
    """WSGI middleware: refuses requests not addressed to a loopback name or sent by a web page; strips CORS."""

    def __init__(self, app, port):
        self._app = app
        self._hosts = {name for loopback in LOOPBACK_NAMES for name in (loopback, f"{loopback}:{port}")}
        self._origins = {f"http://{loopback}:{port}" for loopback in LOOPBACK_NAMES}

    def __call__(self, environ, start_response):
        host = environ.get("HTTP_HOST", "").lower()
        origin = environ.get("HTTP_ORIGIN")
        if host not in self._hosts or (origin is not None and origin.lower() not in self._origins):
            body = _REFUSAL.encode()
            start_response("403 Forbidden", [("Content-Type", "application/x-amz-json-1.0"),
                                             ("Content-Length", str(len(body)))])
            return [body]

        def without_cors(status, headers, exc_info=None):
            kept = [(name, value) for name, value in headers if not name.lower().startswith("access-control-")]
            return start_response(status, kept, exc_info)

        return self._app(environ, without_cors)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("-p", "--port", type=int, default=8001, help="port to bind")
    args = parser.parse_args(argv)
    make_atomic()
    app = LoopbackOnly(DomainDispatcherApplication(create_backend_app), args.port)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    sys.exit(main())
