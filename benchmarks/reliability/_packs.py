"""The packs the reliability benchmark writes and calls, built from inline WAT (no toolchain).

``answer_pack`` answers every call with one JSON value, so a pack version can say which
version it is (a wrong answer after a restart is seen at once) and a padding section makes
an upload as large as wanted. ``lcg_pack`` computes its answer (a thousand steps of a
linear congruential generator from a seed) in real machine code, so a damaged precompiled
module shows up as a wrong number, a trap or a crash; ``lcg_value`` is what it must answer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgpack
import wasmtime

from corral import MANIFEST_SECTION, set_custom_section

LCG_STEPS = 1000
_MUL, _ADD = 1103515245, 12345
_ANSWER_AT = 1024
_HEADER = """
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (func (export "corral_abi_v1"))
  (func (export "corral_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
"""


def manifest(name: str, version: str, formula: str = "F", *, auth: str | None = None,
             cache_ttl_s: float | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": formula,
                             "params": [{"name": "n", "type": "integer", "optional": True}]}
    if cache_ttl_s:
        entry["cache_ttl_s"] = cache_ttl_s
    if auth:
        entry["connection"] = "required"
    data: dict[str, Any] = {"pack": {"name": name, "version": version}, "formulas": [entry]}
    if auth:
        data["auth"] = {"kind": auth}
    return data


def _wrap(wat: str, meta: dict[str, Any], padding: bytes = b"") -> bytes:
    wasm: bytes = set_custom_section(bytes(wasmtime.wat2wasm(wat)), MANIFEST_SECTION,
                                     json.dumps(meta).encode())
    return set_custom_section(wasm, "reliability.padding", padding) if padding else wasm


def answer_pack(name: str, version: str, answer: Any, *, auth: str | None = None,
                cache_ttl_s: float | None = None, padding: bytes = b"") -> bytes:
    """A pack whose formula ``F`` answers ``answer`` to every call."""
    data = msgpack.packb({"ok": answer}, use_bin_type=True)
    escaped = "".join(f"\\{b:02x}" for b in data)
    wat = f"""(module {_HEADER}
      (func (export "corral_call") (param i32 i32) (result i64)
        (i64.or (i64.shl (i64.const {_ANSWER_AT}) (i64.const 32)) (i64.const {len(data)})))
      (data (i32.const {_ANSWER_AT}) "{escaped}"))"""
    return _wrap(wat, manifest(name, version, auth=auth, cache_ttl_s=cache_ttl_s), padding)


def version_answer(name: str, version: str) -> str:
    """What an uploaded version answers: its own name and version."""
    return f"{name} {version}"


def lcg_value(seed: int) -> int:
    x = seed
    for _ in range(LCG_STEPS):
        x = (x * _MUL + _ADD) & 0xFFFFFFFF
    return x


def lcg_pack(name: str, seed: int) -> bytes:
    """A pack whose formula ``F`` answers ``lcg_value(seed)``, computed on every call."""
    out = _ANSWER_AT
    stores = "\n".join(  # the u32 big-endian after msgpack's 0xce marker
        f"(i32.store8 (i32.const {out + 5 + i}) "
        f"(i32.shr_u (local.get $x) (i32.const {24 - 8 * i})))" for i in range(4))
    wat = f"""(module {_HEADER}
      (func (export "corral_call") (param i32 i32) (result i64)
        (local $x i32) (local $i i32)
        (local.set $x (i32.const {seed}))
        (block $done (loop $next
          (br_if $done (i32.ge_u (local.get $i) (i32.const {LCG_STEPS})))
          (local.set $x (i32.add (i32.mul (local.get $x) (i32.const {_MUL}))
                                 (i32.const {_ADD})))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next)))
        (i32.store8 (i32.const {out}) (i32.const 0x81))
        (i32.store8 (i32.const {out + 1}) (i32.const 0xa2))
        (i32.store8 (i32.const {out + 2}) (i32.const 0x6f))
        (i32.store8 (i32.const {out + 3}) (i32.const 0x6b))
        (i32.store8 (i32.const {out + 4}) (i32.const 0xce))
        {stores}
        (i64.or (i64.shl (i64.const {out}) (i64.const 32)) (i64.const 9))))"""
    return _wrap(wat, manifest(name, "1.0.0"))


class BasePacks:
    """The packs every server of a run starts with, written once as .wasm files."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.base = self._write(directory, "base", answer_pack("base", "1.0.0", "base"))
        self.conn = self._write(directory, "conn",
                                answer_pack("conn", "1.0.0", "conn", auth="bearer"))
        self.cache_wasm = answer_pack("cache", "1.0.0", "cached", cache_ttl_s=3600)
        self.cache = self._write(directory, "cache", self.cache_wasm)
        self.lcg_seeds = {"lcg_a": 7, "lcg_b": 1_000_003}
        wasms = {name: lcg_pack(name, seed) for name, seed in self.lcg_seeds.items()}
        self.lcg = {name: self._write(directory, name, wasm) for name, wasm in wasms.items()}
        self.lcg_digests = {name: hashlib.sha256(wasm).hexdigest()
                            for name, wasm in wasms.items()}

    @staticmethod
    def _write(directory: Path, name: str, wasm: bytes) -> Path:
        path = directory / f"{name}.wasm"
        path.write_bytes(wasm)
        return path
