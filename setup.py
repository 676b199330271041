"""Packaging hook: the wheel carries the guest SDKs, so an installed ``corral`` builds packs.

``guest-sdk/`` stays at the top of the checkout (the docs, tests and conformance packs refer
to it there); ``build_py`` copies it into ``corral/_toolchain/sdk/`` of the built package,
without ``node_modules`` (the AssemblyScript compiler installs itself through npm on first
use, see ``corral/_toolchain/sdk.py``). Everything else is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SDK_SOURCE = Path(__file__).resolve().parent / "guest-sdk"
SDK_TARGET = ("corral", "_toolchain", "sdk")
SKIPPED = shutil.ignore_patterns("node_modules", "build", ".zig-cache", "zig-out", "*.wasm")


class build_py_with_sdks(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install finds guest-sdk/ in the checkout
        if not (SDK_SOURCE / "ABI.md").is_file():
            raise SystemExit(f"cannot build corral without its guest SDKs: {SDK_SOURCE} is missing")
        target = Path(self.build_lib, *SDK_TARGET)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(SDK_SOURCE, target, ignore=SKIPPED)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        target = Path(self.build_lib, *SDK_TARGET)
        sdk_files = [str(p) for p in target.rglob("*") if p.is_file()] if target.is_dir() else []
        return [*super().get_outputs(include_bytecode), *sdk_files]


setup(cmdclass={"build_py": build_py_with_sdks})
