"""``slog ui``: the logs in a browser, served from 127.0.0.1 by this process, which signs every API call itself.

The page never sees a credential: it asks ``/api/recent``, and this server sends the same query to
``GET /logs/recent`` signed like every other ``slog`` command. Only the browser of the user who started it may
use it: the address it prints carries a random token, traded for a cookie (HttpOnly, SameSite=Strict) and a
redirect that drops it from the address; anything else is refused. So is a request whose ``Host`` is not this
server's own loopback address (a page on another domain resolved to 127.0.0.1: DNS rebinding), or whose
``Origin`` is another site's; no CORS header is ever sent, and the page runs under a strict
Content-Security-Policy.
"""
import hmac
import http.server
import importlib.resources
import json
import re
import secrets
import webbrowser
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, urlencode, urlsplit

from slog.errors import SlogError

HOST = "127.0.0.1"
# The contract's parameters of GET /logs/recent: nothing else is forwarded; attr is its one repeatable one.
RECENT_PARAMS = ("limit", "service_name", "level", "min_level", "log_type", "since", "until", "hours", "cursor", "q",
                 "trace_id", "attr")
REPEATABLE = ("attr",)
# The contract bounds an answer's body to 5,000,000 bytes: an answer past that is not the API's, and not passed on.
MAX_ANSWER_BYTES = 5_000_000
_RETRY_AFTER = re.compile(r"[0-9A-Za-z ,:]{1,64}\Z")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}
REOPEN = "open the address that slog ui printed (with its token) in this browser"


class Refused(Exception):
    """A request this server will not serve: ``status`` and a reason in words."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status


def forwarded_params(query):
    """The parameters of ``query`` to send to ``GET /logs/recent``: the contract's only, each once but ``attr``."""
    params = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in RECENT_PARAMS:
            raise Refused(400, f"{name}: not a parameter of GET /logs/recent")
        if name in REPEATABLE:
            params.setdefault(name, []).append(value)
        elif name in params:
            raise Refused(400, f"{name}: given more than once")
        else:
            params[name] = value
    return params


class UiServer(http.server.ThreadingHTTPServer):
    """The page, its files and ``/api/recent`` on ``127.0.0.1:port`` (a free port when 0), for one token."""

    daemon_threads = True

    def __init__(self, client, port=0):
        self.client = client
        self.token = secrets.token_urlsafe(32)
        self.files = {path: (_static(name), kind) for path, (name, kind) in STATIC.items()}
        try:
            super().__init__((HOST, port), _Handler)
        except OSError as error:
            raise SlogError(f"cannot listen on {HOST}:{port}: {error.strerror}") from None
        self.port = self.server_address[1]
        # Cookies are per host, not per port: each server's has a name of its own, so two of them coexist.
        self.cookie = f"slog-ui-{self.port}"
        self.hosts = (f"{HOST}:{self.port}", f"localhost:{self.port}")

    @property
    def address(self):
        return f"http://{HOST}:{self.port}/?token={self.token}"


def _static(name):
    return (importlib.resources.files("slog") / "ui_static" / name).read_bytes()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: UiServer
    protocol_version = "HTTP/1.1"
    server_version = "slog-ui"
    sys_version = ""

    def do_GET(self):  # noqa: N802 - http.server's name
        self._handle(self._get)

    def _refuse_method(self):
        raise Refused(405, f"{self.command} is not served: slog ui only reads")

    def _refuse(self):
        self.close_connection = True  # its body, if any, is never read
        self._handle(self._refuse_method)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _refuse  # noqa: N815

    def _handle(self, respond):
        try:
            self._check_origin()
            respond()
        except Refused as refused:
            self._send(refused.status, f"{refused.status} {refused}\n".encode(), "text/plain; charset=utf-8")

    def _check_origin(self):
        """The request is for this server by its own name, from its own page or from no page at all."""
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or hosts[0] not in self.server.hosts:
            raise Refused(403, f"Host must be one of {', '.join(self.server.hosts)}")
        origins = self.headers.get_all("Origin") or []
        if origins and origins != [f"http://{hosts[0]}"]:
            raise Refused(403, "a request from another site's page is refused")

    def _get(self):
        parts = urlsplit(self.path)
        if parts.path == "/" and "token" in dict(parse_qsl(parts.query, keep_blank_values=True)):
            self._trade_token(parts.query)
            return
        self._check_session()
        if parts.path == "/api/recent":
            self._proxy(parts.query)
        elif parts.path in self.server.files:
            body, kind = self.server.files[parts.path]
            self._send(200, body, kind)
        else:
            raise Refused(404, f"{parts.path}: no such page")

    def _trade_token(self, query):
        pairs = parse_qsl(query, keep_blank_values=True)
        tokens = [value for name, value in pairs if name == "token"]
        if len(tokens) != 1 or not hmac.compare_digest(tokens[0].encode(), self.server.token.encode()):
            raise Refused(403, f"wrong token: {REOPEN}")
        rest = urlencode([(name, value) for name, value in pairs if name != "token"])
        self._send(303, b"", "text/plain; charset=utf-8", {
            "Location": "/" + (f"?{rest}" if rest else ""),
            "Set-Cookie": f"{self.server.cookie}={self.server.token}; HttpOnly; SameSite=Strict; Path=/"})

    def _check_session(self):
        try:
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
        except CookieError:
            cookie = {}
        value = cookie[self.server.cookie].value if self.server.cookie in cookie else ""
        if not hmac.compare_digest(value.encode(), self.server.token.encode()):
            raise Refused(403, f"no session: {REOPEN}")

    def _proxy(self, query):
        params = forwarded_params(query)
        try:
            response, _ = self.server.client.request("GET", "/logs/recent", params=params)
        except SlogError as error:
            self._send_json_error(502, f"no answer from the API: {error}")
            return
        if len(response.content) > MAX_ANSWER_BYTES:
            self._send_json_error(502, f"the API's answer ({len(response.content):,} bytes) is larger than "
                                       f"the contract allows ({MAX_ANSWER_BYTES:,})")
            return
        retry_after = response.headers.get("Retry-After", "")
        headers = {"Retry-After": retry_after} if _RETRY_AFTER.match(retry_after) else {}
        # Always JSON to the page, whatever the API's answer claims to be: it is never rendered as a document.
        self._send(response.status_code, response.content, "application/json", headers)

    def _send_json_error(self, status, message):
        """An error of slog ui's own, in the API's error shape, so that the page reads every error alike."""
        self._send(status, json.dumps({"Code": "BadGateway", "Message": message}).encode(), "application/json")

    def _send(self, status, body, content_type, headers=None):
        self.send_response(status)
        for name, value in {**SECURITY_HEADERS, "Content-Type": content_type, "Content-Length": str(len(body)),
                            **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        """Silent: a request line may carry the token, and the terminal is the user's."""


def serve(client, port=0, open_browser=True, out=None, opener=webbrowser.open):
    """Serve the page until Ctrl-C; prints (and opens) its address first. Returns 0 once stopped."""
    server = UiServer(client, port)
    try:
        out.file.write(f"slog ui: {server.address}\n(open it in your browser; Ctrl-C stops slog ui)\n")
        out.file.flush()
        if open_browser:
            opener(server.address)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    out.file.write("slog ui: stopped\n")
    out.file.flush()
    return 0
