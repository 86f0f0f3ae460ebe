"""SigV4 for ``requests`` (and what is built on it: locust's HttpUser, schemathesis)."""
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from slog.errors import ApiError

SIGNED_OUT = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-SHA256")


class SigV4RequestsAuth(requests.auth.AuthBase):
    """Signs each prepared request exactly as it will be sent (URL, query and body bytes).

    ``credentials`` has ``.get()`` returning botocore credentials (a ``slog.config`` source),
    so assumed-role keys are renewed as they near expiry.
    """

    def __init__(self, credentials, region, service="execute-api"):
        self._credentials = credentials
        self._region = region
        self._service = service

    def __call__(self, request):
        body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
        headers = {name: value for name, value in request.headers.items()
                   if name not in SIGNED_OUT and name.lower() in ("content-type",)}
        signed = AWSRequest(method=request.method, url=request.url, data=body or b"", headers=headers)
        SigV4Auth(self._credentials.get(), self._service, self._region).add_auth(signed)
        for name in SIGNED_OUT:
            request.headers.pop(name, None)
        request.headers.update({name: value for name, value in signed.headers.items() if name in SIGNED_OUT})
        return request


def refuse_redirect(response, **_):
    """A ``requests`` response hook: a redirect is an error naming its ``Location``, never followed.

    Following one would hand the body and the session token (``X-Amz-Security-Token``)
    to whatever address the answer names; and the OTLP exporter, which asks ``requests``
    not to follow, would count the unfollowed 3xx as a successful export.
    """
    if response.is_redirect:
        response.close()
        raise ApiError(response.status_code, "Redirect",
                       f"redirected to {response.headers['Location']}, which slog does not follow",
                       response.request.method, response.url)
    return response


def signed_session(target):
    """A ``requests.Session`` that signs every request for ``target`` (renewing assumed-role keys)
    and follows no redirect."""
    session = requests.Session()
    session.auth = SigV4RequestsAuth(target.credentials, target.region)
    session.hooks["response"].append(refuse_redirect)
    return session
