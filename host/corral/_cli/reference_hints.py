"""The "Value hints" part of docs/reference.md: every hint, the types it applies to, its
options, its rule and an example, from the registry in :mod:`corral._pack.hint_options`."""

from __future__ import annotations

from .._pack.hint_options import HINT_SPECS, HintSpec, Option


def hints_section() -> list[str]:
    """Markdown lines for the hints table (under the schemas section)."""
    intro = ("A schema's `hint` is checked on every value and the value normalised before the "
             "caller sees it (formula results, sync rows, two-way sync edits); a value that breaks "
             "it is `bad_output` naming the path, e.g. `result.when: hint datetime: 'definitely "
             "not a date' is not a date-time`. A hint on a type it does not apply to, an unknown "
             "option or a bad option value is refused when the manifest is read. Options are "
             "keys beside `hint`. Coda's camelCase names (`progressBar`, `iconOnly`) are read as "
             "the snake_case ones. An empty string is a blank value and passes every text hint.")
    out = ["#### Value hints", "", intro, "",
           "| hint | Coda | applies to | options | rule | example |",
           "| --- | --- | --- | --- | --- | --- |"]
    out += [_row(spec) for spec in HINT_SPECS.values()]
    return out + [""]


def _row(spec: HintSpec) -> str:
    cells = (f"`{spec.name}`", f"`{spec.coda}`" if spec.coda else "— (Corral)",
             ", ".join(spec.types), "<br>".join(_option(o) for o in spec.options) or "—",
             spec.rule, f"`{spec.example}`")
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _option(option: Option) -> str:
    kind = {"number": "number", "whole": "integer", "boolean": "boolean", "text": "string",
            "identity": "string", "options": "array"}.get(option.kind, "string")
    choices = f" ({', '.join(option.choices)})" if option.choices else ""
    required = ", required" if option.required else ""
    return f"`{option.name}` {kind}{required}: {option.doc}{choices}"
