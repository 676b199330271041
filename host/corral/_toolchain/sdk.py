"""Where the guest SDKs and their compilers live: in the installed package, else the checkout.

A wheel carries the SDKs in ``corral/_toolchain/sdk/`` (``setup.py`` copies ``guest-sdk/``
there when the wheel is built); an editable install or a bare checkout uses ``guest-sdk/``
itself; ``CORRAL_SDK_DIR`` overrides both. The AssemblyScript compiler is an npm package: a
checkout has it in the SDK's ``node_modules`` after ``make setup``; anywhere else it installs
itself on first use, with ``npm ci`` from the SDK's lock file, into a directory named by that
lock file's digest under ``CORRAL_ASSEMBLYSCRIPT_DIR`` (default
``~/.cache/corral/assemblyscript``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .._errors import BuildError

PACKAGED_SDK = Path(__file__).resolve().parent / "sdk"
#: The one file every SDK directory holds: the contract the SDKs implement.
SDK_MARKER = "ABI.md"
NPM_TIMEOUT_S = 600


def repo_root() -> Path:
    """The checkout this package runs from (guest-sdk/, packs/ and benchmarks/ live there)."""
    return Path(__file__).resolve().parents[3]


def checkout_root() -> Path | None:
    """The source checkout this package runs from, or None when it is installed from a wheel."""
    root = repo_root()
    return root if (root / "guest-sdk" / SDK_MARKER).is_file() else None


def sdk_dir() -> Path:
    """The guest SDKs: ``CORRAL_SDK_DIR``, else the packaged copy, else the checkout's."""
    env = os.environ.get("CORRAL_SDK_DIR")
    if env:
        return Path(env)
    if (PACKAGED_SDK / SDK_MARKER).is_file():
        return PACKAGED_SDK
    root = checkout_root()
    if root is None:
        raise BuildError(f"the guest SDKs are not installed (looked in {PACKAGED_SDK}); "
                         "reinstall corral, or set CORRAL_SDK_DIR to a copy of guest-sdk/")
    return root / "guest-sdk"


def user_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "corral"


def zig_cache_dir() -> Path:
    """Zig's global cache: ``build/zig-cache`` in a checkout, else the user's cache."""
    root = checkout_root()
    return root / "build" / "zig-cache" if root is not None else user_cache_dir() / "zig"


def assemblyscript_compiler() -> Path:
    """The ``asc`` executable, installed through npm on first use outside a checkout."""
    sdk = sdk_dir() / "assemblyscript"
    beside = sdk / "node_modules" / ".bin" / "asc"
    if beside.is_file():
        return beside
    target = assemblyscript_dir(sdk)
    asc = target / "node_modules" / ".bin" / "asc"
    if not asc.is_file():
        _npm_install(sdk, target)
    return asc


def assemblyscript_dir(sdk: Path) -> Path:
    """Where the compiler for this SDK's lock file is installed (``CORRAL_ASSEMBLYSCRIPT_DIR``,
    else the user's cache), one directory per lock file so SDK upgrades never mix."""
    lock = sdk / "package-lock.json"
    try:
        digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    except OSError as exc:
        raise BuildError(f"the AssemblyScript SDK has no readable {lock}: {exc.strerror}") from exc
    env = os.environ.get("CORRAL_ASSEMBLYSCRIPT_DIR")
    root = Path(env) if env else user_cache_dir() / "assemblyscript"
    return root / digest


def _npm_install(sdk: Path, target: Path) -> None:
    """``npm ci`` into a staging directory, then one rename: a half-done install is never used,
    and concurrent builds wait on a lock file instead of installing twice."""
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError("building AssemblyScript needs npm (Node.js 20 or later) to install the "
                         "compiler once, and `npm` is not on PATH; install Node.js")
    target.mkdir(parents=True, exist_ok=True)
    with _locked(target / ".install.lock"):
        if (target / "node_modules" / ".bin" / "asc").is_file():
            return
        print(f"corral: installing the AssemblyScript compiler with `npm ci` into {target} "
              "(first use only)", file=sys.stderr, flush=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target))
        try:
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(sdk / name, staging / name)
            _run_npm([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], staging)
            shutil.rmtree(target / "node_modules", ignore_errors=True)
            (staging / "node_modules").rename(target / "node_modules")
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _run_npm(command: list[str], cwd: Path) -> None:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                              timeout=NPM_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"`npm ci` for the AssemblyScript compiler ran longer than "
                         f"{NPM_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        raise BuildError(f"`npm ci` for the AssemblyScript compiler failed:\n{output[-4000:]}",
                         exit_code=done.returncode)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
