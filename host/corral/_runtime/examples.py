"""Running a pack's formula ``examples`` in the real sandbox and comparing their results.

``corral validate --examples`` and :func:`corral.testing.run_examples` both use
:func:`run_examples`. Each example is one call through :meth:`Pack.call` (coercion,
``validate_parameters``, the formula's own limits, the result schema) with **no network**:
a fetch is refused (``fetch_denied``, rule ``no_network``) and the example fails saying
so, since an example documents a pure call. An example of a formula that needs a
connection (``connection = "required"`` on a pack with auth) cannot run without
credentials, so it is skipped with that reason, never silently.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from .._errors import CorralError
from .._pack.manifest import Example, FormulaDef
from .._sandbox.sandbox import HostCalls
from .pack import Pack

Verdict = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class ExampleOutcome:
    """What running one example gave."""

    formula: str
    index: int
    example: Example
    verdict: Verdict
    #: The value the call returned (pass or a wrong result).
    actual: Any = None
    #: ``kind: message`` of the error the call raised instead of a result.
    error: str = ""
    #: A unified diff of expected against actual (a wrong result).
    diff: str = ""
    #: Why the example was skipped.
    reason: str = ""

    @property
    def call_text(self) -> str:
        args = ", ".join(_json(v) for v in self.example.params)
        return f"{self.formula}({args})"

    def report(self) -> str:
        """One line, then the diff or error indented below it."""
        head = f"{self.verdict.upper()} {self.formula} example {self.index}: {self.call_text}"
        if self.verdict == "skip":
            return f"{head}: skipped, {self.reason}"
        if self.verdict == "pass":
            return f"{head} = {_json(self.actual)}"
        detail = self.diff or f"expected {_json(self.example.result)}, raised {self.error}"
        return head + "\n" + "\n".join("    " + line for line in detail.splitlines())


def run_examples(pack: Pack, *, host: HostCalls | None = None) -> list[ExampleOutcome]:
    """Run every example of every formula and action of ``pack``, in manifest order."""
    outcomes: list[ExampleOutcome] = []
    for formula in pack.manifest.formulas:
        reason = _skip_reason(pack, formula)
        for index, example in enumerate(formula.examples):
            if reason:
                outcomes.append(ExampleOutcome(formula.name, index, example, "skip",
                                               reason=reason))
            else:
                outcomes.append(_run_one(pack, formula, index, example, host))
    return outcomes


def summary(outcomes: list[ExampleOutcome]) -> str:
    counts = {v: sum(1 for o in outcomes if o.verdict == v) for v in ("pass", "fail", "skip")}
    return (f"{len(outcomes)} example(s): {counts['pass']} passed, {counts['fail']} failed, "
            f"{counts['skip']} skipped")


def _skip_reason(pack: Pack, formula: FormulaDef) -> str:
    if formula.connection == "required" and pack.manifest.auth.kind != "none":
        return ("the formula needs a connection (connection = \"required\") and examples run "
                "without credentials")
    return ""


def _run_one(pack: Pack, formula: FormulaDef, index: int, example: Example,
             host: HostCalls | None) -> ExampleOutcome:
    try:
        actual = pack.call(formula.name, *example.params, host=host)
    except CorralError as exc:
        hint = (" (examples run without network)"
                if exc.details.get("rule") == "no_network" else "")
        return ExampleOutcome(formula.name, index, example, "fail",
                              error=f"{exc.kind}: {exc.message}{hint}")
    if same_value(example.result, actual):
        return ExampleOutcome(formula.name, index, example, "pass", actual=actual)
    return ExampleOutcome(formula.name, index, example, "fail", actual=actual,
                          diff=_diff(example.result, actual))


def same_value(expected: Any, actual: Any) -> bool:
    """Equal as JSON values: a number equals a number of the same value, but ``true`` is
    not ``1`` and ``"1"`` is not ``1``."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return expected == actual or (isinstance(expected, float) and isinstance(actual, float)
                                      and math.isnan(expected) and math.isnan(actual))
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        return len(expected) == len(actual) and all(
            same_value(e, a) for e, a in zip(expected, actual))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            same_value(v, actual[k]) for k, v in expected.items())
    return type(expected) is type(actual) and bool(expected == actual)


def _json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=indent,
                      default=lambda v: f"<{type(v).__name__}: {v!r}>"[:200])


def _diff(expected: Any, actual: Any) -> str:
    lines = difflib.unified_diff(_json(expected, 2).splitlines(), _json(actual, 2).splitlines(),
                                 "expected", "actual", lineterm="")
    return "\n".join(lines)
