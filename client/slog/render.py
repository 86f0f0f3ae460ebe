"""How events look in a terminal: one compact line each, with coloured levels (``recent``, ``tail``).

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
DEFAULT_LOG_TYPE = "application"
# What a line always shows of an event, and the fields it adds when present: what ties it to a request or a trace.
LINE_FIELDS = ("timestamp", "level", "service_name", "log_type", "message")
KEY_FIELDS = ("trace_id", "otel.trace_id", "request_id")
MATCH_STYLE = "bold reverse"
# A search's terms as the service reads ``q``: a "quoted phrase" or a run of non-blanks.
_TERM = re.compile(r'"([^"]*)"|(\S+)')


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


def search_terms(q):
    """The terms of a search ``q``, as shown: each a word or a quoted phrase without its quotes, made
    ``visible`` like the text it is looked for in, and case-folded."""
    if not q:
        return ()
    terms = (phrase or word for phrase, word in _TERM.findall(q))
    return tuple(dict.fromkeys(visible(term).casefold() for term in terms if term))


def highlight(text, terms, style=MATCH_STYLE):
    """Style every occurrence of ``terms`` (from ``search_terms``) in the Rich ``text``, ignoring case.

    Only styles are added, over the text already made ``visible``: Rich writes each styled run between
    whole SGR sequences of its own, so a match can neither cut nor complete an escape of the content
    (which is shown as inert text such as ``\\x1b[2J``). Case folding may lengthen a character
    (``ß`` to ``ss``): a match is mapped back to the whole characters it covers."""
    if not terms:
        return text
    folded, origin = [], []
    for index, char in enumerate(text.plain):
        fold = char.casefold()
        folded.append(fold)
        origin.extend([index] * len(fold))
    folded = "".join(folded)
    for term in terms:
        start = folded.find(term)
        while start != -1:
            end = start + len(term)
            text.stylize(style, origin[start], origin[end - 1] + 1)
            start = folded.find(term, start + 1)
    return text


def level_text(level):
    return Text(f"{visible(level):<5}", style=LEVEL_STYLES.get(level, ""))


def _value(value):
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _fields(event, names, all_fields):
    """``(name, value)`` of the fields a line shows after the message: ``names`` when present, or every one."""
    metadata = event.get("metadata") or {}
    if all_fields:
        own = [(name, value) for name, value in event.items() if name not in LINE_FIELDS and name != "metadata"]
        return own + list(metadata.items())
    found = []
    for name in names:
        value = event[name] if name in event and name != "metadata" else metadata.get(name)
        if value is not None:
            found.append((name, value))
    return found


def event_line(event, fields=KEY_FIELDS, all_fields=False, terms=()):
    """One line: time, level, service, ``[type]`` unless the default, message, then ``name=value`` fields;
    ``terms`` (``search_terms``) highlighted where a search looks for them: the message and the fields."""
    line = Text()
    line.append_text(plain(event.get("timestamp", ""), style="dim"))
    line.append(" ")
    line.append_text(level_text(event.get("level", "")))
    line.append(" ")
    line.append_text(plain(event.get("service_name", ""), style="cyan"))
    log_type = event.get("log_type", DEFAULT_LOG_TYPE)
    if log_type != DEFAULT_LOG_TYPE:
        line.append(" [")
        line.append_text(plain(log_type))
        line.append("]")
    line.append(" ")
    line.append_text(highlight(plain(event.get("message", "")), terms))
    for name, value in _fields(event, fields, all_fields):
        line.append(" ")
        line.append_text(highlight(plain(f"{name}={_value(value)}", style="dim"), terms))
    return line


def count(number, noun):
    """``1 event``, ``2,048 events``."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def console(stderr=False):
    return Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False)
