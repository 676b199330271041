"""Formula metadata in ``pack.toml``: ``examples``, ``validate_parameters`` and ``timeout_ms``.

Read beside the rest of a formula by :mod:`corral._pack.parse`. An example is checked the
way a call would be: its ``params`` must fit the formula's signature and parameter types
(the coercion a caller's arguments get), its ``result`` the formula's ``result`` schema,
so a manifest cannot document a call that could never happen. A formula's ``timeout_ms``
may only lower the pack's ``[limits] timeout_ms``; asking for more is a manifest error,
since a pack cannot lift its own ceiling one formula at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .._errors import ArgumentError, ManifestError
from .coerce import coerce_args
from .manifest import MAX_TIMEOUT_MS, Example, FormulaDef, Limits
from .schema import schema_errors

#: parse's table reader (``corral._pack.parse._Reader``), which imports this module; it
#: names the field path in every error it raises.
_Reader = Any

#: The most examples one formula may carry (they ride in every pack description).
MAX_EXAMPLES = 50


def read_metadata(reader: _Reader) -> dict[str, Any]:
    """The metadata keys of one formula table, as FormulaDef keyword arguments; the
    examples are checked against the formula later, by :func:`checked_examples`."""
    timeout = reader.get("timeout_ms", int)
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT_MS:
        raise reader.fail("timeout_ms", f"must be a positive integer of at most "
                          f"{MAX_TIMEOUT_MS}", "range")
    examples = reader.items("examples")
    if len(examples) > MAX_EXAMPLES:
        raise reader.fail("examples", f"may hold at most {MAX_EXAMPLES} examples", "range")
    return {"timeout_ms": timeout,
            "validate_parameters": reader.get("validate_parameters", bool, default=False),
            "examples": tuple(_read_example(r) for r in examples)}


def _read_example(reader: _Reader) -> Example:
    params = reader.get("params", list, default=[])
    if "result" not in reader.data:
        raise reader.fail("result", "is required: the value the formula returns for params",
                          "required")
    reader.seen.add("result")
    reader.done()
    return Example(params=tuple(params), result=reader.data["result"])


def checked_examples(formula: FormulaDef, owner: _Reader) -> None:
    """Refuse an example whose params do not fit ``formula`` or whose result breaks its
    result schema, naming ``<owner>.examples[i].params`` or ``.result``."""
    for i, example in enumerate(formula.examples):
        where = f"examples[{i}]"
        try:
            coerce_args(formula, list(example.params), pack="pack")
        except ArgumentError as exc:
            reason = exc.message.removeprefix(f"pack.{formula.name}").lstrip(": ")
            raise owner.fail(f"{where}.params", f"do not fit the signature: {reason}",
                             "example_params") from None
        errors = schema_errors(formula.result, example.result, "result")
        if errors:
            raise owner.fail(f"{where}.result", f"breaks the formula's result schema: "
                             f"{errors[0]}", "example_result")


def check_formula_timeouts(formulas: Sequence[FormulaDef], limits: Limits,
                           source: str | None) -> None:
    """A formula may ask for less time than the pack's limit, never for more."""
    index = {"formulas": 0, "actions": 0}
    for formula in formulas:
        table = "actions" if formula.is_action else "formulas"
        where = f"{table}[{index[table]}].timeout_ms"
        index[table] += 1
        if formula.timeout_ms is not None and formula.timeout_ms > limits.timeout_ms:
            raise ManifestError(f"{formula.timeout_ms} is over the pack's [limits] timeout_ms of "
                                f"{limits.timeout_ms}; a formula may only lower it",
                                field=where, rule="timeout_over_pack_limit", source=source)


def formula_limits(formula: FormulaDef, limits: Limits) -> Limits:
    """The limits one call of ``formula`` runs under: the pack's, with its own timeout."""
    if formula.timeout_ms is None or formula.timeout_ms >= limits.timeout_ms:
        return limits
    return replace(limits, timeout_ms=formula.timeout_ms)
