"""How events look in a terminal: a table with coloured levels, or one line each (``tail``, pipes).

Everything the service returns is someone's log content: it is shown as plain text
(never Rich markup) with control and format characters made visible as escapes
(``\\x1b``, ``\\n``, ``\\u202e``), so a message can neither drive the terminal nor
fake lines. ``--json`` output stays exact: the same data, only such characters
written as JSON escapes.
"""
import json
import re
import unicodedata

from rich.console import Console
from rich.table import Table
from rich.text import Text

LEVEL_STYLES = {
    "TRACE": "dim",
    "DEBUG": "blue",
    "INFO": "green",
    "WARN": "yellow",
    "ERROR": "bold red",
    "FATAL": "bold white on red",
}
# Controls (C0, DEL, C1), format characters (bidi overrides, zero-width), line and paragraph
# separators, surrogates: what a terminal may act on or a reader cannot see.
_HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs"}
_NOT_PLAIN_ASCII = re.compile(r"[^\x20-\x7e]")
_NOT_JSON_ASCII = re.compile(r"[^\x20-\x7e\n]")


def _hidden(char):
    return unicodedata.category(char) in _HIDDEN


def visible(text):
    """``text`` with every control or format character written as its escape."""
    text = str(text)
    return _NOT_PLAIN_ASCII.sub(
        lambda match: match[0].encode("unicode_escape", "backslashreplace").decode("ascii")
        if _hidden(match[0]) else match[0], text)


def plain(text, style=""):
    """Service-provided text as a Rich ``Text``: no markup, nothing hidden."""
    return Text(visible(text), style=style)


def json_text(value, indent=2):
    """JSON for ``value``, exact, with characters a terminal could act on written as ``\\u`` escapes."""
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    return _NOT_JSON_ASCII.sub(
        lambda match: json.dumps(match[0])[1:-1] if _hidden(match[0]) else match[0], text)


def level_text(level):
    return Text(f"{visible(level):<5}", style=LEVEL_STYLES.get(level, ""))


def _metadata(event):
    metadata = event.get("metadata")
    return json.dumps(metadata, separators=(",", ":"), ensure_ascii=False) if metadata else ""


def events_table(events):
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("timestamp", no_wrap=True)
    table.add_column("level", no_wrap=True)
    table.add_column("service", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("message", overflow="fold")
    table.add_column("metadata", overflow="fold", style="dim")
    for event in events:
        table.add_row(plain(event.get("timestamp", "")), level_text(event.get("level", "")),
                      plain(event.get("service_name", "")), plain(event.get("log_type", "")),
                      plain(event.get("message", "")), plain(_metadata(event)))
    return table


def event_line(event):
    line = Text()
    line.append_text(plain(event.get("timestamp", ""), style="dim"))
    line.append(" ")
    line.append_text(level_text(event.get("level", "")))
    line.append(" ")
    line.append_text(plain(event.get("service_name", ""), style="cyan"))
    line.append(" [")
    line.append_text(plain(event.get("log_type", "")))
    line.append("] ")
    line.append_text(plain(event.get("message", "")))
    metadata = _metadata(event)
    if metadata:
        line.append(" ")
        line.append_text(plain(metadata, style="dim"))
    return line


def console(stderr=False):
    return Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False)
