"""Raw ABI abuse no SDK would produce, written in WAT (packs/wat/*.wat), plus malformed
MessagePack answers. Each module is wrapped with a manifest and registered on the host;
attacks refused at load fail in ``register``, before any guest code runs."""

from __future__ import annotations

import json
from typing import Any, Callable

import wasmtime

from corral import MANIFEST_SECTION, set_custom_section

from ..harness import PACKS_DIR, Attack, Bench, Observation

WAT_DIR = PACKS_DIR / "wat"


def wat_module(name: str) -> bytes:
    """The module in ``packs/wat/<name>.wat`` with its ``;; @base`` / ``;; @alloc`` parts."""
    text = (WAT_DIR / f"{name}.wat").read_text()
    text = text.replace(";; @base", (WAT_DIR / "_base.wat").read_text())
    text = text.replace(";; @alloc", (WAT_DIR / "_alloc.wat").read_text())
    return bytes(wasmtime.wat2wasm(text))


def wat_pack(name: str, pack_name: str, **manifest: Any) -> bytes:
    data: dict[str, Any] = {"pack": {"name": pack_name, "version": "0.1.0"},
                            "formulas": [{"name": "Call"}], "limits": {"fuel": 20_000_000}}
    for key, value in manifest.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return set_custom_section(wat_module(name), MANIFEST_SECTION, json.dumps(data).encode())


def run_wat(name: str, **manifest: Any) -> Callable[[Bench], Any]:
    """Register the WAT pack under a fresh name and call its one formula."""
    def run(bench: Bench) -> Any:
        pack_name = bench.unique_name("wat")
        bench.register(wat_pack(name, pack_name, **manifest), source=f"{name}.wat")
        return bench.call(pack_name, "Call")
    return run


def _guest_kind(kind: str) -> Callable[[Bench, Observation], str | None]:
    def verify(bench: Bench, seen: Observation) -> str | None:
        got = getattr(seen.error, "guest_kind", None)
        return None if got == kind else f"the guest relayed {got!r}, not {kind!r}"
    return verify


def _wat(title: str, category: str, expected: str, name: str, *, quick: bool = False,
         verify: Callable[[Bench, Observation], str | None] | None = None,
         known_weakness: str | None = None, **manifest: Any) -> Attack:
    return Attack(title, category, expected, run_wat(name, **manifest), verify=verify,
                  quick=quick, language="wat", known_weakness=known_weakness)


def attacks() -> list[Attack]:
    return [
        # -- malformed MessagePack answers --------------------------------------------------
        _wat("answer bytes that are not MessagePack", "msgpack", "bad_output",
             "garbage_msgpack", quick=True),
        _wat("valid answer followed by trailing bytes", "msgpack", "bad_output",
             "trailing_bytes"),
        _wat("150,000 nested arrays (decoder recursion bomb)", "msgpack", "bad_output",
             "deep_nesting", quick=True),
        _wat("map header claiming 4 billion entries", "msgpack", "bad_output",
             "huge_map_claim"),
        _wat("str header claiming 4 GiB", "msgpack", "bad_output", "huge_str_claim"),
        _wat("MessagePack extension type", "msgpack", "bad_output", "ext_type"),
        _wat("answer with both ok and err", "msgpack", "bad_output", "two_keys"),
        _wat("error answer without kind or message", "msgpack", "bad_output",
             "err_without_kind"),
        _wat("answer pointing at the request buffer (overlap)", "msgpack", "bad_output",
             "overlapping_output"),
        # -- pointers and lengths -----------------------------------------------------------
        _wat("output pointer past the end of memory", "abi", "abi_violation", "oob_output",
             quick=True),
        _wat("output that runs past the end of memory", "abi", "abi_violation",
             "output_past_end"),
        _wat("null output pointer", "abi", "abi_violation", "null_output"),
        _wat("negative output length (-1 as i64)", "abi", "output_too_large",
             "negative_output_len"),
        _wat("corral_alloc returns 0 for the request", "abi", "memory_limit",
             "request_alloc_zero"),
        _wat("corral_alloc returns a negative pointer for the request", "abi",
             "abi_violation", "request_alloc_negative"),
        _wat("corral_alloc hands out the guest's own data for the request", "abi",
             "bad_output", "request_alloc_overlaps_code_data"),
        # -- corral_alloc misbehaving while the host writes a fetch response ----------------
        _wat("corral_alloc returns 0 for a fetch response", "abi", "abi_violation",
             "fetch_alloc_zero", quick=True),
        _wat("corral_alloc returns an out-of-bounds fetch response pointer", "abi",
             "abi_violation", "fetch_alloc_oob"),
        _wat("corral_alloc returns a negative fetch response pointer", "abi",
             "abi_violation", "fetch_alloc_negative"),
        _wat("corral_alloc traps inside the fetch import", "abi", "trap",
             "fetch_alloc_traps"),
        _wat("corral_alloc spins inside the fetch import", "abi", "fuel_exhausted",
             "fetch_alloc_spins"),
        _wat("corral_alloc overlaps the fetch request with its response", "abi",
             "guest_error", "fetch_alloc_overlap", verify=_guest_kind("denied")),
        # -- imports called with garbage ----------------------------------------------------
        _wat("corral.fetch with bytes that are not MessagePack", "abi", "guest_error",
             "fetch_garbage", verify=_guest_kind("bad_request")),
        _wat("corral.fetch with a non-map request", "abi", "guest_error", "fetch_not_a_map",
             verify=_guest_kind("bad_request")),
        _wat("corral.fetch with an out-of-bounds pointer", "abi", "abi_violation",
             "fetch_oob", quick=True),
        _wat("corral.fetch with a negative length", "abi", "abi_violation",
             "fetch_negative_len"),
        _wat("corral.fetch with a 2 GiB length", "abi", "guest_error", "fetch_len_over_cap",
             verify=_guest_kind("too_large")),
        _wat("corral.log with an out-of-bounds pointer", "abi", "abi_violation", "log_oob"),
        _wat("corral.log with a negative length", "abi", "ok", "log_negative_len"),
        _wat("corral.log with a bad level and invalid UTF-8", "abi", "ok", "log_garbage"),
        # -- traps, tables, memory declared by the module -----------------------------------
        _wat("integer division by zero", "abi", "trap", "div_by_zero"),
        _wat("load far outside linear memory", "abi", "trap", "oob_load"),
        _wat("call_indirect through an empty slot", "abi", "trap", "null_call_indirect"),
        _wat("start function that never returns", "cpu", "fuel_exhausted", "start_spin"),
        _wat("table grown 10,000 slots at a time", "memory", "ok", "table_grow_bomb",
             quick=True),
        _wat("memory declared at 256 MiB (cap 64 MiB)", "memory", "memory_limit",
             "memory_initial_huge"),
        _wat("single 4 GiB memory.grow", "memory", "ok", "memory_grow_huge"),
        # -- refused at load ----------------------------------------------------------------
        _wat("table declared with 10 million elements", "memory", "invalid_pack",
             "table_initial_huge", quick=True),
        _wat("corral_call with the wrong signature", "abi", "invalid_pack",
             "wrong_call_signature"),
        _wat("no ABI version marker", "abi", "invalid_pack", "no_abi_marker"),
        _wat("only a future ABI version", "abi", "invalid_pack", "future_abi_only"),
    ]
