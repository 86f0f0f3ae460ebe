"""SigV4 for ``requests`` (and what is built on it: locust's HttpUser, schemathesis)."""
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

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
