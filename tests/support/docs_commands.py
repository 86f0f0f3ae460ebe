"""The shell commands and resource names of the Markdown docs, for tests/test_docs.py.

``commands(path)`` gives every command of a document's fenced shell blocks
(```bash, sh, shell, console, and unlabeled blocks that read as shell) as a
``Command``: its words after ``NAME=value`` prefixes, those prefixes, and the
working directory it runs in (each block starts at the repository root; ``cd``
moves it). Line continuations, ``$ `` prompts (console blocks: only prompted
lines are commands), comments, heredoc bodies, pipes, ``&&``/``||``/``;`` and
``$(...)`` substitutions (each its own command) are handled.

``expected_names()`` evaluates the name templates of ``infra/`` (``local.name``
and friends) for every stage's tfvars, so the docs can be checked against what
Terraform would create; ``name_tokens(text)`` finds the resource names a text
gives.
"""
import json
import posixpath
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from devtools.infra_hcl import Evaluator, Unresolvable, load_module, module_variables

ROOT = Path(__file__).resolve().parents[2]
SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "zsh"}
# First words that make an unlabeled block a shell block.
SHELL_WORDS = {"make", "cd", "terraform", "aws", "export", "git", "slog", "chalice", "python", "python3", "awscurl",
               "cp", "rm", "ls", "curl", "locust", "pip", "unset", "source", "eval", "jq"}
SUBSTITUTION = "__SUBSTITUTION__"
_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
_HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
# A placeholder the reader replaces, like <this repository> or <id>: one word, not a redirection.
_PLACEHOLDER = re.compile(r"(?<![<\w])<[A-Za-z][\w .-]*>")
_SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", ";;", "|&"}
_REDIRECTIONS = {">", ">>", "<", ">&", "<&", "&>", ">|"}


@dataclass(frozen=True)
class Command:
    doc: str  # the document, relative to the repository
    line: int  # where the command starts in it
    cwd: str  # working directory, relative to the repository ('.'), None when unknown
    argv: tuple  # the words, after NAME=value prefixes
    env: tuple  # the NAME=value prefixes
    redirects: tuple  # files written or read with > >> <

    def __str__(self):
        return f"{self.doc}:{self.line}: {shlex.join(self.argv)}"


def fenced_blocks(text):
    """``(language, first line number, [lines])`` of every fenced block."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        fence, language = match.group(2), match.group(3).lower()
        body, start = [], index + 2
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index])
            index += 1
        index += 1
        yield language, start, body


def _first_word(line):
    line = line.strip()
    if line.startswith("$ "):
        return "$"
    word = line.split(maxsplit=1)[0] if line else ""
    while _ASSIGNMENT.match(word) and len(line.split()) > 1:
        line = line.split(maxsplit=1)[1]
        word = line.split(maxsplit=1)[0]
    return word


def is_shell_block(language, body):
    if language in SHELL_LANGUAGES:
        return True
    if language:
        return False
    for line in body:
        if line.strip() and not line.strip().startswith("#"):
            word = _first_word(line)
            return word == "$" or word in SHELL_WORDS or word.startswith(("./", ".venv/bin/"))
    return False


def _strip_comment(line):
    """The line without an unquoted ``# comment`` (a ``#`` that starts a word)."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
            elif char == "\\" and quote == '"':
                continue
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line


def logical_lines(language, start, body):
    """``(line number, text)`` of each command line: continuations joined, prompts, comments, heredocs removed."""
    console = language == "console" or any(line.startswith("$ ") for line in body)
    pending, pending_start, heredoc = None, None, None
    for offset, raw in enumerate(body):
        number = start + offset
        if heredoc is not None:
            if raw.strip() == heredoc:
                heredoc = None
            continue
        line = raw
        if pending is None:
            if console:
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            pending_start = number
        line = _strip_comment(line)
        match = _HEREDOC.search(line)
        if match:
            heredoc = match.group(1)
        if line.endswith("\\"):
            pending = (pending or "") + line[:-1] + " "
            continue
        text = ((pending or "") + line).strip()
        pending = None
        if text:
            yield pending_start, text
    if pending:
        yield pending_start, pending.strip()


def _substitutions(text):
    """``text`` with each ``$(...)`` replaced by a placeholder, and the inner texts (outermost first)."""
    inner, out, index, quote = [], [], 0, None
    while index < len(text):
        char = text[index]
        if quote == "'":
            quote = None if char == "'" else quote
        elif char == "'" and quote is None:
            quote = "'"
        elif char == '"':
            quote = None if quote == '"' else '"'
        elif text.startswith("$(", index) and not text.startswith("$((", index):
            depth, end = 1, index + 2
            while end < len(text) and depth:
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                end += 1
            inner.append(text[index + 2:end - 1])
            out.append(SUBSTITUTION)
            index = end
            continue
        out.append(char)
        index += 1
    return "".join(out), inner


def split_commands(text):
    """The simple commands of one command line: lists of words, ``$(...)`` bodies included as their own."""
    text, inner = _substitutions(text)
    text = _PLACEHOLDER.sub(lambda match: shlex.quote(match.group(0)), text)
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        tokens = list(lexer)
    except ValueError as error:
        raise ValueError(f"cannot split {text!r}: {error}") from None
    commands, current = [], []
    for token in tokens:
        if token in _SEPARATORS:
            if current:
                commands.append(current)
            current = []
        else:
            current.append(token)
    if current:
        commands.append(current)
    for body in inner:
        commands.extend(split_commands(body))
    return commands


def _words_and_redirects(words):
    kept, redirects, index = [], [], 0
    while index < len(words):
        word = words[index]
        if word.isdigit() and index + 1 < len(words) and words[index + 1] in _REDIRECTIONS:
            index += 1
            continue
        if word in ("<<", "<<-", "<<<"):  # a heredoc's delimiter or a here-string: no file
            index += 2
            continue
        if word in _REDIRECTIONS:
            if index + 1 < len(words):
                redirects.append(words[index + 1])
            index += 2
            continue
        kept.append(word)
        index += 1
    return kept, redirects


def _change_directory(cwd, target):
    if cwd is None or target is None or target.startswith(("/", "~", "$")) or target == "-":
        return None
    moved = posixpath.normpath(posixpath.join(cwd, target))
    return None if moved.startswith("..") else moved


def commands(path, root=ROOT):
    """Every command of the shell blocks of the Markdown file ``path``."""
    path = Path(path)
    doc = str(path.relative_to(root)) if path.is_absolute() else str(path)
    found = []
    for language, start, body in fenced_blocks(path.read_text()):
        if not is_shell_block(language, body):
            continue
        cwd = "."
        for number, text in logical_lines(language, start, body):
            for words in split_commands(text):
                words, redirects = _words_and_redirects(words)
                env = []
                while words and _ASSIGNMENT.match(words[0]):
                    env.append(words.pop(0))
                if not words:
                    continue
                command = Command(doc, number, cwd, tuple(words), tuple(env), tuple(redirects))
                found.append(command)
                if words[0] == "cd":
                    cwd = _change_directory(cwd, words[1] if len(words) > 1 else None)
    return found


def inline_code(text):
    """The contents of every inline code span outside fenced blocks, with line numbers."""
    fenced, in_fence = set(), False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            in_fence = not in_fence
            fenced.add(number)
        elif in_fence:
            fenced.add(number)
    for number, line in enumerate(text.splitlines(), 1):
        if number not in fenced:
            for match in re.finditer(r"(`+)(.+?)\1", line):
                yield number, match.group(2)


# --- resource names --------------------------------------------------------------

_TEMPLATE = re.compile(r"\$\{([^{}]*)\}")
_NAME_ATTRIBUTES = ("name", "alarm_name", "dashboard_name", "function_name")
# What the docs may call a resource by: these name-bearing attributes' values.
PLACEHOLDER_VALUE = "a1b2c3d4e5"


def _evaluator(module, variables):
    evaluate = Evaluator(module, variables)

    def for_each_keys(expression):
        """The keys of a for_each over a local map, or of a filtered copy of one (then: the keys it may have)."""
        match = re.fullmatch(r"\$\{(?:\{for \w+, \w+ in )?local\.(\w+)(?: : \w+ => \w+ if [^{}]+\})?\}",
                             expression or "")
        if not match or not isinstance(evaluate.local(match.group(1)), dict):
            raise Unresolvable(expression)
        return sorted(evaluate.local(match.group(1)))

    return evaluate, for_each_keys


def stage_variables(module, stage):
    return module_variables(module, ROOT / "infra" / "env" / f"{stage}.tfvars")


def _template_pattern(text, evaluate):
    """A regex for a template whose unknown parts (an API id) may be anything of [A-Za-z0-9]."""
    parts, last = [], 0
    for match in _TEMPLATE.finditer(text):
        parts.append(re.escape(text[last:match.start()]))
        try:
            parts.append(re.escape(evaluate(match.group(0))))
        except Unresolvable:
            parts.append("[A-Za-z0-9]+")
        last = match.end()
    parts.append(re.escape(text[last:]))
    return re.compile("".join(parts))


def stages():
    return sorted(path.stem for path in (ROOT / "infra" / "env").glob("*.tfvars"))


def expected_names():
    """``(names, patterns)``: every resource name Terraform gives, any stage, and the chalice/local ones."""
    module = load_module(ROOT / "infra")
    wiring = load_module(ROOT / "infra" / "chalice")
    resources = {**module.resources, **wiring.resources}
    module.locals.update({name: value for name, value in wiring.locals.items() if name not in module.locals})
    names, patterns = set(), []
    for stage in stages():
        evaluate, for_each_keys = _evaluator(module, stage_variables(module, stage))
        for name in module.locals:
            try:
                value = evaluate(module.locals[name]) if isinstance(module.locals[name], str) else None
            except Unresolvable:
                continue
            if value and "${" not in value:
                names.add(value)
        for body in resources.values():
            try:
                keys = for_each_keys(body["for_each"]) if "for_each" in body else [None]
            except Unresolvable:
                continue  # its names (if any) stay unknown: a doc naming them fails, never passes unchecked
            for attribute in _NAME_ATTRIBUTES:
                template = body.get(attribute)
                if not isinstance(template, str):
                    continue
                for key in keys:
                    try:
                        names.add(evaluate(template, key))
                    except Unresolvable:
                        pattern = _template_pattern(template, lambda text, k=key, ev=evaluate: ev(text, k))
                        if app_prefix(pattern.pattern):  # an all-unknown name would match anything
                            patterns.append(pattern)
    names |= chalice_and_local_names()
    return names, patterns


def app_prefix(pattern):
    """Whether a name pattern starts with a literal (8+ characters) that tells names apart."""
    literal = re.match(r"(?:\\.|[A-Za-z0-9_/])*", pattern).group(0)
    return len(literal.replace("\\", "")) >= 8


def chalice_and_local_names():
    """Names that Chalice (chalice deploy path) and the local stack give, from their own configuration."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    app = config["app_name"]
    names = {app}
    for stage, settings in config["stages"].items():
        names.add(f"{app}-{stage}")  # the function (and, locally, the table)
        if settings.get("autogen_policy") is False:
            # Chalice's role for a policy-file stage: <app>-<stage>-<handler resource>; app.py's handler is api_handler.
            names.add(f"{app}-{stage}-api_handler")
        table = settings.get("environment_variables", {}).get("LOG_TABLE_NAME")
        if table:
            names.add(table)
    outputs = json.loads((ROOT / "local" / "outputs.json").read_text())
    for output in outputs.values():
        value = output["value"]
        if isinstance(value, str) and value.startswith("arn:"):
            names.add(value.rsplit("/", 1)[-1])
        elif isinstance(value, str) and value.startswith(app):  # a name itself: the local archive's bucket
            names.add(value)
    return names


_NAME_TOKEN = re.compile(r"(?:alias/|/aws/lambda/|/aws/apigateway/|/)?simple-log-service(?:[A-Za-z0-9_./:<>-]*)"
                         r"|API-Gateway-Execution-Logs_[A-Za-z0-9_<>]+/[A-Za-z0-9_]+")


def name_tokens(text, app_name="simple-log-service"):
    """``(token, is_prefix)`` for each resource name in ``text``; ``<stage>`` is kept for the caller to expand."""
    for match in _NAME_TOKEN.finditer(text):
        token = match.group(0)
        before = text[max(0, match.start() - 40):match.start()]
        if re.search(r"(github\.com|https?:)\S*$", before):
            continue
        if before.endswith("assumed-role"):  # a role session ARN: assumed-role/<role>/<session>
            token = token.lstrip("/").split("/", 1)[0]
        elif before.endswith("log-group:"):
            token = token.split(":", 1)[0]
        token = token.split(":log-stream", 1)[0]
        token = re.sub(r"/index/\w+$", "", token).rstrip(".:/")
        is_prefix = text[match.end():match.end() + 1] == "*" or token.endswith("-")
        yield token.rstrip("-") if is_prefix else token, is_prefix
