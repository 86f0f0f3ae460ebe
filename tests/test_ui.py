"""slog ui in a real browser: Debian's headless Chromium, driven by Playwright, against the local stack.

`slog ui` runs as a user starts it (``python -m slog.cli ui --no-open``, with the local read-only profile) on
a free port; each test opens its printed address in a fresh browser context (Asia/Kolkata time, so that local
times are not UTC). The browser is never downloaded: ``make test`` installs Debian's (mk/ui.mk).
"""
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium: `make test` installs it as root "
                "(apt-get install chromium); without root or apt-get the browser tests cannot run",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")

from slog.client import LogClient  # noqa: E402
from slog.config import build_target  # noqa: E402

pytestmark = pytest.mark.slow

BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                # A name that resolves to this machine, as an attacker's domain would after DNS rebinding.
                "--host-resolver-rules=MAP rebound.test 127.0.0.1"]
KOLKATA = timezone(timedelta(hours=5, minutes=30))
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def user_env(local_stack, tmp_path_factory):
    """The environment of a user of the local stack: its credentials file, no keys in the environment."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(ROOT / "local" / "aws-credentials"), PYTHONUNBUFFERED="1",
               AWS_CONFIG_FILE=str(tmp_path_factory.mktemp("aws") / "no-config"))
    return env


@pytest.fixture(scope="module")
def writer(user_env, local_stack):
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", user_env["AWS_SHARED_CREDENTIALS_FILE"])
        patch.setenv("AWS_CONFIG_FILE", user_env["AWS_CONFIG_FILE"])
        client = LogClient(build_target(endpoint=local_stack, profile="slog-ingest"))
        client.target.credentials.get()
    return client


def start_ui(user_env, endpoint, port):
    """``slog ui`` as a user runs it, with the read-only profile; ``(process, printed address)``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "slog.cli", "ui", "--no-open", "--port", str(port), "--profile", "slog-read",
         "--endpoint", endpoint], env=user_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = process.stdout.readline()
    assert first.startswith("slog ui: http://127.0.0.1:"), first + process.stderr.read()
    return process, first.split(" ", 2)[2].strip()


@pytest.fixture(scope="module")
def ui_address(user_env, local_stack):
    process, address = start_ui(user_env, local_stack, free_port())
    yield address
    process.send_signal(signal.SIGINT)
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, ui_address):
    """A fresh browser (no cookie yet) in Kolkata's time zone; fails the test on any CSP violation or dialog."""
    context = browser.new_context(timezone_id="Asia/Kolkata", locale="en-US", viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    # Assertions wait as long as actions do: under make test's load a search of the local stack can take seconds.
    sync_api.expect.set_options(timeout=WAIT_MS)
    problems = []
    opened.on("console", lambda message: problems.append(message.text)
              if "Content Security Policy" in message.text or message.type == "error" else None)
    opened.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.problems = problems
    yield opened
    context.close()


def service():
    return f"ui-{uuid.uuid4().hex[:8]}"


def stamp(minutes_ago):
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def send(writer, events):
    status, body = writer.send_batch(events)
    assert status == 201, body
    return body["log_ids"]


def open_view(page, ui_address, **filters):
    query = "".join(f"&{name}={value}" for name, value in filters.items())
    page.goto(ui_address + query)
    sync_api.expect(page.locator("#summary")).to_contain_text("shown")


def rows(page):
    return page.locator("#rows tr")


def shown(page, count):
    sync_api.expect(page.locator("#summary")).to_contain_text(f"{count} event{'' if count == 1 else 's'} shown")


def test_filter_search_open_an_event_and_follow_its_trace(page, ui_address, writer):
    checkout, inventory = service(), service()
    levels = ["INFO", "DEBUG", "INFO", "WARN", "INFO", "ERROR", "INFO", "INFO", "FATAL", "INFO"]
    send(writer, [{"service_name": checkout, "level": level, "message": f"order o-{n} step {level.lower()}",
                   "timestamp": stamp(50 - n), "metadata": {"order": f"o-{n}"}} for n, level in enumerate(levels)])
    send(writer, [
        {"service_name": checkout, "level": "ERROR", "message": "payment failed for order o-7", "timestamp": stamp(3),
         "metadata": {"trace_id": TRACE, "order": "o-7", "card": {"brand": "visa"}}},
        {"service_name": inventory, "level": "INFO", "message": "stock released for o-7", "timestamp": stamp(2),
         "metadata": {"trace_id": TRACE.upper()}}])

    page.goto(ui_address)
    assert "token" not in page.url
    page.fill("#service_name", checkout)
    page.click("#show")

    shown(page, 11)
    first = rows(page).first
    assert first.locator("td.message").text_content() == "payment failed for order o-7"
    newest = datetime.fromisoformat(stamp(3).replace("Z", "+00:00"))  # within the same minute as the stored one
    assert first.locator("td.time").text_content()[:16] == newest.astimezone(KOLKATA).strftime("%Y-%m-%d %H:%M")
    assert "level-ERROR" in first.get_attribute("class")
    assert first.locator(".badge").evaluate("e => getComputedStyle(e).color") == "rgb(217, 45, 32)"
    assert page.locator("svg.histogram rect.bar.level-ERROR").count() == 2
    assert page.locator("#legend").text_content() == "DEBUG 1INFO 6WARN 1ERROR 2FATAL 1"
    assert "last request scanned" in page.locator("#summary").text_content()
    assert f"service_name={checkout}" in page.url

    page.reload()
    shown(page, 11)
    assert page.input_value("#service_name") == checkout

    page.fill("#q", '"Payment FAILED"')
    page.click("#show")
    shown(page, 1)
    rows(page).first.click()
    detail = json.loads(page.locator("#detail-json").text_content())
    assert detail["metadata"] == {"trace_id": TRACE, "order": "o-7", "card": {"brand": "visa"}}
    assert detail["service_name"] == checkout

    page.click("#same-trace")
    shown(page, 2)
    assert [rows(page).nth(n).locator("td.service").text_content() for n in range(2)] == [inventory, checkout]
    assert page.input_value("#trace_id") == TRACE and page.input_value("#service_name") == ""
    page.go_back()
    shown(page, 1)
    assert not page.problems


def test_load_more_follows_the_cursor_and_the_live_tail_shows_a_new_event(page, ui_address, writer):
    name = service()
    send(writer, [{"service_name": name, "level": "INFO", "message": f"event {n:02d}", "timestamp": stamp(30 - n)}
                  for n in range(25)])
    open_view(page, ui_address, service_name=name, limit=20)

    shown(page, 20)
    page.click("#more")
    shown(page, 25)
    assert page.locator("#more").is_hidden()
    assert rows(page).last.locator("td.message").text_content() == "event 00"

    page.check("#tail")
    assert "tail=1" in page.url
    send(writer, [{"service_name": name, "level": "WARN", "message": "tailed in", "timestamp": stamp(0)}])
    sync_api.expect(rows(page).first.locator("td.message")).to_have_text("tailed in")
    shown(page, 26)
    assert "new" in rows(page).first.get_attribute("class")
    page.uncheck("#tail")
    assert "tail=1" not in page.url
    assert not page.problems


def test_hostile_log_content_is_shown_as_text_and_the_page_stays_usable(page, ui_address, writer):
    name = service()
    longest = "x" * 262_144  # the contract's largest message: 256 KiB on one line
    hostile = ['<img src=x onerror="document.title=\'pwned\'">', "<script>document.title='pwned'</script>",
               "javascript:alert(document.cookie)", "invoice \u202egnp.exe", "one\nFATAL fake row"]
    send(writer, [{"service_name": name, "level": "INFO", "message": message, "timestamp": stamp(10 - n),
                   "metadata": {"html": "<b>bold</b><a href='javascript:alert(1)'>x</a>", "bidi": "\u202eevil",
                                "link": "javascript:alert(1)", **({"trace_id": "javascript:alert(1)"} if n else {})}}
                  for n, message in enumerate(hostile)])
    send(writer, [{"service_name": name, "level": "ERROR", "message": longest, "timestamp": stamp(1)}])
    open_view(page, ui_address, service_name=name)

    shown(page, 6)
    messages = [rows(page).nth(n).locator("td.message").text_content() for n in range(6)]
    assert messages[1:] == ["one\\nFATAL fake row", "invoice \\u202egnp.exe", "javascript:alert(document.cookie)",
                            "<script>document.title='pwned'</script>", hostile[0]]
    assert messages[0] == "x" * 400 + " … 261,744 more characters: open the event"
    for element in ("img", "script", "b", "a", "iframe"):
        assert page.locator(f"#rows {element}, #detail {element}:not(#same-trace)").count() == 0, element
    assert page.title().startswith("slog ui") and "\u202e" not in page.locator("#rows").text_content()

    rows(page).first.click()
    assert json.loads(page.locator("#detail-json").text_content())["message"] == longest
    rows(page).nth(4).click()
    detail = page.locator("#detail-json").text_content()
    assert '"bidi": "\\u202eevil"' in detail and "\u202e" not in detail
    assert page.locator("#same-trace").is_hidden()  # a trace id that is not 32 hex digits is no link
    assert page.locator("a[href^='javascript']").count() == 0

    page.fill("#q", "invoice")
    page.click("#show")
    shown(page, 1)
    assert page.title().startswith("slog ui") and not page.problems


def test_api_errors_and_a_page_cut_by_the_read_budget_are_said_in_words(page, ui_address):
    # Answers the local stack does not give on demand, put in place of slog ui's: what the page makes of them.
    answers = iter([
        (503, {"Code": "ServiceUnavailable", "Message": "storage throttled"}, {"Retry-After": "3"}),
        (403, {"Message": "User: arn:aws:sts::1:assumed-role/log-ingest/x is not authorized"}, {}),
        (200, {"count": 1, "logs": [{"log_id": "01A", "service_name": "s", "level": "INFO", "message": "only one",
                                     "timestamp": stamp(1)}], "next_cursor": "c2",
               "scanned": {"events": 4000, "bytes": 1_200_000}}, {}),
    ])

    def answer(route):
        status, body, headers = next(answers)
        route.fulfill(status=status, json=body, headers=headers)

    page.route("**/api/recent?*", answer)
    page.goto(ui_address + "&limit=20")

    error = page.locator("#error-text")
    sync_api.expect(error).to_have_text("The service is busy (503 ServiceUnavailable): storage throttled. "
                                        "The service asks to wait 3 s (Retry-After).")
    assert page.locator("#retry").is_disabled()
    sync_api.expect(page.locator("#retry")).to_be_enabled(timeout=5000)
    page.click("#retry")
    sync_api.expect(error).to_contain_text("The API refused the request (403): User: arn:aws:sts::1:assumed-role/"
                                           "log-ingest/x is not authorized. slog ui signs with the profile or role")
    page.click("#retry")
    sync_api.expect(page.locator("#notice")).to_have_text(
        "This page stopped at the service's read budget: 1 event of the 20 asked for, after scanning 4,000 events. "
        "More may match: Load more continues where it stopped.")
    assert page.locator("#error").is_hidden() and page.locator("#more").is_visible()
    assert "4,000 events (1,200,000 bytes)" in page.locator("#summary").text_content()


@pytest.fixture
def foreign_site():
    """Another site's page, on another port of this machine (a site that is same-site to 127.0.0.1)."""
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = b"<!doctype html><title>another site</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_wrong_token_a_rebound_host_and_another_sites_page_are_refused(page, ui_address, foreign_site):
    base, token = ui_address.split("?token=")

    refused = page.goto(base + "?token=not-the-token")
    assert refused.status == 403 and "wrong token" in page.locator("body").text_content()
    assert page.goto(base).status == 403
    assert page.goto(base.replace("127.0.0.1", "rebound.test") + "?token=" + token).status == 403
    assert "Host must be" in page.locator("body").text_content()

    page.goto(ui_address)  # this browser now holds the session cookie, sent to any port of 127.0.0.1
    assert page.goto(base + "api/recent?limit=1").status == 200
    page.goto(foreign_site)
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    # What the server answered, which Playwright does not report for a request that CORS blocked; only for the
    # requests to slog ui sent from here on (an answer to an earlier one may still be reported late, and the
    # foreign page asks its own server for a favicon).
    sent, answered = set(), {}
    network.on("Network.requestWillBeSent",
               lambda info: sent.add(info["requestId"]) if "/api/recent" in info["request"]["url"] else None)
    network.on("Network.responseReceivedExtraInfo",
               lambda info: answered.update({info["requestId"]: info["statusCode"]}))
    read = page.evaluate("url => fetch(url, {credentials: 'include'}).then(r => r.status, e => 'blocked: ' + e)",
                         base + "api/recent?limit=1")
    for _ in range(20):
        if sent <= set(answered):
            break
        page.wait_for_timeout(100)
    assert [answered.get(request) for request in sent] == [403]
    assert read.startswith("blocked: TypeError")


def test_ctrl_c_stops_slog_ui_cleanly(user_env, local_stack, ui_address):
    process, address = start_ui(user_env, local_stack, 0)

    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=10)

    assert process.returncode == 0, err
    assert out.strip().endswith("slog ui: stopped") and not err
    assert address != ui_address

