"""``corral validate --examples PACK``: run every formula example in the real sandbox.

Prints one line per example (``PASS``, ``FAIL`` with a diff or the error, ``SKIP`` with
its reason) and a summary; exits 1 if any example failed. Examples run without network
and without a connection (see :mod:`corral._runtime.examples`).
"""

from __future__ import annotations

from pathlib import Path


def cmd_validate_examples(target: str) -> int:
    from .._runtime.examples import run_examples, summary
    from .._runtime.pack import load_pack

    path = Path(target)
    if path.is_dir():
        from .._toolchain.build import build_pack

        path = build_pack(path).path
    pack = load_pack(path)
    print(f"{path}: valid Corral pack {pack.name} {pack.version} (ABI v1)")
    outcomes = run_examples(pack)
    for outcome in outcomes:
        print(outcome.report())
    if not outcomes:
        print(f"{path}: {pack.name} {pack.version} declares no examples")
        return 0
    print(f"{pack.name} {pack.version}: {summary(outcomes)}")
    return 1 if any(o.verdict == "fail" for o in outcomes) else 0
