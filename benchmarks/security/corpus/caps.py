"""Caps that must keep applying: bytes after a compressed stream ends (counted on the
wire, whatever the decoder thinks), values nested ~600-990 deep in pack results, JSON
bodies and formulas (a clear error, never a bare RecursionError), and built-ins that grow
text (``Upper("ß")`` doubles it) held to the text cap. Verdicts are bytes and counts."""

from __future__ import annotations

import json
from typing import Any, Callable

import wasmtime

from corral import MANIFEST_SECTION, set_custom_section

from ..harness import Attack, Bench, Observation
from ._relay import guest_saw, relay_and_fetch
from .abi import WAT_DIR

#: What the host may read of one response: the cap, and a margin for headers and
#: read-ahead (socket buffers, TLS records).
WIRE_SLACK = 2 << 20
STREAMS = {"/gzip-then-junk": "junk after a tiny gzip member, endless",
           "/gzip-then-members": "gzip members of zeros after a tiny one, endless",
           "/deflate-then-junk": "junk after a tiny deflate stream, endless",
           "/br-then-junk": "junk after a tiny brotli stream, endless"}
DEPTHS = (600, 800, 990)


def _bounded_read(bench: Bench, seen: Observation) -> str | None:
    cap = bench.host.fetch_client.config.max_response_bytes
    if seen.bytes_read > cap + WIRE_SLACK:
        return f"the host read {seen.bytes_read} bytes off the wire (cap {cap})"
    return None


def deep_answer(depth: int, *, maps: bool = False) -> bytes:
    """A WAT pack whose one formula answers ``{"ok": [[[...]]]}`` nested ``depth`` deep."""
    level = "\\81\\a1k" if maps else "\\91"
    payload = "\\81\\a2ok" + level * depth + "\\c0"
    size = 4 + depth * (3 if maps else 1) + 1
    text = f"""(module {(WAT_DIR / "_base.wat").read_text()} {(WAT_DIR / "_alloc.wat").read_text()}
      (data (i32.const 0x10000) "{payload}")
      (func (export "corral_call") (param i32 i32) (result i64)
        (i64.const {(0x10000 << 32) | size})))"""
    return bytes(wasmtime.wat2wasm(text))


def register_deep(bench: Bench, depth: int, *, maps: bool = False) -> str:
    """Register (once) the deep pack and return its name."""
    name = f"deep{depth}{'m' if maps else ''}"
    if name not in bench.packs:
        manifest = {"pack": {"name": name, "version": "0.1.0"},
                    "formulas": [{"name": "Call"}], "limits": {"fuel": 20_000_000}}
        wasm = set_custom_section(deep_answer(depth, maps=maps), MANIFEST_SECTION,
                                  json.dumps(manifest).encode())
        bench.packs[name] = bench.register(wasm, source=f"{name}.wat")
    return name


def prepare(bench: Bench) -> None:
    for depth in DEPTHS:
        register_deep(bench, depth)
    register_deep(bench, 990, maps=True)


def _deep_call(depth: int, maps: bool = False, formula: str | None = None
               ) -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        name = register_deep(bench, depth, maps=maps)
        if formula is None:
            return bench.call(name, "Call")
        return bench.host.evaluate(formula.format(pack=name))
    return run


def _stream(path: str) -> Callable[[Bench], Any]:
    return lambda b: b.call("zwire", "Fetch", f"http://bench.test:{b.port('wire')}{path}")


#: ``Join(sep, Split("a"*5000, ""))``: 5,000 items joined by a 120-character ``sep``,
#: about 600,000 characters (under the 1,000,000 cap) from a formula of about 5,200; each
#: built-in below grows it past the cap.
def _text(chars: str) -> str:
    return f'Join("{chars * 120}", Split("{"a" * 5_000}", ""))'


GROWERS = {
    "Upper of 600k characters of ß (each becomes SS)": f"=Len(Upper({_text('ß')}))",
    "Upper of ﬃ ligatures (each becomes FFI)": f"=Len(Upper({_text('ﬃ')}))",
    "Lower of İ (each becomes i and a combining dot)": f"=Len(Lower({_text('İ')}))",
    "Concatenate of a 600k text with itself": f"=Len(Concatenate({_text('b')}, {_text('b')}))",
    "& of a 600k text with itself": f"=Len({_text('c')} & {_text('c')})",
    "Join with a 600k separator": f'=Len(Join({_text("d")}, List(1, 2, 3)))',
}


def attacks() -> list[Attack]:
    out = [Attack(f"{title} (bytes read are bounded)", "caps", "fetch_network|fetch_too_large",
                  _stream(path), verify=_bounded_read, quick=path == "/gzip-then-junk",
                  language="zig") for path, title in STREAMS.items()]
    for depth in DEPTHS:
        out.append(Attack(f"pack result nested {depth} deep", "caps", "output_too_large",
                          _deep_call(depth), quick=depth == 990, language="wat"))
        out.append(Attack(f"pack result nested {depth} deep, counted by a formula", "caps",
                          "output_too_large|formula_eval",
                          _deep_call(depth, formula="=Count({pack}.Call())"), language="wat"))
    out.append(Attack("pack result of maps nested 990 deep", "caps", "output_too_large",
                      _deep_call(990, maps=True), language="wat"))
    out.append(Attack("pack result nested 990 deep, compared by a formula", "caps",
                      "output_too_large|formula_eval",
                      _deep_call(990, formula="={pack}.Call() = {pack}.Call()"), language="wat"))
    for kind, depth in (("array", 600), ("array", 990), ("object", 990), ("array", 5000)):
        out.append(Attack(f"fetched JSON nested {depth} deep ({kind}s)", "caps", "ok",
                          relay_and_fetch("plain", f"/deep/{kind}?depth={depth}", mode="json",
                                          direct=False),
                          verify=guest_saw("too_large"), quick=depth == 990 and kind == "array",
                          language="zig"))
    out += [Attack(title, "caps", "formula_eval", _formula(text), quick=title.startswith("Upper of 600k"),
                   language="formula") for title, text in GROWERS.items()]
    return out


def _formula(text: str) -> Callable[[Bench], Any]:
    return lambda b: b.host.evaluate(text)
