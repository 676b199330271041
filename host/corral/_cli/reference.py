"""``corral reference``: docs/reference.md, generated from the code that reads each key.

Every ``pack.toml`` key is a field of a manifest dataclass (``Manifest``, ``Limits``,
``FormulaDef``, ...) and every host setting a field of ``Settings``; each is documented by
a ``#:`` comment above the field or a string below it, and its type and default come from
the dataclass. ``SECTIONS`` says which dataclass is which table of ``pack.toml``; a new
field shows up by itself. Environment variables read outside ``Settings`` are found by
scanning the package for ``CORRAL_*`` names and described by the docstring of the code that
reads them. The committed file is checked by a test: run ``corral reference -o
docs/reference.md`` after changing a field.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import textwrap
from pathlib import Path
from typing import Any, Iterator, Sequence

from .._pack import manifest as manifest_module
from .._pack import params as params_module
from .._settings import Settings
from .._toolchain.build import BUILD_KEYS
from .reference_hints import hints_section
from .reference_metadata import FORMULA_METADATA, FORMULA_METADATA_NOTES
from .reference_auth import auth_examples_section
from .reference_formulas import formula_functions_section

PACKAGE = Path(__file__).resolve().parents[1]
ENV_NAME = re.compile(r"CORRAL_[A-Z0-9_]+")


@dataclasses.dataclass(frozen=True)
class Section:
    """One table of pack.toml and the dataclass its keys become fields of."""

    heading: str
    model: type
    intro: str
    #: Fields of the model that are not keys of this table.
    skip: tuple[str, ...] = ()


SECTIONS = (
    Section("[pack]", manifest_module.Manifest, "Who the pack is and what it may reach.",
            skip=("auth", "limits", "formulas", "sync_tables")),
    Section("[auth]", manifest_module.AuthSpec,
            "How the host authenticates the pack's fetches; the secrets live in connections "
            "(docs/connections.md). Each kind takes the options listed under it.",
            skip=("options",)),
    Section("[limits]", manifest_module.Limits,
            "What one call may use. A pack may ask for less than the host's ceiling, "
            "never more."),
    Section("[[formulas]] and [[actions]]", manifest_module.FormulaDef,
            "One table per formula (a cacheable, side-effect-free call) or action.",
            skip=("is_action",)),
    Section("examples", manifest_module.Example,
            "The `examples` array of a formula or action: one inline table per call with a "
            "known result."),
    Section("[[sync_tables]]", manifest_module.SyncTableDef,
            "One table per sync table (docs/pack-model.md)."),
    Section("params", manifest_module.ParamDef,
            "The `params` array of a formula, action or sync table: one inline table each."),
    Section("schemas", manifest_module.Schema,
            "A formula's `result`, a sync table's `schema`, an array's `items` and each of an "
            "object's `properties` are schemas.", skip=("hint_options",)),
)


def field_docs(cls: type) -> dict[str, str]:
    """Each field's ``#:`` comment (the lines right above it) or string literal (right below)."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    docs: dict[str, str] = {}
    for i, node in enumerate(body.body):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        comment: list[str] = []
        row = node.lineno - 2
        while row >= 0 and lines[row].strip().startswith("#:"):
            comment.insert(0, lines[row].strip()[2:].strip())
            row -= 1
        following = body.body[i + 1] if i + 1 < len(body.body) else None
        if (not comment and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            comment = [inspect.cleandoc(following.value.value)]
        docs[node.target.id] = _markdown(" ".join(comment))
    return docs


def _markdown(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("``", "`").replace("|", "\\|")).strip()


_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
          "Path": "path", "Any": "any"}


def toml_type(annotation: str) -> str:
    """A field's annotation in pack.toml / settings terms (``tuple[str, ...]``: array of string)."""
    text = annotation.replace(" | None", "").strip()
    if text.startswith("tuple[tuple["):
        return "table"
    if text.startswith("tuple["):
        inner = toml_type(text[len("tuple["):].split(",")[0])
        return f"array of {'tables' if inner == 'table' else inner}"
    if text.startswith(("Mapping[", "dict[")):
        return "table"
    return _TYPES.get(text, "table" if text[:1].isupper() else text)


def default_text(field: dataclasses.Field[Any]) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return "required"
    return _value_text(value)


def _default_for(field: dataclasses.Field[Any]) -> str:
    """Like :func:`default_text`, but an empty sequence held as a table reads ``{}``."""
    text = default_text(field)
    return "`{}`" if text == "`[]`" and toml_type(str(field.type)) == "table" else text


def _value_text(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int):
        return f"`{value:_}`" if value >= 10_000 else f"`{value}`"
    if isinstance(value, (float, Path)):
        return f"`{value}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, (tuple, list)):
        return "`[]`" if not value else f"`{list(value)}`"
    if isinstance(value, dict) or dataclasses.is_dataclass(value):
        return "`{}`"  # an empty table: every key at its default
    return "none"


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
            + ["| " + " | ".join(row) + " |" for row in rows])


def _section(section: Section) -> list[str]:
    docs = field_docs(section.model)
    rows = [(f"`{f.name}`", toml_type(str(f.type)), _default_for(f), docs.get(f.name, ""))
            for f in dataclasses.fields(section.model) if f.name not in section.skip]
    out = [f"### {section.heading}", "", section.intro, ""]
    out += _table(("key", "type", "default", "meaning"), rows)
    if section.model is manifest_module.Manifest:
        out += ["", "`build = { ... }` in `[pack]` (read by `corral build`):", ""]
        out += _table(("key", "meaning"), [(f"`{k}`", _markdown(v)) for k, v in BUILD_KEYS.items()])
    if section.model is manifest_module.AuthSpec:
        out += ["", *_table(("kind", "required options", "optional options"), [
            (f"`{kind}`", _names(required), _names(optional))
            for kind, (required, optional) in manifest_module.AUTH_KINDS.items()])]
        out += ["", "Every kind but `none` may also set " + _names(
            manifest_module.AUTH_COMMON_OPTIONS) + " (a per-connection endpoint)."]
        out += auth_examples_section()
    if section.model is manifest_module.ParamDef:
        out += ["", *_param_types()]
    if section.model is manifest_module.Schema:
        out += ["", *hints_section()]
    if section.model is manifest_module.FormulaDef:
        out += ["", FORMULA_METADATA_NOTES, "", FORMULA_METADATA]
    if section.model is manifest_module.Limits:
        ceilings = manifest_module.LIMIT_CEILINGS
        out += ["", "Host ceilings: " + ", ".join(
            f"`{key}` ≤ {_value_text(value).strip('`')}" for key, value in ceilings.items()) + "."]
    return out + [""]


def _param_types() -> list[str]:
    """The parameter types table: what a caller may send, what the guest gets, an example."""
    rows = [(f"`{kind}`", _markdown(params_module.ACCEPTED[kind]),
             _markdown(params_module.RECEIVED[kind]), f"`{params_module.EXAMPLES[kind]}`")
            for kind in params_module.PARAM_TYPES_IN_ORDER]
    return ["Parameter types (`type`). Every scalar type is also an array "
            "(`type = \"array\", items = \"date\"`) and a sparse array (`sparse = true`: "
            "items may be null; a plain array refuses a null item, naming the parameter and "
            "the index). `default` and `suggested` are checked against the type when the "
            "manifest is read and kept in the form the guest receives.", "",
            *_table(("type", "the caller sends", "the guest receives", "example"), rows)]


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{name}`" for name in names) or "—"


def _settings_section() -> list[str]:
    docs = field_docs(Settings)
    rows = [(f"`{f.name}`", f"`CORRAL_{f.name.upper()}`", toml_type(str(f.type)),
             default_text(f), docs.get(f.name, "")) for f in dataclasses.fields(Settings)]
    intro = ("Each setting comes from its default, a TOML file (`--config`, else "
             "`CORRAL_CONFIG`; keys at the top level or under `[corral]`), its environment "
             "variable, then the command line, each overriding the one before. In the "
             "environment, booleans are `1`/`true`/`yes`/`on`, `packs` is a list separated by "
             "the OS path separator and `host_map` is `name=ip,name=ip`.")
    return ["## Host settings", "", intro, "",
            *_table(("setting", "environment", "type", "default", "meaning"), rows), ""]


def environment_variables() -> list[tuple[str, str, str]]:
    """(variable, module, description) for every ``CORRAL_*`` name the package reads that is
    not a setting: the sentence of the reading function's (else the module's) docstring that
    names it, else that function's first line."""
    settings = {f"CORRAL_{f.name.upper()}" for f in dataclasses.fields(Settings)}
    found: dict[str, tuple[str, str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("corral", *path.relative_to(PACKAGE).with_suffix("").parts))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, owner in _env_names(tree, None):
            if name in settings or name in found:
                continue
            found[name] = (module.removesuffix(".__init__"), _describe(name, owner, tree))
    return [(name, module, text) for name, (module, text) in sorted(found.items())]


def _env_names(node: ast.AST, owner: ast.AST | None) -> Iterator[tuple[str, ast.AST | None]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _env_names(child, child)
        elif (isinstance(child, ast.Constant) and isinstance(child.value, str)
              and ENV_NAME.fullmatch(child.value)):
            yield child.value, owner
        else:
            yield from _env_names(child, owner)


def _describe(name: str, owner: ast.AST | None, tree: ast.Module) -> str:
    own = ast.get_docstring(owner) if isinstance(owner, (ast.FunctionDef,
                                                         ast.AsyncFunctionDef)) else None
    for doc in (own, ast.get_docstring(tree)):
        for sentence in re.split(r"(?<=\.)\s+(?=[A-Z`(])", doc or ""):
            if name in sentence:
                return _markdown(sentence)
    return _markdown((own or "").split("\n\n")[0])


def _environment_section() -> list[str]:
    rows = [(f"`{name}`", f"`{module}`", text) for name, module, text in environment_variables()]
    return ["### Other environment variables", "",
            "Read by the parts that use them, not through `Settings`:", "",
            *_table(("variable", "read in", "meaning"), rows), ""]


def render() -> str:
    """The whole of docs/reference.md."""
    out = ["# Reference: pack.toml and host settings", "",
           "Generated by `corral reference -o docs/reference.md` from the dataclasses that "
           "hold each key (`corral/_pack/manifest.py`, `corral/_toolchain/build.py`, "
           "`corral/_settings.py`); edit the field comments there, not this file. A test "
           "fails when this file is stale.", "",
           "## pack.toml", "",
           "A pack's manifest, beside its source. Unknown keys are refused, naming the key.", ""]
    for section in SECTIONS:
        out += _section(section)
    out += _settings_section() + _environment_section() + formula_functions_section()
    return "\n".join(out).rstrip("\n") + "\n"


def cmd_reference(args: argparse.Namespace) -> int:
    text = render()
    if args.check:
        current = Path(args.check).read_text(encoding="utf-8") if Path(args.check).is_file() else ""
        if current != text:
            print(f"{args.check} is stale; run `corral reference -o {args.check}`")
            return 1
        print(f"{args.check} is up to date")
    elif args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


def register_reference_command(subparsers: Any) -> None:
    """Add ``corral reference [-o PATH | --check PATH]`` to the CLI."""
    parser = subparsers.add_parser("reference", help="print the reference of every pack.toml "
                                                     "key and host setting (docs/reference.md)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("-o", "--output", metavar="PATH", help="write it to PATH")
    which.add_argument("--check", metavar="PATH", help="exit 1 if PATH is not up to date")
    parser.set_defaults(func=cmd_reference)
