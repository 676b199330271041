"""The narrow WASI subset: offered only to packs with ``pack.wasi``, refused otherwise, and
every function outside it refused at load, naming it."""

from __future__ import annotations

from typing import Any

import pytest
from corral import GuestTrap, PackValidationError, Sandbox, pack_from_bytes
from corral._runtime.calls import CallStats
from corral._sandbox import wasi_subset

from ..conftest import WatPack, simple_manifest


def wasi_manifest(wasi: bool = True) -> dict[str, Any]:
    manifest = simple_manifest("wasipack", ["Run"])
    manifest["pack"]["wasi"] = wasi
    return manifest


def answer_pack(make_wat_pack: WatPack, imports: str, body: str, *, wasi: bool = True) -> bytes:
    """A pack whose one call runs ``body`` and answers ``{ok: <i32 at 2048>}`` as an int32."""
    wat = f"""
    (module
      {imports}
      (memory (export "memory") 2)
      (data (i32.const 1024) "hello from wasi\\n")
      (func (export "corral_abi_v1"))
      (func (export "corral_alloc") (param i32) (result i32) (i32.const 16384))
      (func (export "corral_call") (param i32 i32) (result i64)
        {body}
        ;; {{ok: int32}}: 0x81 0xa2 'o' 'k' 0xd2 + 4 big-endian bytes, at 4096
        (i32.store8 (i32.const 4096) (i32.const 0x81))
        (i32.store8 (i32.const 4097) (i32.const 0xa2))
        (i32.store8 (i32.const 4098) (i32.const 0x6f))
        (i32.store8 (i32.const 4099) (i32.const 0x6b))
        (i32.store8 (i32.const 4100) (i32.const 0xd2))
        (i32.store8 (i32.const 4101) (i32.load8_u (i32.const 2051)))
        (i32.store8 (i32.const 4102) (i32.load8_u (i32.const 2050)))
        (i32.store8 (i32.const 4103) (i32.load8_u (i32.const 2049)))
        (i32.store8 (i32.const 4104) (i32.load8_u (i32.const 2048)))
        (i64.or (i64.shl (i64.const 4096) (i64.const 32)) (i64.const 9))))
    """
    return make_wat_pack(wat, wasi_manifest(wasi))


_W = "wasi_snapshot_preview1"


def test_an_import_outside_the_subset_is_refused_at_load_naming_it(
        make_wat_pack: WatPack, sandbox: Sandbox) -> None:
    wasm = answer_pack(make_wat_pack, f'(import "{_W}" "path_open" (func (param i32 i32 i32 i32 '
                                      'i32 i64 i64 i32 i32) (result i32)))', "")
    with pytest.raises(PackValidationError, match="path_open, which is outside the WASI subset"):
        pack_from_bytes(wasm, sandbox=sandbox)


def test_wasi_without_pack_wasi_is_refused(make_wat_pack: WatPack, sandbox: Sandbox) -> None:
    wasm = answer_pack(make_wat_pack, f'(import "{_W}" "random_get" (func (param i32 i32) '
                                      '(result i32)))', "", wasi=False)
    with pytest.raises(PackValidationError, match="does not set pack.wasi"):
        pack_from_bytes(wasm, sandbox=sandbox)


def test_a_subset_import_with_the_wrong_signature_is_refused(
        make_wat_pack: WatPack, sandbox: Sandbox) -> None:
    wasm = answer_pack(make_wat_pack, f'(import "{_W}" "clock_time_get" (func (param i32 i32 '
                                      'i32) (result i32)))', "")
    with pytest.raises(PackValidationError, match="clock_time_get with the wrong signature"):
        pack_from_bytes(wasm, sandbox=sandbox)


def test_fd_write_to_stdout_goes_to_the_pack_log(make_wat_pack: WatPack, sandbox: Sandbox) -> None:
    imports = f'(import "{_W}" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))'
    body = """
        (i32.store (i32.const 512) (i32.const 1024)) (i32.store (i32.const 516) (i32.const 16))
        (i32.store (i32.const 2048) (call $w (i32.const 1) (i32.const 512) (i32.const 1)
                                            (i32.const 600)))"""
    stats = CallStats()
    pack = pack_from_bytes(answer_pack(make_wat_pack, imports, body), sandbox=sandbox)
    assert pack.call("Run", stats=stats) == wasi_subset.ERRNO_SUCCESS
    assert stats.logs == [("info", "hello from wasi")]


def test_fd_write_to_any_other_fd_is_ebadf(make_wat_pack: WatPack, sandbox: Sandbox) -> None:
    imports = f'(import "{_W}" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))'
    body = """(i32.store (i32.const 2048) (call $w (i32.const 3) (i32.const 512) (i32.const 0)
                                                     (i32.const 600)))"""
    pack = pack_from_bytes(answer_pack(make_wat_pack, imports, body), sandbox=sandbox)
    assert pack.call("Run") == wasi_subset.ERRNO_BADF


@pytest.mark.parametrize(("name", "signature", "args", "errno"), [
    ("fd_close", "(param i32) (result i32)", "(i32.const 0)", wasi_subset.ERRNO_BADF),
    ("fd_fdstat_get", "(param i32 i32) (result i32)", "(i32.const 1) (i32.const 600)",
     wasi_subset.ERRNO_BADF),
    ("fd_seek", "(param i32 i64 i32 i32) (result i32)",
     "(i32.const 1) (i64.const 0) (i32.const 0) (i32.const 600)", wasi_subset.ERRNO_BADF),
    ("fd_prestat_get", "(param i32 i32) (result i32)", "(i32.const 3) (i32.const 600)",
     wasi_subset.ERRNO_BADF),
    ("random_get", "(param i32 i32) (result i32)", "(i32.const 700) (i32.const 32)", 0),
    ("clock_time_get", "(param i32 i64 i32) (result i32)",
     "(i32.const 0) (i64.const 1) (i32.const 600)", 0),
    ("clock_time_get", "(param i32 i64 i32) (result i32)",
     "(i32.const 99) (i64.const 1) (i32.const 600)", wasi_subset.ERRNO_INVAL),
])
def test_each_subset_function_answers_as_documented(make_wat_pack: WatPack, sandbox: Sandbox,
                                                    name: str, signature: str, args: str,
                                                    errno: int) -> None:
    imports = f'(import "{_W}" "{name}" (func $f {signature}))'
    body = f"(i32.store (i32.const 2048) (call $f {args}))"
    pack = pack_from_bytes(answer_pack(make_wat_pack, imports, body), sandbox=sandbox)
    assert pack.call("Run") == errno


def test_environment_and_arguments_are_empty(make_wat_pack: WatPack, sandbox: Sandbox) -> None:
    imports = (f'(import "{_W}" "environ_sizes_get" (func $e (param i32 i32) (result i32)))'
               f'(import "{_W}" "args_sizes_get" (func $a (param i32 i32) (result i32)))')
    body = """
        (i32.store (i32.const 600) (i32.const 7)) (i32.store (i32.const 604) (i32.const 7))
        (drop (call $e (i32.const 600) (i32.const 604)))
        (drop (call $a (i32.const 608) (i32.const 612)))
        (i32.store (i32.const 2048) (i32.add (i32.add (i32.load (i32.const 600))
                                                      (i32.load (i32.const 604)))
                                             (i32.add (i32.load (i32.const 608))
                                                      (i32.load (i32.const 612)))))"""
    pack = pack_from_bytes(answer_pack(make_wat_pack, imports, body), sandbox=sandbox)
    assert pack.call("Run") == 0


def test_proc_exit_is_a_trap(make_wat_pack: WatPack, sandbox: Sandbox) -> None:
    imports = f'(import "{_W}" "proc_exit" (func $x (param i32)))'
    pack = pack_from_bytes(answer_pack(make_wat_pack, imports, "(call $x (i32.const 3))"),
                           sandbox=sandbox)
    with pytest.raises(GuestTrap, match=r"proc_exit\(3\)"):
        pack.call("Run")

