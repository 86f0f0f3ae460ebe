"""Read a Terraform root module (its .tf and .tf.json files) without Terraform.

``load_module(folder)`` gives every declaration by kind and address, and
``unresolved_references(module)`` lists the references (``var.x``,
``local.x``, ``data.t.n``, ``aws_t.n``, ``random_t.n``) that nothing in the
module declares, and ``Evaluator`` computes the names a module's string
templates give for a stage's variables. ``devtools.chalice_stage`` renders the
`chalice deploy` path's files from infra/ with it; the infra tests read the
packaged module through it.
"""
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import hcl2
from hcl2 import SerializationOptions

_OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
# Resource types of the providers the module uses; anything else with a dot
# (each.key, count.index, path.module, dynamic-block iterators) is not a declaration.
_RESOURCE_PREFIXES = ("aws_", "random_")
_REFERENCE = re.compile(
    r"(?<![\w.$-])(?:(var|local)\.([A-Za-z_][\w-]*)"
    r"|data\.([a-z][a-z0-9_]*)\.([A-Za-z_][\w-]*)"
    r"|((?:" + "|".join(_RESOURCE_PREFIXES) + r")[a-z0-9_]+)\.([A-Za-z_][\w-]*))"
)


class ModuleError(ValueError):
    """The folder is not a valid root module (unparsable file, duplicate declaration)."""


@dataclass
class Module:
    folder: Path
    resources: dict = field(default_factory=dict)  # (type, name) -> body
    data: dict = field(default_factory=dict)  # (type, name) -> body
    variables: dict = field(default_factory=dict)  # name -> body
    outputs: dict = field(default_factory=dict)  # name -> body
    locals: dict = field(default_factory=dict)  # name -> expression
    providers: list = field(default_factory=list)  # (name, body)
    terraform: list = field(default_factory=list)  # (file name, body)
    files: dict = field(default_factory=dict)  # file name -> parsed document
    origin: dict = field(default_factory=dict)  # address -> file name

    def resource(self, kind, name):
        return self.resources[(kind, name)]

    def resources_of(self, kind):
        return {name: body for (resource_kind, name), body in self.resources.items() if resource_kind == kind}


def _parse(path):
    if path.name.endswith(".tf.json"):
        return _from_json(json.loads(path.read_text()))
    try:
        with path.open() as handle:
            return _from_hcl(hcl2.load(handle, serialization_options=_OPTIONS))
    except Exception as error:  # hcl2 raises lark errors of several kinds
        raise ModuleError(f"{path.name}: {error}") from error


def _from_hcl(document):
    """hcl2 gives each top-level block as a list of one-key dicts; flatten to the JSON syntax's shape."""
    flat = {}
    for kind, entries in document.items():
        if kind in ("resource", "data"):
            merged = flat.setdefault(kind, {})
            for entry in entries:
                for resource_type, named in entry.items():
                    for name, body in named.items():
                        merged.setdefault(resource_type, {}).setdefault(name, []).append(body)
        elif kind in ("variable", "output", "provider", "module"):
            merged = flat.setdefault(kind, {})
            for entry in entries:
                for name, body in entry.items():
                    merged.setdefault(name, []).append(body)
        elif kind in ("locals", "terraform"):
            flat.setdefault(kind, []).extend(entries)
        else:
            raise ModuleError(f"unknown top-level block {kind!r}")
    return flat


def _from_json(document):
    flat = {}
    for kind, value in document.items():
        if kind in ("resource", "data"):
            flat[kind] = {
                resource_type: {name: [body] for name, body in named.items()} for resource_type, named in value.items()
            }
        elif kind in ("variable", "output", "provider", "module"):
            flat[kind] = {name: body if isinstance(body, list) else [body] for name, body in value.items()}
        elif kind in ("locals", "terraform"):
            flat[kind] = value if isinstance(value, list) else [value]
        else:
            raise ModuleError(f"unknown top-level block {kind!r}")
    return flat


def _declare(table, key, body, module, file_name, address):
    if key in table:
        raise ModuleError(f"{address} is declared twice ({module.origin[address]} and {file_name})")
    table[key] = body
    module.origin[address] = file_name


def load_module(folder):
    """Every .tf and .tf.json file of ``folder`` (not its subfolders), as one Module."""
    folder = Path(folder)
    module = Module(folder=folder)
    paths = sorted(path for path in folder.iterdir() if path.name.endswith((".tf", ".tf.json")))
    if not paths:
        raise ModuleError(f"{folder} holds no .tf or .tf.json file")
    for path in paths:
        document = _parse(path)
        module.files[path.name] = document
        for kind, table in (("resource", module.resources), ("data", module.data)):
            for resource_type, named in document.get(kind, {}).items():
                for name, bodies in named.items():
                    for body in bodies:
                        prefix = "data." if kind == "data" else ""
                        _declare(table, (resource_type, name), body, module, path.name,
                                 f"{prefix}{resource_type}.{name}")
        for kind, table in (("variable", module.variables), ("output", module.outputs)):
            for name, bodies in document.get(kind, {}).items():
                for body in bodies:
                    _declare(table, name, body, module, path.name, f"{kind}.{name}")
        for block in document.get("locals", []):
            for name, value in block.items():
                _declare(module.locals, name, value, module, path.name, f"local.{name}")
        for name, bodies in document.get("provider", {}).items():
            module.providers.extend((name, body) for body in bodies)
        module.terraform.extend((path.name, block) for block in document.get("terraform", []))
    return module


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def references(value):
    """Every reference in ``value`` (any nesting of dicts, lists and strings), as strings like 'var.stage'."""
    found = set()
    for text in _strings(value):
        for match in _REFERENCE.finditer(text):
            kind, name, data_type, data_name, resource_type, resource_name = match.groups()
            if kind:
                found.add(f"{kind}.{name}")
            elif data_type:
                found.add(f"data.{data_type}.{data_name}")
            else:
                found.add(f"{resource_type}.{resource_name}")
    return found


def declared(module):
    names = {f"var.{name}" for name in module.variables}
    names |= {f"local.{name}" for name in module.locals}
    names |= {f"data.{kind}.{name}" for kind, name in module.data}
    names |= {f"{kind}.{name}" for kind, name in module.resources}
    return names


def unresolved_references(module):
    """References used anywhere in the module that it does not declare, with the file using each."""
    known = declared(module)
    missing = {}
    for file_name, document in module.files.items():
        for reference in references(document) - known:
            missing.setdefault(reference, set()).add(file_name)
    return missing


def load_tfvars(path):
    """A .tfvars file's values (literals only, as tfvars files hold)."""
    with Path(path).open() as handle:
        return hcl2.load(handle, serialization_options=_OPTIONS)


def module_variables(module, tfvars=None):
    """Every variable's default, overridden by the values of a tfvars file if one is given."""
    values = {name: body.get("default") for name, body in module.variables.items()}
    if tfvars is not None:
        values.update(load_tfvars(tfvars))
    return values


class Unresolvable(ValueError):
    """A template part the evaluator cannot compute (a value known only after apply, a function call)."""


_TEMPLATE = re.compile(r"\$\{([^{}]*)\}")
_JSON_FILE = re.compile(r'^\$\{jsondecode\(file\("\$\{path\.module\}/([\w.-]+)"\)\)(?:\.(\w+))?\}$')
_RESOURCE_ATTRIBUTE = re.compile(r"^([a-z][a-z0-9_]*)\.([A-Za-z_][\w-]*)\.([a-z_]+)$")


class Evaluator:
    """The string templates of a module, computed for one set of variable values.

    It knows ``var.x``, ``local.x`` (string templates, and JSON files read with
    ``jsondecode(file(...))``), ``<type>.<name>.<attribute>`` where the resource
    gives that attribute as a template (a name, say), ``each.key`` when given,
    and whatever ``known`` maps a reference to; anything else is Unresolvable.
    """

    def __init__(self, module, variables, known=None):
        self.module = module
        self.variables = variables
        self.known = dict(known or {})

    def local(self, name):
        expression = self.module.locals[name]
        match = _JSON_FILE.match(expression) if isinstance(expression, str) else None
        if match:
            document = json.loads((self.module.folder / match.group(1)).read_text())
            return document[match.group(2)] if match.group(2) else document
        return expression

    def reference(self, reference, each_key=None):
        if reference in self.known:
            return self.known[reference]
        kind, _, name = reference.partition(".")
        if kind == "var" and isinstance(self.variables.get(name), (str, int, float)) \
                and not isinstance(self.variables.get(name), bool):
            value = self.variables[name]
            return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        if kind == "local" and name in self.module.locals and isinstance(self.local(name), str):
            return self(self.local(name), each_key)
        if reference == "each.key" and each_key is not None:
            return each_key
        attribute = _RESOURCE_ATTRIBUTE.match(reference)
        if attribute and (attribute.group(1), attribute.group(2)) in self.module.resources:
            template = self.module.resources[(attribute.group(1), attribute.group(2))].get(attribute.group(3))
            if isinstance(template, str):
                return self(template, each_key)
        raise Unresolvable(reference)

    def __call__(self, text, each_key=None):
        return _TEMPLATE.sub(lambda match: self.reference(match.group(1).strip(), each_key), text)
