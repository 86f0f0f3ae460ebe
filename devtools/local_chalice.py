"""The one adapter to Chalice's local server: ``chalice.local.LocalGateway.handle_request``.

``LocalGateway`` is the API Gateway stand-in behind ``chalice local``: it turns a
request into the Lambda proxy event the app expects and the app's answer into a
response. The local gateway (``devtools.local_gateway``) does everything in front of
it (SigV4, roles, STS) and calls it through ``LocalApp.handle``, which adds the
caller's identity to the event, as API Gateway's IAM authorization does. No other
module imports ``chalice.local``; ``tests/test_local_chalice.py`` fails loudly if a
Chalice upgrade changes what this relies on.
"""
import base64
import threading

from chalice.local import LocalGateway, LocalGatewayException


class _AppWithIdentity:
    """The app as ``LocalGateway`` sees it: the same routes, called with the caller in the event's identity."""

    def __init__(self, app, identity):
        self._app = app
        self._identity = identity

    def __getattr__(self, name):
        return getattr(self._app, name)

    def __call__(self, event, context):
        event["requestContext"]["identity"].update(self._identity())
        return self._app(event, context)


class LocalApp:
    """A Chalice app served as ``chalice local`` serves it, one request at a time.

    A Chalice app keeps the request it is answering on itself (``app.current_request``),
    so requests go through it one after another, as through one Lambda container.
    """

    def __init__(self, app, config):
        self._lock = threading.Lock()
        self._identity = {}
        self._gateway = LocalGateway(_AppWithIdentity(app, lambda: self._identity), config)

    def handle(self, method, target, headers, body, identity=None):
        """The app's answer: ``(status, [(header, value)], body bytes)``.

        ``target`` is the path and raw query as sent, ``headers`` ``(name, value)`` pairs,
        ``body`` the raw bytes (passed through unchanged), ``identity`` what to add to the
        event's ``requestContext.identity`` (``userArn``, ``accessKey``, ...).
        """
        with self._lock:
            self._identity = dict(identity or {})
            try:
                # Header names in lower case, as API Gateway hands them to a function.
                response = self._gateway.handle_request(method=method, path=target, body=body or None,
                                                        headers={name.lower(): value for name, value in headers})
            except LocalGatewayException as error:  # chalice's own refusals (e.g. a path no route matches)
                return error.CODE, list(error.headers.items()), error.body
            finally:
                self._identity = {}
        headers = list(response["headers"].items())
        headers += [(name, value) for name, values in response.get("multiValueHeaders", {}).items()
                    for value in values]
        content = response.get("body")
        if response.get("isBase64Encoded"):
            content = base64.b64decode(content)
        elif isinstance(content, str):
            content = content.encode("utf-8")
        return response["statusCode"], headers, content or b""
