"""The call-path switch: each forced path is the one calls take, ``auto`` falls back with
one warning, ``native`` refuses clearly, and a helper that does not fit (its struct layout,
or the wasmtime-py internals it needs) is never used."""

from __future__ import annotations

import ctypes
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from fastapi.testclient import TestClient

import corral
from corral import ConfigError, Host, Sandbox, SandboxConfig, Settings, create_app, load_settings
from corral._sandbox import engine as _engine
from corral._sandbox import fastcall as _fastcall
from corral._sandbox import native as _native
from corral._settings import CallPath


@pytest.fixture
def fresh_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper as if never loaded in this process, and no fallback warned about yet
    (both restored after the test)."""
    monkeypatch.setattr(_native, "_loaded", None)
    monkeypatch.setattr(_engine, "_warned", set())


def _fallback_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "corral.sandbox" and "native call path is unavailable" in r.getMessage()]


def test_each_forced_path_is_the_one_calls_take(call_path: CallPath, hello_wasm: Path,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    taken = {"native": 0, "public": 0}
    real_call, real_store = _fastcall.call, wasmtime.Store

    def native_call(*args: Any, **kwargs: Any) -> None:
        taken["native"] += 1
        real_call(*args, **kwargs)

    class PublicStore(real_store):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any) -> None:
            taken["public"] += 1
            super().__init__(*args)

    monkeypatch.setattr(_fastcall, "call", native_call)
    monkeypatch.setattr(wasmtime, "Store", PublicStore)
    with Sandbox(SandboxConfig(cache_dir=tmp_path, call_path=call_path)) as box:
        assert box.call_path == call_path
        pack = corral.load_pack(hello_wasm, sandbox=box)
        assert pack.call("Greet", "Ada") == "Hello, Ada!"
    other = "public" if call_path == "native" else "native"
    assert taken == {call_path: 1, other: 0}


def test_the_environment_sets_the_default_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_CALL_PATH", "public")
    assert SandboxConfig().call_path == "public"
    assert load_settings(env={"CORRAL_CALL_PATH": "native"}).call_path == "native"
    monkeypatch.setenv("CORRAL_CALL_PATH", "fastest")
    with pytest.raises(ConfigError, match="auto, native, public"):
        SandboxConfig()


def test_the_setting_is_read_from_toml_and_refuses_unknown_paths(tmp_path: Path) -> None:
    config = tmp_path / "corral.toml"
    config.write_text('[corral]\ncall_path = "public"\n')
    assert load_settings(config, env={}).call_path == "public"
    config.write_text('[corral]\ncall_path = "quick"\n')
    with pytest.raises(ConfigError, match="call_path") as info:
        load_settings(config, env={})
    assert info.value.setting == "call_path"


def test_public_never_loads_the_helper(hello_wasm: Path, tmp_path: Path) -> None:
    script = ("import sys, corral\nfrom corral._sandbox import native\n"
              "pack = corral.load_pack(sys.argv[1])\n"
              "print(pack.call('Greet', 'Ada'), native._loaded is None)\n")
    env = {**os.environ, "CORRAL_CALL_PATH": "public",
           "CORRAL_NATIVE_DIR": str(tmp_path / "native"), "CORRAL_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script, str(hello_wasm)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Hello, Ada! True"
    assert not (tmp_path / "native").exists(), "nothing was built for the helper"


def test_auto_falls_back_with_one_warning_and_native_refuses(
        fresh_helper: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "broken.c"
    broken.write_text("this is not C\n")
    monkeypatch.setenv("CORRAL_NATIVE_DIR", str(tmp_path / "native"))
    monkeypatch.setattr(_native, "SOURCE", broken)
    with caplog.at_level(logging.WARNING, logger="corral.sandbox"):
        boxes = [Sandbox(SandboxConfig(call_path="auto")) for _ in range(2)]
    try:
        assert [box.call_path for box in boxes] == ["public", "public"]
        (warning,) = _fallback_warnings(caplog)
        assert "building it failed" in warning and "error" in warning, "the compiler's reason"
        with pytest.raises(ConfigError, match="'native' but the native helper cannot be used: "
                                              "building it failed") as info:
            Sandbox(SandboxConfig(call_path="native"))
        assert info.value.setting == "call_path"
    finally:
        for box in boxes:
            box.close()


# -- the helper's own layout check --------------------------------------------------------


def test_the_built_helper_reports_the_layout_python_expects() -> None:
    library = ctypes.CDLL(str(_native._built_library()))
    reported = _native.reported_layout(library)
    opaque = reported.pop("opaque_bytes")
    assert _native.opaque_overflows(opaque) == []
    assert _native.layout_mismatches(reported, _native.expected_layout()) == []
    assert reported["call_out.fuel_left"] == _native.CallOut.fuel_left.offset
    assert len(reported) == len(_native.expected_layout()) > 30


def test_layout_differences_are_each_named() -> None:
    expected = _native.expected_layout()
    reported = {**expected, "call_in.fuel": expected["call_in.fuel"] + 8, "call_in.extra": 4}
    del reported["api.size"]
    assert _native.layout_mismatches(reported, expected) == [
        "the helper reports no api.size",
        "Python expects no call_in.extra",
        f"call_in.fuel is {expected['call_in.fuel'] + 8} in C but "
        f"{expected['call_in.fuel']} in Python",
    ]
    assert _native.opaque_overflows(8) == [
        f"{name} is {ctypes.sizeof(getattr(_native.ffi, name))} bytes, over the helper's 8"
        for name in ("wasmtime_instance_t", "wasmtime_extern_t")]


def test_a_layout_mismatch_falls_back_instead_of_calling_in(
        fresh_helper: None, hello_wasm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    real = _native.expected_layout

    def shifted() -> dict[str, int]:
        return {**real(), "call_out.fuel_left": real()["call_out.fuel_left"] + 8}

    monkeypatch.setattr(_native, "expected_layout", shifted)
    with caplog.at_level(logging.WARNING, logger="corral.sandbox"):
        box = Sandbox(SandboxConfig(cache_dir=tmp_path, call_path="auto"))
    with box:
        assert box.call_path == "public" and _native.load() is None
        (warning,) = _fallback_warnings(caplog)
        assert "struct layout" in warning and "call_out.fuel_left" in warning
        assert corral.load_pack(hello_wasm, sandbox=box).call("Greet", "Ada") == "Hello, Ada!"
    with pytest.raises(ConfigError, match="struct layout"):
        Sandbox(SandboxConfig(call_path="native"))


# -- missing wasmtime-py internals ----------------------------------------------------------


@pytest.mark.parametrize("owner, name", [
    (wasmtime.Trap, "_from_ptr"),
    (wasmtime.WasmtimeError, "_from_ptr"),
    (_native.ffi, "wasmtime_val_raw_t"),
    (_native.ffi, "wasmtime_trap_new"),
])
def test_missing_internals_fall_back_to_the_public_path(
        fresh_helper: None, owner: Any, name: str, hello_wasm: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delattr(owner, name)
    owner_name = "wasmtime._ffi" if owner is _native.ffi else f"wasmtime.{owner.__name__}"
    label = f"{owner_name}.{name}"
    assert _native.missing_internals() == [label]
    with caplog.at_level(logging.WARNING, logger="corral.sandbox"):
        box = Sandbox(SandboxConfig(cache_dir=tmp_path, call_path="auto"))
    with box:
        assert box.call_path == "public"
        assert label in _fallback_warnings(caplog)[0]
        assert corral.load_pack(hello_wasm, sandbox=box).call("Greet", "Ada") == "Hello, Ada!"
    with pytest.raises(ConfigError, match=f"wasmtime-py lacks {label}"):
        Sandbox(SandboxConfig(call_path="native"))


def test_import_corral_survives_missing_internals(hello_wasm: Path, tmp_path: Path) -> None:
    script = ("import sys, wasmtime\nfrom wasmtime import _ffi\n"
              "del wasmtime.Trap._from_ptr, _ffi.wasmtime_val_raw_t\n"
              "import corral\nfrom corral._runtime.pack import default_sandbox\n"
              "pack = corral.load_pack(sys.argv[1])\n"
              "print(default_sandbox().call_path, pack.call('Greet', 'Ada'))\n")
    env = {**os.environ, "CORRAL_CALL_PATH": "auto", "CORRAL_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script, str(hello_wasm)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "public Hello, Ada!"
    assert "wasmtime.Trap._from_ptr" in done.stderr and "public API" in done.stderr


# -- where the path is shown -----------------------------------------------------------------


def test_readyz_and_the_gauge_show_the_active_path(call_path: CallPath, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_CALL_PATH", call_path)
    with Host(Settings(data_dir=tmp_path)) as host:
        with TestClient(create_app(host)) as client:
            assert client.get("/readyz").json()["call_path"] == call_path
            metrics = client.get("/metrics").text
    other = "public" if call_path == "native" else "native"
    assert f'corral_call_path{{path="{call_path}"}} 1' in metrics
    assert f'corral_call_path{{path="{other}"}} 0' in metrics
    assert "# TYPE corral_call_path gauge" in metrics
