"""Precompiled modules: a second process loads the pack from the on-disk cache (on each
call path), and a damaged, swapped or planted cache file is refused and recompiled.

Deserializing bad bytes used to crash the process (SIGSEGV, SIGILL), so every load of a
damaged cache runs in a subprocess, where a crash shows as a signal, not a dead pytest.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from corral import Sandbox, SandboxConfig

SCRIPT = """
import sys, corral
pack = corral.load_pack(sys.argv[1])
print(pack.compiled.from_cache, pack.call("Greet", "cache"))
"""

#: Loads the pack in two fresh sandboxes, calling it many times: the first load must
#: recompile the damaged file, the second must find the replacement good.
TWICE = """
import sys, corral
from pathlib import Path
for _ in range(2):
    box = corral.Sandbox(corral.SandboxConfig(cache_dir=Path(sys.argv[2])))
    pack = corral.load_pack(sys.argv[1], sandbox=box)
    answers = {pack.call("Greet", f"n{i}") == f"Hello, n{i}!" for i in range(50)}
    print(pack.compiled.from_cache, answers == {True})
    box.close()
"""


def load_in_new_process(wasm: Path, cache_dir: Path, call_path: str) -> str:
    env = {**os.environ, "CORRAL_CACHE_DIR": str(cache_dir), "CORRAL_CALL_PATH": call_path}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(wasm)], capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def load_twice_in_new_process(wasm: Path, cache_dir: Path) -> tuple[list[str], list[str]]:
    """(stdout lines, warnings about refused files) of a process that loads ``wasm`` twice."""
    done = subprocess.run([sys.executable, "-c", TWICE, str(wasm), str(cache_dir)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"exit {done.returncode} (negative: a signal)\n{done.stderr}"
    refused = [line for line in done.stderr.splitlines() if "is refused" in line]
    return done.stdout.split("\n")[:-1], refused


def compile_into(cache: Path, wasm: Path, **config: object) -> Path:
    """Compile ``wasm`` in this process, writing its artifact; the artifact's path."""
    before = set(cache.glob("*.cwasm"))
    with Sandbox(SandboxConfig(cache_dir=cache, **config)) as box:  # type: ignore[arg-type]
        assert not box.compile(wasm.read_bytes()).from_cache
    (written,) = set(cache.glob("*.cwasm")) - before
    return written


def test_second_process_uses_the_precompiled_cache(hello_wasm: Path, tmp_path: Path,
                                                   call_path: str) -> None:
    cache = tmp_path / "modules"
    assert load_in_new_process(hello_wasm, cache, call_path) == "False Hello, cache!"
    assert len(list(cache.glob("*.cwasm"))) == 1
    assert load_in_new_process(hello_wasm, cache, call_path) == "True Hello, cache!"


def test_a_corrupt_cache_file_is_recompiled_not_trusted(hello_wasm: Path, tmp_path: Path,
                                                        call_path: str) -> None:
    cache = tmp_path / "modules"
    load_in_new_process(hello_wasm, cache, call_path)
    (cached,) = cache.glob("*.cwasm")
    cached.write_bytes(b"not a precompiled module")
    assert load_in_new_process(hello_wasm, cache, call_path) == "False Hello, cache!"
    assert load_in_new_process(hello_wasm, cache, call_path) == "True Hello, cache!"


def test_a_verified_artifact_is_reused_without_compiling_or_rewriting(
        hello_wasm: Path, tmp_path: Path) -> None:
    cache = tmp_path / "modules"
    artifact = compile_into(cache, hello_wasm)
    written = artifact.stat()
    loads = [line for _ in range(3) for line in load_twice_in_new_process(hello_wasm, cache)[0]]
    assert loads == ["True True"] * 6  # six loads, no compilation
    after = artifact.stat()
    assert (after.st_ino, after.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


# -- damaged, swapped and planted files -------------------------------------------------------


def flip_bytes(artifact: Path, _: Path) -> None:
    data = bytearray(artifact.read_bytes())
    for i in range(len(data) // 4, len(data) * 3 // 4, 97):  # through the machine code
        data[i] ^= 0xFF
    artifact.write_bytes(bytes(data))


def truncate(artifact: Path, _: Path) -> None:
    artifact.write_bytes(artifact.read_bytes()[: artifact.stat().st_size * 2 // 3])


def extend(artifact: Path, _: Path) -> None:
    artifact.write_bytes(artifact.read_bytes() + b"\0" * 64)


def swap_in_another_pack(artifact: Path, other: Path) -> None:
    artifact.write_bytes(other.read_bytes())  # a valid artifact with its valid record


def plant_without_record(artifact: Path, _: Path) -> None:
    _, bare = split(artifact)
    artifact.write_bytes(bare)  # the very bytes wasmtime wrote, but no record


def wrong_mac(artifact: Path, _: Path) -> None:
    record, bare = split(artifact)
    record["mac"] = "0" * 64
    join(artifact, record, bare)


def record_of_this_module_on_another_engine(artifact: Path, _: Path) -> None:
    record, bare = split(artifact)
    record["engine"] = "f" * 64
    join(artifact, record, bare)


def split(artifact: Path) -> tuple[dict[str, object], bytes]:
    magic, header, bare = artifact.read_bytes().split(b"\n", 2)
    assert magic == b"corral-artifact 1"
    return json.loads(header), bare


def join(artifact: Path, record: dict[str, object], bare: bytes) -> None:
    artifact.write_bytes(b"corral-artifact 1\n" + json.dumps(record).encode() + b"\n" + bare)


@pytest.mark.parametrize("damage", [
    flip_bytes, truncate, extend, swap_in_another_pack, plant_without_record, wrong_mac,
    record_of_this_module_on_another_engine], ids=lambda f: f.__name__)
def test_a_damaged_or_foreign_artifact_is_recompiled_and_replaced(
        damage: Callable[[Path, Path], None], hello_wasm: Path, textstats_wasm: Path,
        tmp_path: Path) -> None:
    cache = tmp_path / "modules"
    artifact = compile_into(cache, hello_wasm)
    damage(artifact, compile_into(cache, textstats_wasm))
    loads, refused = load_twice_in_new_process(hello_wasm, cache)
    assert loads == ["False True", "True True"]  # recompiled, answered, then reused
    assert len(refused) == 1 and artifact.name in refused[0], refused


def test_a_file_planted_under_another_engine_is_refused(hello_wasm: Path,
                                                        tmp_path: Path) -> None:
    cache = tmp_path / "modules"
    artifact = compile_into(cache, hello_wasm)
    other_engine = compile_into(tmp_path / "other", hello_wasm, opt_level="none")
    artifact.write_bytes(other_engine.read_bytes())  # its record names the other engine
    loads, refused = load_twice_in_new_process(hello_wasm, cache)
    assert loads == ["False True", "True True"]
    assert len(refused) == 1


# -- the host key ------------------------------------------------------------------------------


def test_the_host_key_is_private_and_a_lost_key_refuses_every_old_file(
        hello_wasm: Path, tmp_path: Path) -> None:
    cache = tmp_path / "modules"
    compile_into(cache, hello_wasm)
    key = cache / "module.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_size == 32
    old = key.read_bytes()
    key.unlink()
    loads, refused = load_twice_in_new_process(hello_wasm, cache)
    assert loads == ["False True", "True True"]
    assert len(refused) == 1 and key.read_bytes() != old


@pytest.mark.parametrize("spoil", ["loose mode", "short", "symlink"])
def test_an_unusable_host_key_is_replaced(spoil: str, hello_wasm: Path, tmp_path: Path) -> None:
    cache = tmp_path / "modules"
    compile_into(cache, hello_wasm)
    key = cache / "module.key"
    if spoil == "loose mode":
        key.chmod(0o644)  # anyone who can read the key can forge a record
    elif spoil == "short":
        key.write_bytes(b"short")
    else:
        planted = tmp_path / "planted.key"
        planted.write_bytes(b"k" * 32)
        planted.chmod(0o600)
        key.unlink()
        key.symlink_to(planted)  # a key someone else chose
    loads, _ = load_twice_in_new_process(hello_wasm, cache)
    assert loads == ["False True", "True True"]
    assert not key.is_symlink() and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.stat().st_size == 32


def test_without_a_writable_cache_dir_modules_still_compile(hello_wasm: Path,
                                                            tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    loads, _ = load_twice_in_new_process(hello_wasm, blocker / "modules")
    assert loads == ["False True", "False True"]
