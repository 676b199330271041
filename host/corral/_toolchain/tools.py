"""Running a compiler for ``corral build``: the toolchain's version (part of every build's
cache key) and one compiler run with its output turned into a :class:`BuildError`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .._errors import BuildError
from .sdk import zig_cache_dir

BUILD_TIMEOUT_S = 600


def toolchain_version(language: str) -> str:
    if language in ("zig", "c"):
        try:
            from importlib.metadata import version

            return "ziglang-" + version("ziglang")
        except Exception:
            return "ziglang-unknown"
    return "asc"


def run_tool(command: list[str], *, cwd: Path, what: str) -> None:
    env = dict(os.environ)
    env.setdefault("ZIG_GLOBAL_CACHE_DIR", str(zig_cache_dir()))
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT_S, env=env)
    except FileNotFoundError as exc:
        raise BuildError(f"{what}: the toolchain is not installed ({command[0]})") from exc
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"{what}: the compiler ran longer than {BUILD_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        raise BuildError(f"{what} failed:\n{output[-4000:]}", exit_code=done.returncode)
