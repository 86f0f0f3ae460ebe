"""How events look in a terminal: a table with coloured levels, or one line each for ``tail``."""
import json

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


def level_text(level):
    return Text(f"{level:<5}", style=LEVEL_STYLES.get(level, ""))


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
        table.add_row(event.get("timestamp", ""), level_text(event.get("level", "")), event.get("service_name", ""),
                      event.get("log_type", ""), event.get("message", ""), _metadata(event))
    return table


def event_line(event):
    line = Text()
    line.append(event.get("timestamp", ""), style="dim")
    line.append(" ")
    line.append_text(level_text(event.get("level", "")))
    line.append(f" {event.get('service_name', '')}", style="cyan")
    line.append(f" [{event.get('log_type', '')}] ")
    line.append(event.get("message", ""))
    metadata = _metadata(event)
    if metadata:
        line.append(f" {metadata}", style="dim")
    return line


def console(stderr=False):
    return Console(stderr=stderr, highlight=False, soft_wrap=True)
