"""The answer of a pack's ``validate_parameters`` op (guest-sdk/ABI.md §3.1).

A formula that declares ``validate_parameters = true`` is asked, before each call, whether
its (already coerced) arguments are acceptable. The guest answers
``{valid: bool, message?: str, field_errors?: [{parameter, message}]}``; a verdict of
invalid becomes :class:`~corral._errors.InvalidParameters` (a 400 naming the parameters
and carrying the pack's messages), and anything that is not such a map is the pack's
fault, ``bad_output`` naming the path.
"""

from __future__ import annotations

from typing import Any

from .._errors import BadOutput, InvalidParameters
from .manifest import FormulaDef

MAX_FIELD_ERRORS = 64
MAX_MESSAGE_CHARS = 1024


def check_validation(value: Any, formula: FormulaDef, *, pack: str) -> None:
    """Return if the verdict is valid; raise InvalidParameters (or BadOutput) otherwise."""
    def bad(path: str, message: str) -> BadOutput:
        return BadOutput(f"validate_parameters: {path}: {message}", pack=pack,
                         formula=formula.name, path=path)

    if not isinstance(value, dict) or not isinstance(value.get("valid"), bool):
        raise bad("result.valid", "the answer must be a map {valid: bool, message?, "
                  "field_errors?}")
    message = value.get("message")
    if message is not None and not isinstance(message, str):
        raise bad("result.message", "must be a string")
    field_errors = _field_errors(value.get("field_errors"), formula, bad)
    if value["valid"]:
        return
    parameters = list(dict.fromkeys(e["parameter"] for e in field_errors))
    reasons = [message[:MAX_MESSAGE_CHARS]] if message else []
    reasons += [f"{e['parameter']}: {e['message']}" for e in field_errors]
    text = "; ".join(reasons) or "the pack found the arguments invalid"
    raise InvalidParameters(f"{pack}.{formula.name}: invalid arguments: {text}", pack=pack,
                            formula=formula.name, parameters=parameters or None,
                            field_errors=field_errors or None)


def _field_errors(raw: Any, formula: FormulaDef, bad: Any) -> list[dict[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_FIELD_ERRORS:
        raise bad("result.field_errors", f"must be an array of at most {MAX_FIELD_ERRORS} "
                  "{parameter, message} maps")
    declared = {p.name for p in formula.params}
    out: list[dict[str, str]] = []
    for i, entry in enumerate(raw):
        where = f"result.field_errors[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("parameter"), str) \
                or not isinstance(entry.get("message"), str):
            raise bad(where, "must be a map {parameter: str, message: str}")
        if entry["parameter"] not in declared:
            raise bad(f"{where}.parameter", f"{entry['parameter'][:64]!r} is not a parameter "
                      f"of {formula.name}")
        out.append({"parameter": entry["parameter"],
                    "message": entry["message"][:MAX_MESSAGE_CHARS]})
    return out
