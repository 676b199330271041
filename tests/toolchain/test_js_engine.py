"""The JavaScript engine: QuickJS-NG built from its pinned sdist, a hand-written bundle
snapshotted with Wizer, and the snapshot run as an ordinary ABI v1 pack.

The first engine build compiles QuickJS (minutes); it is cached under build/js-engine,
so later runs reuse it.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
import wasmtime
from corral import Sandbox
from corral._errors import (
    BuildError,
    DeadlineExceeded,
    FuelExhausted,
    GuestError,
    ManifestError,
    MemoryLimitExceeded,
    StackOverflow,
)
from corral._runtime.calls import CallStats
from corral._runtime.pack import Pack, pack_from_bytes
from corral._toolchain import js_engine
from corral._toolchain.js_snapshot import snapshot_js_pack
from corral.testing import FixtureServer, PackHarness

HELLO_JS = Path(__file__).with_name("js") / "hello.js"
FORMULAS = ["Hello", "Counter", "Log", "Fail", "Reject", "Later", "Never", "NotBytes", "Now",
            "Random", "Fetch", "Spin", "HeapBomb", "Recurse", "Depth", "GetterRecurse",
            "MapRecurse", "NativeDecode"]


def js_manifest(name: str = "jshello", **limits: Any) -> dict[str, Any]:
    return {
        "pack": {"name": name, "version": "0.1.0", "network_domains": ["api.example.test"]},
        "limits": {"fuel": 200_000_000, "memory_mb": 32, "timeout_ms": 10_000, **limits},
        "formulas": [{"name": f, "params": [{"name": "x", "type": "string", "optional": True}],
                      "result": {"type": "any"}} for f in FORMULAS],
    }


@pytest.fixture(scope="session")
def js_wasm() -> bytes:
    return snapshot_js_pack(HELLO_JS.read_text(), js_manifest())


@pytest.fixture
def js_pack(js_wasm: bytes, path_sandbox: Sandbox) -> Pack:
    return pack_from_bytes(js_wasm, sandbox=path_sandbox)


# -- the engine -----------------------------------------------------------------------------


def test_engine_is_built_once_and_imports_only_the_clock_and_random() -> None:
    path = js_engine.build_js_engine()
    assert path == js_engine.build_js_engine()  # the second call is the cached file
    module = wasmtime.Module(wasmtime.Engine(), path.read_bytes())
    imports = {(i.module, i.name) for i in module.imports}
    assert imports == {("corral", "fetch"), ("corral", "log"), ("corral", "blob"),
                       ("wasi_snapshot_preview1", "clock_time_get"),
                       ("wasi_snapshot_preview1", "random_get")}
    exports = {e.name for e in module.exports}
    assert {"memory", "corral_abi_v1", "corral_alloc", "corral_call",
            "wizer.initialize"} <= exports


def test_an_sdist_whose_sha256_differs_from_the_pin_is_refused(tmp_path: Path) -> None:
    forged = tmp_path / f"quickjs_ng-{js_engine.QUICKJS_NG_VERSION}.tar.gz"
    forged.write_bytes(b"not the sdist")
    with pytest.raises(BuildError, match="not the pinned"):
        js_engine._check_sha256(forged)
    assert not forged.exists()


def test_the_snapshot_is_cached_and_keeps_its_manifest(js_wasm: bytes) -> None:
    again = snapshot_js_pack(HELLO_JS.read_text(), js_manifest())
    assert again == js_wasm
    pack = pack_from_bytes(js_wasm)
    assert pack.manifest.name == "jshello" and pack.manifest.wasi is True
    module = wasmtime.Module(wasmtime.Engine(), js_wasm)
    assert "wizer.initialize" not in {e.name for e in module.exports}


def test_a_bundle_that_throws_while_evaluated_fails_the_build() -> None:
    with pytest.raises(BuildError, match="threw while it was evaluated: ReferenceError"):
        snapshot_js_pack("globalThis.x = 1;\nnoSuchThing();\n", js_manifest("broken"))


def test_a_manifest_that_breaks_a_rule_fails_before_any_snapshot() -> None:
    with pytest.raises(ManifestError, match="pack.name"):
        snapshot_js_pack("", {"pack": {"version": "0.1.0"}})


# -- calls ----------------------------------------------------------------------------------


def test_hello(js_pack: Pack) -> None:
    assert js_pack.call("Hello", "Ada") == "Hello, Ada!"
    assert js_pack.call("Hello", "Zoë 🦊") == "Hello, Zoë 🦊!"


def test_async_formula_settles_through_the_job_queue(js_pack: Pack) -> None:
    assert js_pack.call("Later", "Ada") == "later, Ada"


def test_state_does_not_survive_between_calls(js_pack: Pack) -> None:
    assert [js_pack.call("Counter") for _ in range(3)] == [1, 1, 1]


def test_log_reaches_the_pack_log(js_pack: Pack) -> None:
    stats = CallStats()
    assert js_pack.call("Log", "hi", stats=stats) == "logged"
    assert stats.logs == [("info", "hi"), ("error", "second: hi")]


def test_clock_is_real_time_and_random_differs_per_call(js_pack: Pack) -> None:
    before = time.time() * 1000
    now = js_pack.call("Now")
    assert before - 1 <= now <= time.time() * 1000 + 1
    values = {js_pack.call("Random") for _ in range(4)}
    assert len(values) == 4 and all(0 <= v < 1 for v in values)


def test_a_thrown_error_is_internal_with_its_stack(js_pack: Pack) -> None:
    with pytest.raises(GuestError) as caught:
        js_pack.call("Fail", "boom")
    assert caught.value.details["guest_kind"] == "internal"
    assert "Error: boom" in str(caught.value) and "at Fail (pack.js:" in str(caught.value)


def test_a_rejected_promise_is_internal(js_pack: Pack) -> None:
    with pytest.raises(GuestError, match="TypeError: nope"):
        js_pack.call("Reject", "nope")


def test_a_promise_that_never_settles_is_reported(js_pack: Pack) -> None:
    with pytest.raises(GuestError, match="the call's promise never settled"):
        js_pack.call("Never")


def test_dispatch_returning_no_bytes_is_reported(js_pack: Pack) -> None:
    with pytest.raises(GuestError, match="must return a Uint8Array"):
        js_pack.call("NotBytes")


def test_fetch_goes_through_the_host_to_a_fixture_server(js_wasm: bytes) -> None:
    with FixtureServer() as api:
        api.route("GET", "/greeting", body="hello from the fixture")
        with PackHarness(js_wasm, server=api) as harness:
            assert harness.call("Fetch", "https://api.example.test/greeting") == \
                "200 hello from the fixture"
            denied = harness.call("Fetch", "https://elsewhere.example.test/x")
    assert denied.startswith("fetch failed: denied")


# -- limits ---------------------------------------------------------------------------------


def test_an_endless_loop_stops_on_fuel(js_pack: Pack) -> None:
    with pytest.raises(FuelExhausted):
        js_pack.call("Spin")


def test_an_endless_loop_stops_on_the_deadline(path_sandbox: Sandbox) -> None:
    wasm = snapshot_js_pack(HELLO_JS.read_text(), js_manifest(fuel=10**10, timeout_ms=200))
    with pytest.raises(DeadlineExceeded):
        pack_from_bytes(wasm, sandbox=path_sandbox).call("Spin")


def test_a_heap_bomb_stops_on_the_memory_cap(js_pack: Pack) -> None:
    with pytest.raises(MemoryLimitExceeded):
        js_pack.call("HeapBomb")
    assert js_pack.call("Hello", "again") == "Hello, again!"


def test_deep_recursion_stops_on_the_stack(js_pack: Pack) -> None:
    with pytest.raises((StackOverflow, GuestError)) as caught:
        js_pack.call("Recurse")
    if isinstance(caught.value, GuestError):
        assert "RangeError" in str(caught.value)


def test_a_few_thousand_nested_js_calls_fit(js_pack: Pack) -> None:
    assert js_pack.call("Depth", "2500") == 2500
    with pytest.raises(GuestError, match="RangeError"):
        js_pack.call("Depth", "100000")  # QuickJS's own limit comes before the host's
    assert js_pack.call("Hello", "again") == "Hello, again!"


@pytest.mark.parametrize("formula", ["GetterRecurse", "MapRecurse", "Recurse"])
def test_recursion_through_c_frames_ends_cleanly(js_pack: Pack, formula: str) -> None:
    with pytest.raises((StackOverflow, GuestError)) as caught:
        js_pack.call(formula)
    if isinstance(caught.value, GuestError):
        assert "RangeError" in str(caught.value)
    assert js_pack.call("Hello", "again") == "Hello, again!"


def test_deep_recursion_on_a_thread_with_a_small_stack_is_an_error(js_pack: Pack) -> None:
    """The guest's 4 MiB stack limit is more than this thread's whole stack: the call runs
    on a helper thread that has room, so the limit is still a trap, not a crashed host."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["depth"] = js_pack.call("Depth", "2500")
            js_pack.call("GetterRecurse")
        except (StackOverflow, GuestError) as exc:
            outcome["error"] = exc

    previous = threading.stack_size(256 * 1024)
    try:
        thread = threading.Thread(target=run)
        thread.start()
    finally:
        threading.stack_size(previous)
    thread.join(60)
    assert outcome.get("depth") == 2500
    assert isinstance(outcome.get("error"), (StackOverflow, GuestError))
    assert js_pack.call("Hello", "again") == "Hello, again!"


# -- the bridge's MessagePack decoder ---------------------------------------------------------

DECODED = [None, True, False, 0, 127, 128, -1, -32, -33, 255, 256, 65535, 65536, 2**32 - 1,
           2**32, 2**53, 2**63 - 1, 2**64 - 1, -2**31, -2**31 - 1, -2**63, 1.5, -0.25, 1e300,
           "", "ascii", "é中😀", "a" * 40, "b" * 300, b"", b"\x00\xff", [], [1, [2, [3]]],
           list(range(20)), {}, {"a": 1, "b": {"c": [None, "x"]}}, {"é": 1, "1": 2},
           {str(i): i for i in range(20)}, {"k": b"\x01\x02"}]


def _plain(value: Any) -> Any:
    """``value`` as the JSON the engine's formula gives back (numbers are doubles)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return {"bin": list(value)}
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return {k: _plain(v) for k, v in value.items()}


def _js_numbers(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [_js_numbers(v) for v in value]
    return {k: _js_numbers(v) for k, v in value.items()}


@pytest.mark.parametrize("value", DECODED, ids=repr)
def test_the_native_decoder_reads_what_msgpack_wrote(js_pack: Pack, value: Any) -> None:
    out = js_pack.call("NativeDecode", msgpack.packb(value, use_bin_type=True).hex())
    assert _js_numbers(json.loads(out)) == _plain(value)


@pytest.mark.parametrize("raw", [
    msgpack.packb(msgpack.ExtType(5, b"x")),  # an extension type
    msgpack.packb({1: 2}),  # a key that is not a string
    msgpack.packb({"__proto__": {"polluted": True}}),
    msgpack.packb(1) + b"\x00",  # bytes after the value
    msgpack.packb("abc")[:-1],  # truncated
    msgpack.packb([0] * 3)[:-1],
    b"\x91" * 300 + b"\xc0",  # nested deeper than the native decoder goes
], ids=["ext", "int-key", "proto", "trailing", "truncated-str", "truncated-array", "deep"])
def test_the_native_decoder_leaves_the_rest_to_the_js_decoder(js_pack: Pack, raw: bytes) -> None:
    assert js_pack.call("NativeDecode", raw.hex()) == "undefined"
