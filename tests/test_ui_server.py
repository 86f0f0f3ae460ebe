"""slog ui's server without a browser: who may use it, what it forwards, and what every answer carries.

The server runs on a free loopback port with a stub API behind it (``responses``, which sees only the signed
requests it makes); the tests talk to it with ``http.client``, so they set any header a browser or an attacker
could send.
"""
import http.client
import io
import json
import re
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from rich.console import Console
from slog import ui
from slog.client import LogClient
from slog.config import build_target

from tests.conftest import ROOT

STUB = "http://127.0.0.1:9/"
RECENT = STUB + "logs/recent"
PAGE = {"count": 1, "logs": [{"log_id": "a", "message": "<b>x</b>"}], "next_cursor": None,
        "scanned": {"events": 3, "bytes": 300}}
STATIC = Path(ui.__file__).parent / "ui_static"


@pytest.fixture
def api(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(ROOT / "local" / "aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def server(api):
    running = ui.UiServer(LogClient(build_target(endpoint=STUB)))
    thread = threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


def get(server, path, headers=None, method="GET", host=None):
    """``(status, headers, body)``; the ``Host`` of ``127.0.0.1:<port>`` unless ``host`` says otherwise."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest(method, path, skip_host=True)
    if host is not False:
        connection.putheader("Host", host or f"127.0.0.1:{server.port}")
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, response.headers, body


def session(server):
    return {"Cookie": f"{server.cookie}={server.token}"}


def test_the_token_is_traded_for_a_strict_http_only_cookie_and_dropped_from_the_address(server):
    status, headers, _ = get(server, f"/?service_name=checkout&token={server.token}&q=a+b")

    assert status == 303
    assert headers["Location"] == "/?service_name=checkout&q=a+b"
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"slog-ui-{server.port}={server.token};")
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= {part.strip() for part in cookie.split(";")}
    assert get(server, "/", headers=session(server))[0] == 200


def test_the_printed_address_names_loopback_and_a_long_random_token():
    first, second = (ui.UiServer(client=None) for _ in range(2))
    try:
        assert re.fullmatch(rf"http://127\.0\.0\.1:{first.port}/\?token=[A-Za-z0-9_-]{{43}}", first.address)
        assert first.token != second.token and first.cookie != second.cookie
        assert first.server_address[0] == "127.0.0.1"
    finally:
        first.server_close()
        second.server_close()


@pytest.mark.parametrize("path", ["/", "/app.js", "/style.css", "/api/recent?limit=1", "/nowhere"])
@pytest.mark.parametrize("cookie", [None, "slog-ui-1=x", "wrong"])
def test_every_request_without_the_session_cookie_is_refused(server, api, path, cookie):
    headers = {} if cookie is None else {"Cookie": cookie.replace("wrong", f"{server.cookie}=not-the-token")}

    status, _, body = get(server, path, headers=headers)

    assert status == 403 and b"open the address that slog ui printed" in body
    assert not api.calls


@pytest.mark.parametrize("query", ["token=wrong", "token=", "token={token}&token={token}", "token={token}x"])
def test_a_wrong_token_is_refused_and_sets_no_cookie(server, query):
    status, headers, body = get(server, "/?" + query.format(token=server.token))

    assert status == 403 and b"wrong token" in body
    assert "Set-Cookie" not in headers


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.0.0.1", "127.0.0.1:1", "localhost", "[::1]:{port}",
                                  "127.0.0.1:{port}.evil.example", False])
def test_a_host_other_than_this_servers_own_is_refused_even_with_the_token(server, host):
    for path, headers in ((f"/?token={server.token}", {}), ("/", session(server))):
        status, answer, body = get(server, path, headers=headers, host=host and host.format(port=server.port))

        assert status == 403 and b"Host must be" in body
        assert "Set-Cookie" not in answer


def test_localhost_by_name_is_this_server_too(server):
    status, _, _ = get(server, "/", headers=session(server), host=f"localhost:{server.port}")

    assert status == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1:{port}",
                                    "http://localhost:{port}"])
def test_a_request_from_another_sites_page_is_refused(server, api, origin):
    api.get(RECENT, json=PAGE)
    headers = {**session(server), "Origin": origin.format(port=server.port)}

    status, _, body = get(server, "/api/recent?limit=1", headers=headers)

    assert status == 403 and b"another site" in body
    assert not api.calls


def test_the_pages_own_origin_is_served(server, api):
    api.get(RECENT, json=PAGE)
    headers = {**session(server), "Origin": f"http://127.0.0.1:{server.port}"}

    assert get(server, "/api/recent?limit=1", headers=headers)[0] == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("with_session", [True, False])
def test_nothing_but_get_is_served_not_even_with_the_session(server, api, method, with_session):
    headers = {**(session(server) if with_session else {}), "Origin": f"http://127.0.0.1:{server.port}",
               "Access-Control-Request-Method": "GET", "Content-Length": "0"}

    status, answer, _ = get(server, f"/?token={server.token}", headers=headers, method=method)

    assert status == 405
    assert not [name for name in answer if name.lower().startswith("access-control-")]
    assert "Set-Cookie" not in answer and not api.calls


@pytest.mark.parametrize("path, with_session", [("/", True), ("/app.js", True), ("/style.css", True),
                                                ("/api/recent?limit=1", True), ("/nowhere", True), ("/", False)])
def test_every_answer_carries_the_security_headers_and_no_cors(server, api, path, with_session):
    api.get(RECENT, json=PAGE)

    _, headers, _ = get(server, path, headers={**(session(server) if with_session else {}),
                                               "Origin": f"http://127.0.0.1:{server.port}"})

    assert headers["Content-Security-Policy"] == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert not [name for name in headers if name.lower().startswith("access-control-")]


def test_the_page_and_its_files_are_served_from_the_package(server):
    for path, name, kind in [("/", "index.html", "text/html"), ("/app.js", "app.js", "text/javascript"),
                             ("/style.css", "style.css", "text/css")]:
        status, headers, body = get(server, path, headers=session(server))

        assert status == 200 and body == (STATIC / name).read_bytes()
        assert headers["Content-Type"].startswith(kind)


def test_the_proxy_forwards_the_contracts_parameters_signed_and_the_answer_as_is(server, api):
    api.get(RECENT, json=PAGE)
    query = ("limit=5&service_name=checkout&min_level=WARN&log_type=app&since=2026-11-28T10%3A00%3A00Z"
             "&q=%22payment+failed%22+a%2Bb&trace_id=4bf92f3577b34da6a3ce929d0e0e4736&attr=a%3D1&attr=b%3Dx+y")

    status, headers, body = get(server, "/api/recent?" + query, headers=session(server))

    assert (status, json.loads(body)) == (200, PAGE)
    assert headers["Content-Type"] == "application/json"
    (call,) = api.calls
    sent = urlsplit(call.request.url).query
    assert "+" not in sent  # a space is %20: the query signed is the one the gateway reads
    assert parse_qs(sent) == {"limit": ["5"], "service_name": ["checkout"], "min_level": ["WARN"],
                              "log_type": ["app"], "since": ["2026-11-28T10:00:00Z"], "q": ['"payment failed" a+b'],
                              "trace_id": ["4bf92f3577b34da6a3ce929d0e0e4736"], "attr": ["a=1", "b=x y"]}
    assert call.request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert "Cookie" not in call.request.headers


@pytest.mark.parametrize("query, named", [("limit=1&token=x", "token"), ("limit=1&Limit=2", "Limit"),
                                          ("limit=1&limit=2", "limit"), ("cursor=a&callback=x", "callback")])
def test_the_proxy_refuses_a_parameter_outside_the_contract_and_sends_nothing(server, api, query, named):
    status, _, body = get(server, "/api/recent?" + query, headers=session(server))

    assert status == 400 and named.encode() in body
    assert not api.calls


@pytest.mark.parametrize("status", [400, 403, 429, 503])
def test_the_proxy_passes_the_apis_error_status_body_and_retry_after(server, api, status):
    error = {"Code": "ServiceUnavailable", "Message": "<script>x</script> throttled"}
    api.get(RECENT, json=error, status=status, headers={"Retry-After": "7"})

    got, headers, body = get(server, "/api/recent?limit=1", headers=session(server))

    assert (got, json.loads(body), headers["Retry-After"]) == (status, error, "7")
    assert headers["Content-Type"] == "application/json"


def test_an_answer_that_is_not_json_still_reaches_the_page_as_json_never_as_a_document(server, api):
    api.get(RECENT, body="<html><script>alert(1)</script></html>", status=502, content_type="text/html")

    status, headers, _ = get(server, "/api/recent?limit=1", headers=session(server))

    assert status == 502 and headers["Content-Type"] == "application/json"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_an_answer_larger_than_the_contract_allows_is_not_passed_on(server, api):
    api.get(RECENT, body=b"[" + b" " * ui.MAX_ANSWER_BYTES + b"]", status=200, content_type="application/json")

    status, _, body = get(server, "/api/recent?limit=1", headers=session(server))

    assert status == 502 and len(body) < 1000
    assert "larger than the contract allows" in json.loads(body)["Message"]


def test_an_unreachable_api_is_a_502_in_words(server, api):
    api.get(RECENT, body=requests.ConnectionError("refused"))

    status, _, body = get(server, "/api/recent?limit=1", headers=session(server))

    assert status == 502
    assert json.loads(body)["Message"].startswith("no answer from the API: cannot reach http://127.0.0.1:9/logs/recent")


def test_a_redirect_from_the_api_is_not_followed(server, api):
    api.get(RECENT, status=302, headers={"Location": "http://evil.example/"})

    status, _, body = get(server, "/api/recent?limit=1", headers=session(server))

    assert status == 502 and "which slog does not follow" in json.loads(body)["Message"]
    assert len(api.calls) == 1


def test_the_token_never_reaches_the_terminal(server, capsys):
    get(server, f"/?token={server.token}")
    get(server, "/?token=wrong")

    captured = capsys.readouterr()
    assert server.token not in captured.out + captured.err and "wrong" not in captured.err


def test_serve_prints_and_opens_the_address_and_stops_cleanly_on_ctrl_c(monkeypatch):
    opened = []

    def interrupted(self, poll_interval=0.5):
        raise KeyboardInterrupt

    monkeypatch.setattr(ui.UiServer, "serve_forever", interrupted)
    out = io.StringIO()

    code = ui.serve(client=None, out=Console(file=out), opener=opened.append)

    (address,) = opened
    assert code == 0
    assert out.getvalue().splitlines()[0] == f"slog ui: {address}"
    assert out.getvalue().rstrip().endswith("slog ui: stopped")


def test_a_port_in_use_is_one_line(server):
    from slog.errors import SlogError

    with pytest.raises(SlogError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        ui.UiServer(client=None, port=server.port)


@pytest.mark.parametrize("name", ["app.js", "index.html"])
def test_the_page_builds_no_markup_or_code_from_strings(name):
    source = (STATIC / name).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "setTimeout(\"", "javascript:", "<script>", " style=", " on"):
        if sink == " on":
            assert not re.search(r"<[^>]+\son[a-z]+=", source), name  # no inline event handlers
        else:
            assert sink not in source, (name, sink)
