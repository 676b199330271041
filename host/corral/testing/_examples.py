"""``run_examples``: a pack's own formula examples as a test."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ._harness import _pack_bytes

if TYPE_CHECKING:
    from .._runtime.examples import ExampleOutcome


class ExampleFailed(AssertionError):
    """One or more of a pack's examples gave another result (or an error)."""


def run_examples(pack: str | Path | bytes) -> list[ExampleOutcome]:
    """Build (a directory) or load ``pack``, run every example of its manifest in the real
    sandbox, without network, and raise :class:`ExampleFailed` listing each failure with
    its diff. Examples of a formula that needs a connection are skipped (with a reason in
    the outcome). Returns every outcome; a pack without examples fails, since a test of
    its examples that checks nothing would pass for any pack."""
    from .._runtime.examples import run_examples as run_all
    from .._runtime.examples import summary
    from .._runtime.pack import pack_from_bytes

    loaded = pack_from_bytes(_pack_bytes(pack), source="corral.testing")
    outcomes = run_all(loaded)
    if not outcomes:
        raise ExampleFailed(f"pack {loaded.name} declares no examples")
    failed = [o for o in outcomes if o.verdict == "fail"]
    if failed:
        raise ExampleFailed(f"{loaded.name}: {summary(outcomes)}\n"
                            + "\n".join(o.report() for o in failed))
    return outcomes
