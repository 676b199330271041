"""The formula functions section of docs/reference.md, from the built-ins' own one-line docs."""

from __future__ import annotations

from .._formula.builtins import BUILTINS, GROUPS


def formula_functions_section() -> list[str]:
    out = ["## Formula functions", "",
           f"The {len(BUILTINS)} built-in functions of the formula language (names are "
           "case-insensitive; `[x]` is optional, `...` repeats). Positions count from 1; "
           "dates are ISO 8601 text read and written in the caller's timezone. Generated "
           "from `corral/_formula/builtins*.py`.", ""]
    for title, group in GROUPS:
        out += [f"### {title}", "", "| function | returns |", "| --- | --- |"]
        for builtin in sorted(group, key=lambda b: b.name.lower()):
            signature, _, meaning = builtin.doc.partition("): ")
            meaning = meaning.replace("|", "\\|")
            out.append(f"| `{signature})` | {meaning} |")
        out.append("")
    return out
