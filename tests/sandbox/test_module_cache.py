"""Precompiled modules: a second process loads the pack from the on-disk cache (on each
call path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys, corral
pack = corral.load_pack(sys.argv[1])
print(pack.compiled.from_cache, pack.call("Greet", "cache"))
"""


def load_in_new_process(wasm: Path, cache_dir: Path, call_path: str) -> str:
    env = {**os.environ, "CORRAL_CACHE_DIR": str(cache_dir), "CORRAL_CALL_PATH": call_path}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(wasm)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


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
