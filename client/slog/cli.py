"""``slog``: send, read, follow and smoke-test Simple Log Service from a terminal.

Every error is one line on stderr (exit 2; 1 when events were rejected), never a
traceback; ``SLOG_DEBUG=1`` shows the traceback when you need it.
"""
import argparse
import json
import os
import re
import sys
import time
import traceback
import uuid
from datetime import UTC, datetime, timedelta

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from slog import archive, render, smoke, ui
from slog.client import LogClient, format_timestamp, timestamp_now
from slog.config import archive_bucket, build_target, read_outputs, resolve_endpoint, s3_client
from slog.errors import SlogError
from slog.sender import Sender, events_from_lines, file_digest

DEFAULT_SERVICE = "slog-cli"
DEFAULT_LEVEL = "INFO"
_RELATIVE = re.compile(r"(\d+)([smhd])\Z")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
TIME_FORMS = "an age (15m, 2h, 3d), ISO 8601 with a time zone (2026-11-28T10:30:00Z) or epoch milliseconds"
# infra's default log_retention_days: the service keeps nothing older, and says nothing when asked for it.
DEFAULT_RETENTION_DAYS = 7
# 9999-12-31T23:59:59.999Z, the last time a datetime holds: later epoch milliseconds are the service's to refuse.
_LAST_MS = 253_402_300_799_999
# The contract's bounds on a search (GET /logs/recent q, trace_id, attr), checked before anything is sent.
MAX_SEARCH_CHARS = 512
MAX_ATTRS = 4
MAX_ATTR_KEY_CHARS = 128
_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}\Z")
SEARCH_TEXT = 'words and "quoted phrases", all of which must occur, in any case, in the message or a metadata string'


def _connection_options():
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("where and as whom")
    group.add_argument("--endpoint", help="API base URL (default: $SLOG_ENDPOINT, or api_endpoint of --outputs)")
    group.add_argument("--outputs", metavar="FILE", help="`terraform output -json` saved to a file")
    group.add_argument("--profile", help="AWS profile (default: the standard credential chain)")
    group.add_argument("--region", help="signing region (default: from the endpoint, us-east-1 locally)")
    group.add_argument("--role-arn", help="assume this caller role through STS first")
    group.add_argument("--external-id", help="the role's sts:ExternalId")
    return parent


class _Joined(argparse.Action):
    """TERMS...: one search text, the words joined by spaces (a quoted phrase keeps its quotes)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, " ".join(values) or None)


def _filter_options(parser, terms=False):
    """The filters of ``GET /logs/recent``; the search text as ``TERMS...`` (``search``) or ``--search``."""
    parser.add_argument("--service", help="only this service_name")
    parser.add_argument("--level", help="only this level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL)")
    parser.add_argument("--min-level", help="this level and the more severe ones (INFO hides DEBUG and TRACE)")
    parser.add_argument("--type", dest="log_type", help="only this log_type")
    if terms:
        parser.add_argument("search", nargs="*", action=_Joined, metavar="TERMS",
                            help=f"{SEARCH_TEXT}; quote a phrase for the shell too: '\"payment failed\"'")
        parser.set_defaults(search_name="TERMS")
    else:
        parser.add_argument("--search", metavar="TEXT", help=f"only events holding {SEARCH_TEXT}")
        parser.set_defaults(search_name="--search")
    parser.add_argument("--trace-id", help="only events of this trace: 32 hex digits, otel.trace_id or trace_id "
                                           "in their metadata")
    parser.add_argument("--attr", action="append", default=[], metavar="KEY=VALUE",
                        help=f"only events whose top-level metadata KEY is exactly VALUE (numbers and booleans "
                             f"as JSON writes them); repeatable, up to {MAX_ATTRS}, all must hold")


def _time_options(parser):
    window = parser.add_mutually_exclusive_group()
    window.add_argument("--since", help=f"from this time: {TIME_FORMS} (default: 24 hours ago)")
    window.add_argument("--hours", type=int, help="the last HOURS hours (instead of --since)")
    parser.add_argument("--until", help="up to this time (default: now), same forms as --since")


def _display_options(parser):
    parser.add_argument("--fields", type=_names, default=(), metavar="A,B",
                        help="also show these fields (metadata keys or event fields such as log_id); "
                             f"shown when present: {', '.join(render.KEY_FIELDS)}")
    parser.add_argument("--all-fields", action="store_true", help="show every field of each event")


def _names(text):
    return tuple(name.strip() for name in text.split(",") if name.strip())


def build_parser():
    common = _connection_options()
    parser = argparse.ArgumentParser(prog="slog", description="Simple Log Service client (SigV4-signed).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    send = commands.add_parser("send", parents=[common], help="send one event, or every line of a file",
                               description="Send MESSAGE as one event, or each line of --file (JSON objects or "
                                           "plain text) in batches.")
    send.add_argument("message", nargs="?", metavar="MESSAGE")
    send.add_argument("--file", metavar="PATH", help="JSON lines or plain text lines, one event each ('-': stdin)")
    send.add_argument("--service", default=None, help=f"service_name (default {DEFAULT_SERVICE})")
    send.add_argument("--level", default=None, help=f"level (default {DEFAULT_LEVEL})")
    send.add_argument("--type", dest="log_type", help="log_type (default: the service's, application)")
    send.add_argument("--metadata", metavar="JSON", help="a JSON object attached to the event(s)")
    send.add_argument("--json", action="store_true", help="print the stored event / the summary as JSON")

    recent = commands.add_parser("recent", parents=[common], help="the newest events, one line each, or JSON")
    _filter_options(recent)
    _display_options(recent)
    _time_options(recent)
    recent.add_argument("--limit", type=int, default=100, help="how many events (pages are followed past 1000)")
    recent.add_argument("--json", action="store_true", help='print {"count", "logs", "next_cursor"}')

    tail = commands.add_parser("tail", parents=[common], help="follow new events until Ctrl-C")
    _filter_options(tail)
    _display_options(tail)
    tail.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    tail.add_argument("--lines", type=int, default=10, help="show this many recent events first (default 10)")
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    tail.add_argument("--max-polls", type=int, default=None, help=argparse.SUPPRESS)

    search = commands.add_parser(
        "search", parents=[common], help="find events by text, trace or attribute, newest first",
        description="Show the newest events that hold every term (and match every filter), following the "
                    "service's pages until --limit events are shown, none is left, or --max-scan events were "
                    "examined; then one line on stderr says what was found, what was scanned and why it stopped. "
                    "Example: slog search order-8812 '\"payment failed\"' --service checkout --hours 6")
    _filter_options(search, terms=True)
    _display_options(search)
    _time_options(search)
    search.add_argument("--limit", type=int, default=100, help="show at most this many events (default 100)")
    search.add_argument("--max-scan", type=int, metavar="N",
                        help="stop following pages once the service has examined N events (its scanned.events)")
    search.add_argument("--json", action="store_true", help="one JSON object per line per event, nothing else")

    stored = commands.add_parser("archive", help="events kept in the stage's S3 archive (beyond the table's retention)")
    stored_commands = stored.add_subparsers(dest="archive_command", required=True, metavar="COMMAND")
    get = stored_commands.add_parser(
        "get", parents=[common], help="one service's archived events of a window, oldest first",
        description="Read one service's archived events of a window straight from the S3 archive, the hours "
                    "of the window one after another: oldest first, each log id once, one line each (or "
                    f"--json). A window is at most {archive.MAX_WINDOW.days} days; the read stops before the "
                    "hour that would take it past --max-bytes; one line on stderr says what was read. "
                    "Example: slog archive get --service checkout --min-level error --since 2026-11-01T00:00:00Z "
                    "--until 2026-11-08T00:00:00Z")
    get.add_argument("--service", required=True, help="the service_name (exactly)")
    get.add_argument("--since", required=True, help=f"from this time: {TIME_FORMS}")
    get.add_argument("--until", help="up to this time (default: now), same forms as --since")
    levels = get.add_mutually_exclusive_group()
    levels.add_argument("--level", help="only this level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL)")
    levels.add_argument("--min-level", help="this level and the more severe ones (INFO hides DEBUG and TRACE)")
    _display_options(get)
    get.add_argument("--json", action="store_true", help="one JSON object per line per event, nothing else")
    get.add_argument("--max-bytes", type=int, default=archive.DEFAULT_MAX_BYTES, metavar="N",
                     help=f"read at most N bytes of archive objects (default {archive.DEFAULT_MAX_BYTES:,})")
    get.add_argument("--bucket", help="the archive bucket (default: archive_bucket of --outputs; for a loopback "
                                      "--endpoint, the local stack's)")
    get.add_argument("--s3-endpoint", metavar="URL",
                     help="S3's URL (default: $AWS_ENDPOINT_URL_S3, or AWS's); the local stack's is its emulator")
    get.set_defaults(search=None)

    browse = commands.add_parser(
        "ui", parents=[common], help="the logs in your browser: filter, search, tail (served on 127.0.0.1)",
        description="Serve a page on 127.0.0.1 that shows the logs: filters, search, a histogram by level, "
                    "the event's fields, load more and a live tail. slog ui signs every API call itself, with "
                    "the same endpoint, profile, role and external ID as the other commands: the page never sees "
                    "a credential. Its address carries a token for this launch: only the browser that opens it "
                    "may use the page. Ctrl-C stops it.")
    browse.add_argument("--port", type=int, default=0, help="listen on this port of 127.0.0.1 (default: a free one)")
    browse.add_argument("--no-open", action="store_true", help="print the address without opening a browser")

    check = commands.add_parser("smoke", parents=[common], help="end-to-end check of a stack with its caller roles")
    check.add_argument("--count", type=int, default=20, help="events to send (default 20)")
    check.add_argument("--ingest-role-arn", help="default: log_ingest_role_arn of --outputs")
    check.add_argument("--read-role-arn", help="default: log_read_role_arn of --outputs")
    check.add_argument("--ingest-external-id",
                       help="default: $SLOG_INGEST_EXTERNAL_ID, or ingest_external_id of --outputs")
    check.add_argument("--read-external-id", help="default: $SLOG_READ_EXTERNAL_ID, or read_external_id of --outputs")
    check.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for events to read back")
    return parser


def _target(args):
    return build_target(endpoint=args.endpoint, outputs_file=args.outputs, profile=args.profile, region=args.region,
                        role_arn=args.role_arn, external_id=args.external_id)


def parse_time(option, value, now):
    """The moment ``value`` names: an age like ``15m`` before ``now``, ISO 8601 with a time zone, or epoch
    milliseconds; anything else refused."""
    text = value.strip()
    match = _RELATIVE.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if text.isdigit():
        return datetime.fromtimestamp(min(int(text), _LAST_MS) / 1000, UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise SlogError(f"{option} {value!r} is not a time: give {TIME_FORMS}")
    return moment


def parse_time_option(option, value, err=None, now=None):
    """The API's time parameter for ``--since``/``--until``: an age like ``15m`` as ISO 8601; ISO 8601 with a
    time zone and epoch milliseconds as given; anything else refused. A time before the default retention is
    noted on ``err``: the service answers as if nothing older had been asked for."""
    if value is None:
        return None
    now = now or datetime.now(UTC)
    moment = parse_time(option, value, now)
    if err is not None and moment < now - timedelta(days=DEFAULT_RETENTION_DAYS):
        err.print(render.plain(f"slog: note: {option} {value} is before the {DEFAULT_RETENTION_DAYS}-day retention "
                               "of a default stage: events older than the stage's retention have expired, so "
                               "the answer starts there (slog archive get reads the archive)"))
    return format_timestamp(moment) if _RELATIVE.match(value.strip()) else value.strip()


def emit_json(out, value, indent=2):
    """JSON straight to the console's file: no wrapping or markup, so it always parses."""
    out.file.write(render.json_text(value, indent=indent) + "\n")
    out.file.flush()


def _metadata(text):
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        raise SlogError("--metadata must be a JSON object, e.g. '{\"request_id\": \"abc\"}'") from None
    if not isinstance(value, dict):
        raise SlogError("--metadata must be a JSON object")
    return value


def _defaults(args):
    defaults = {"service_name": args.service or DEFAULT_SERVICE, "level": args.level or DEFAULT_LEVEL,
                "log_type": args.log_type}
    metadata = _metadata(args.metadata)
    if metadata is not None:
        defaults["metadata"] = metadata
    return defaults


def cmd_send(args, out, err):
    if (args.message is None) == (args.file is None):
        raise SlogError("give either MESSAGE or --file PATH")
    client = LogClient(_target(args))
    if args.message is not None:
        event = {k: v for k, v in _defaults(args).items() if v is not None}
        # Stamped once, here: every resend is the same event, recognised by (service, event_id, timestamp).
        event.update(message=args.message, event_id=f"slog-{uuid.uuid4()}", timestamp=timestamp_now())
        stored = client.send_event(event)
        if args.json:
            emit_json(out, stored)
        else:
            out.print(render.plain(stored["log_id"]))
        return 0
    return _send_file(args, client, out, err)


def _read_lines(path):
    """``(lines, source id, time to stamp lines without a timestamp from)``.

    A file's lines get ids from its content, so sending it again must be recognised without
    a timestamp (the service's claim path): they are not stamped, and the service keeps
    their order within each request. Lines from stdin exist for this invocation only: they
    are stamped now, a microsecond apart in line order, so every resend of them is
    recognised by (service, event_id, timestamp) and they come back in the order read.
    """
    if path == "-":
        return sys.stdin.readlines(), f"stdin{uuid.uuid4().hex[:12]}", datetime.now(UTC)
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.readlines(), file_digest(path), None
    except OSError as error:
        raise SlogError(f"cannot read {path}: {error.strerror}") from None


def _send_file(args, client, out, err):
    raw_lines, source_id, stamp = _read_lines(args.file)
    lines = list(events_from_lines(raw_lines, _defaults(args), source_id, stamp))
    columns = (TextColumn("sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("send", total=len(lines))
        summary = Sender(client).send(lines, progress=lambda n: progress.advance(task, n))
    if args.json:
        emit_json(out, {
            "sent": summary.sent, "accepted": summary.accepted, "retries": summary.retries,
            "rejected": [{"line": r.line_no, "Code": r.code, "Message": r.message} for r in summary.rejected]})
    else:
        for rejected in summary.rejected[:20]:
            err.print(render.plain(f"line {rejected.line_no}: {rejected.code}: {rejected.message}"))
        if len(summary.rejected) > 20:
            err.print(f"... and {len(summary.rejected) - 20} more rejected")
        line = render.plain(f"sent {summary.sent} events from {args.file}: {summary.accepted} accepted, "
                            f"{len(summary.rejected)} rejected", style="green" if summary.ok else "red")
        line.append(f" ({summary.retries} retries, {summary.seconds:.1f}s)")
        out.print(line)
    return 0 if summary.ok else 1


def _search_filters(args):
    """``q``, ``trace_id`` and ``attr`` for the API, refused here when the contract would refuse them."""
    if args.search is not None and len(args.search) > MAX_SEARCH_CHARS:
        raise SlogError(f"{args.search_name} is {len(args.search)} characters long: at most {MAX_SEARCH_CHARS}")
    if args.trace_id is not None and not _TRACE_ID.match(args.trace_id):
        raise SlogError(f"--trace-id {args.trace_id!r} is not a trace id: give its 32 hex digits")
    if len(args.attr) > MAX_ATTRS:
        raise SlogError(f"--attr is given {len(args.attr)} times: at most {MAX_ATTRS}")
    for attr in args.attr:
        key = attr.partition("=")[0]
        if "=" not in attr or not key or len(key) > MAX_ATTR_KEY_CHARS:
            raise SlogError(f"--attr {attr!r} is not KEY=VALUE (a metadata key of 1-{MAX_ATTR_KEY_CHARS} "
                            "characters, e.g. --attr request_id=r-77)")
    return {"q": args.search, "trace_id": args.trace_id, "attr": args.attr or None}


def _filters(args):
    """The filters of ``args`` for ``GET /logs/recent``, checked."""
    filters = {"service_name": args.service, "level": args.level, "min_level": args.min_level,
               "log_type": args.log_type, **_search_filters(args)}
    return {name: value for name, value in filters.items() if value is not None}


def _window(args, err):
    """The time window of ``args`` (``_time_options``) for ``GET /logs/recent``."""
    window = {"since": parse_time_option("--since", args.since, err), "hours": args.hours,
              "until": parse_time_option("--until", args.until, err)}
    return {name: value for name, value in window.items() if value is not None}


def _line(args):
    """How ``recent``, ``tail`` and ``search`` print an event: one compact line, with the fields asked for and
    the search terms highlighted (styles, which Rich writes to a terminal only)."""
    fields = tuple(dict.fromkeys(render.KEY_FIELDS + args.fields))
    terms = render.search_terms(args.search)
    return lambda event: render.event_line(event, fields=fields, all_fields=args.all_fields, terms=terms)


def cmd_recent(args, out, err):
    if args.limit < 1:
        raise SlogError("--limit must be at least 1")
    filters = {**_filters(args), **_window(args, err)}
    client = LogClient(_target(args))
    result = client.recent(limit=args.limit, **filters)
    if args.json:
        emit_json(out, result)
    elif not result["logs"]:
        err.print("no events match")
    else:
        line = _line(args)
        for event in result["logs"]:
            out.print(line(event))
    return 0


class Scan:
    """What a search has read so far: pages, events found, and the ``scanned`` events and bytes they report."""

    def __init__(self):
        self.pages = self.found = self.events = self.bytes = 0

    def add(self, page):
        scanned = page.get("scanned") or {}  # an API before contract v1.2 does not say
        self.pages += 1
        self.found += len(page["logs"])
        self.events += scanned.get("events", 0)
        self.bytes += scanned.get("bytes", 0)

    def describe(self):
        return (f"{render.count(self.found, 'event')} found, {render.count(self.events, 'event')} "
                f"({self.bytes:,} bytes) scanned in {render.count(self.pages, 'page')}")


def _progress(err, text=""):
    """Rewrites the progress line in place; only on a terminal (a piped stderr gets the summary alone). Cut to
    the terminal's width: "\\r" goes back to the start of a wrapped line's last row only."""
    if err.is_terminal:
        err.file.write(f"\r\x1b[K{text[:err.width - 1]}")
        err.file.flush()


def cmd_search(args, out, err):
    if args.limit < 1:
        raise SlogError("--limit must be at least 1")
    if args.max_scan is not None and args.max_scan < 1:
        raise SlogError("--max-scan must be at least 1")
    filters = {**_filters(args), **_window(args, err)}
    if not {"q", "trace_id", "attr"} & set(filters):
        raise SlogError("search needs TERMS, --trace-id or --attr (slog recent shows events unfiltered)")
    client = LogClient(_target(args))
    line = _line(args)
    scan, stopped, page = Scan(), None, {}
    _progress(err, "searching")
    try:
        for page in client.pages(args.limit, **filters):
            _progress(err)  # cleared before events go to stdout, which is most often the same terminal
            for event in page["logs"]:
                if args.json:
                    emit_json(out, event, indent=None)
                else:
                    out.print(line(event))
            scan.add(page)
            if page.get("next_cursor") and args.max_scan is not None and scan.events >= args.max_scan:
                stopped = f"--max-scan {args.max_scan:,} reached, more may match"
                break
            _progress(err, f"searching: {scan.describe()}")
    except KeyboardInterrupt:
        stopped = "interrupted"  # what was read so far was still paid for: say it
    _progress(err)
    if stopped is None:
        stopped = (f"--limit {args.limit:,} reached, more may match" if page.get("next_cursor")
                   else "no more events match in the window")
    err.print(render.plain(f"{scan.describe()}; stopped: {stopped}"))
    return 130 if stopped == "interrupted" else 0


def cmd_tail(args, out, err, sleep=time.sleep):
    filters = _filters(args)
    client = LogClient(_target(args))
    line = _line(args)
    seen, order = set(), []
    window = timedelta(seconds=max(60, 3 * args.interval))

    def stored_lately():
        since = format_timestamp(datetime.now(UTC) - window)
        return client.recent(limit=1000, **filters, since=since)["logs"]

    def remember(event):
        seen.add(event["log_id"])
        order.append(event["log_id"])
        while len(order) > 10_000:
            seen.discard(order.pop(0))

    def show(events):
        for event in reversed(events):  # the API answers newest first
            if event["log_id"] in seen:
                continue
            remember(event)
            if args.json:
                emit_json(out, event, indent=None)
            else:
                out.print(line(event))

    # Polls reread the last minute or so: what it already holds is old news, except the newest --lines, shown
    # once, oldest first. Read before those lines, so that an event stored in between is shown by one of the reads.
    already_stored = stored_lately()
    if args.lines > 0:
        show(client.recent(limit=args.lines, **filters)["logs"])
    for event in already_stored:
        if event["log_id"] not in seen:
            remember(event)
    polls = 0
    try:
        while args.max_polls is None or polls < args.max_polls:
            sleep(args.interval)
            polls += 1
            show(stored_lately())
    except KeyboardInterrupt:
        pass
    return 0


def cmd_archive_get(args, out, err, now=None):
    now = now or datetime.now(UTC)
    since = parse_time("--since", args.since, now)
    until = parse_time("--until", args.until, now) if args.until is not None else now
    archive.check_window(since, until)
    levels = archive.levels(args.level, args.min_level)
    if args.max_bytes < 1:
        raise SlogError("--max-bytes must be at least 1")
    target = _target(args)
    s3 = s3_client(target, args.s3_endpoint)
    bucket = archive_bucket(args.bucket, args.outputs, target.endpoint)
    line = _line(args)
    reading = archive.Reading()
    try:
        for event in archive.read_events(s3, bucket, args.service, since, until, levels, args.max_bytes, reading):
            if args.json:
                emit_json(out, event, indent=None)
            else:
                out.print(line(event))
    except KeyboardInterrupt:
        err.print(render.plain(f"{reading.describe()}; interrupted"))
        return 130
    err.print(render.plain(reading.describe()))
    return 0


def cmd_archive(args, out, err):
    return {"get": cmd_archive_get}[args.archive_command](args, out, err)


def cmd_ui(args, out, err):
    if not 0 <= args.port <= 65535:
        raise SlogError("--port must be 0-65535 (0: a free port)")
    return ui.serve(LogClient(_target(args)), args.port, open_browser=not args.no_open, out=out)


def cmd_smoke(args, out, err):
    outputs = read_outputs(args.outputs) if args.outputs else {}
    ingest_arn = args.ingest_role_arn or outputs.get("log_ingest_role_arn")
    read_arn = args.read_role_arn or outputs.get("log_read_role_arn")
    if not ingest_arn or not read_arn:
        raise SlogError("smoke needs the role ARNs: --outputs FILE (log_ingest_role_arn, log_read_role_arn) "
                        "or --ingest-role-arn and --read-role-arn")
    ingest_id = (args.ingest_external_id or os.environ.get("SLOG_INGEST_EXTERNAL_ID")
                 or outputs.get("ingest_external_id"))
    read_id = args.read_external_id or os.environ.get("SLOG_READ_EXTERNAL_ID") or outputs.get("read_external_id")
    base = _target(args)
    out.print(f"smoke test of {resolve_endpoint(args.endpoint, outputs)} ({base.region})")

    def report(check):
        line = Text("PASS", style="green") if check.ok else Text("FAIL", style="red")
        line.append_text(render.plain(f" {check.name}: {check.detail}"))
        out.print(line)

    checks = smoke.run(base, ingest_arn, ingest_id, read_arn, read_id, count=args.count, timeout=args.timeout,
                       report=report)
    failed = [check for check in checks if not check.ok]
    out.print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


COMMANDS = {"send": cmd_send, "recent": cmd_recent, "tail": cmd_tail, "search": cmd_search, "archive": cmd_archive,
            "smoke": cmd_smoke, "ui": cmd_ui}


def main(argv=None, out=None, err=None):
    out = out or render.console()
    err = err or render.console(stderr=True)
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args, out, err)
    except SlogError as error:
        err.print(render.plain(f"slog: error: {error}"))
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - the promise is one line, never a traceback
        if os.environ.get("SLOG_DEBUG"):
            traceback.print_exc()
        err.print(render.plain(f"slog: unexpected error: {type(error).__name__}: {error} "
                               "(SLOG_DEBUG=1 shows details)"))
        return 2


if __name__ == "__main__":
    sys.exit(main())
