"""Reading a value out of the JavaScript engine at build time, without running the ABI.

The build asks the compiled engine where its bundle slot is, and the snapshot whether the
bundle threw while it was evaluated. Both exports touch no import, so every import is
linked to a function that traps if called.
"""

from __future__ import annotations

import wasmtime

from .._errors import BuildError


def call_i64_export(wasm: bytes, export: str) -> int:
    """Instantiate ``wasm`` with trapping imports and return ``export()`` as an unsigned i64."""
    value, _ = _call(wasm, export)
    return value


def read_export_slice(wasm: bytes, export: str) -> bytes:
    """The bytes at ``ptr << 32 | len`` returned by ``export()`` (empty when len is 0)."""
    value, (store, memory) = _call(wasm, export)
    ptr, length = value >> 32, value & 0xFFFFFFFF
    return bytes(memory.read(store, ptr, ptr + length)) if length else b""


def _call(wasm: bytes, export: str) -> tuple[int, tuple[wasmtime.Store, wasmtime.Memory]]:
    engine = wasmtime.Engine()
    try:
        module = wasmtime.Module(engine, wasm)
        store = wasmtime.Store(engine)
        imports: list[wasmtime.Func] = []
        for imp in module.imports:
            if not isinstance(imp.type, wasmtime.FuncType):
                raise BuildError(f"the JavaScript engine imports {imp.module}.{imp.name}, "
                                 "which is not a function")
            imports.append(wasmtime.Func(store, imp.type, _refuse(f"{imp.module}.{imp.name}")))
        instance = wasmtime.Instance(store, module, imports)
        func = instance.exports(store)[export]
        memory = instance.exports(store)["memory"]
        assert isinstance(func, wasmtime.Func) and isinstance(memory, wasmtime.Memory)
        result = func(store)
    except wasmtime.WasmtimeError as exc:
        raise BuildError(f"the JavaScript engine failed while reading {export}: {exc}") from exc
    assert isinstance(result, int)
    return result & 0xFFFFFFFFFFFFFFFF, (store, memory)


def _refuse(name: str):  # type: ignore[no-untyped-def]
    def refuse(*_args: object) -> None:
        raise RuntimeError(f"{name} was called while probing the engine")
    return refuse
