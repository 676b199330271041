"""Attacks on the sandbox limits from JavaScript: the QuickJS engine snapshot must hold the
same fuel, deadline, memory and stack limits as any pack, and keep calls apart.

The bundle is the engine's hand-written test pack (``tests/toolchain/js/hello.js``, no
Coda SDK). Verdicts are by count, not time: the fuel-bound loop has 200M fuel under a
120 s deadline no machine reaches first; the deadline-bound one has the ceiling fuel
(10^10, minutes of work anywhere) under a 300 ms deadline.
"""

from __future__ import annotations

from typing import Any

from ..harness import REPO, Attack, Bench, Observation

BUNDLE = REPO / "tests" / "toolchain" / "js" / "hello.js"
FORMULAS = ("Hello", "Counter", "Spin", "HeapBomb", "Recurse", "Fail", "Never")
PACKS = {"jsfuel": {"fuel": 200_000_000, "timeout_ms": 120_000, "memory_mb": 32},
         "jsdeadline": {"fuel": 10_000_000_000, "timeout_ms": 300, "memory_mb": 32}}


def _manifest(name: str, limits: dict[str, int]) -> dict[str, Any]:
    return {"pack": {"name": name, "version": "0.1.0"}, "limits": limits,
            "formulas": [{"name": f, "params": [{"name": "x", "type": "string",
                                                 "optional": True}],
                          "result": {"type": "any"}} for f in FORMULAS]}


def prepare(bench: Bench) -> None:
    from corral._toolchain.js_snapshot import snapshot_js_pack

    for name, limits in PACKS.items():
        bench.register(snapshot_js_pack(BUNDLE.read_text(), _manifest(name, limits)),
                       source=f"{name}.wasm")


def _fresh_every_call(bench: Bench) -> list[Any]:
    return [bench.call("jsfuel", "Counter") for _ in range(5)]


def _all_ones(bench: Bench, seen: Observation) -> str | None:
    return None if seen.value == [1] * 5 else f"a global counter read {seen.value!r}, not 1 each call"


def _healthy_after(formula: str) -> Any:
    def run(bench: Bench) -> Any:
        try:
            return bench.call("jsfuel", formula)
        finally:
            if bench.call("jsfuel", "Hello", "again") != "Hello, again!":
                raise AssertionError("the JS pack did not answer a normal call after the attack")
    return run


def attacks() -> list[Attack]:
    return [
        Attack("endless JS loop, fuel-bound", "js_limits", "fuel_exhausted",
               _healthy_after("Spin"), quick=True, language="js"),
        Attack("endless JS loop, deadline-bound", "js_limits", "timeout",
               lambda b: b.call("jsdeadline", "Spin"), language="js"),
        Attack("JS heap bomb (1 MiB ArrayBuffers)", "js_limits", "memory_limit",
               _healthy_after("HeapBomb"), quick=True, language="js"),
        Attack("unbounded JS recursion", "js_limits", "stack_overflow|guest_error",
               _healthy_after("Recurse"), quick=True, language="js"),
        Attack("a JS global survives between calls", "js_limits", "ok", _fresh_every_call,
               verify=_all_ones, quick=True, language="js"),
        Attack("a JS promise that never settles", "js_limits", "guest_error",
               lambda b: b.call("jsfuel", "Never"), language="js"),
    ]
