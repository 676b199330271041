"""Where the toolchain finds the guest SDKs and the AssemblyScript compiler."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from corral import BuildError
from corral._toolchain.sdk import (PACKAGED_SDK, assemblyscript_compiler, assemblyscript_dir,
                                   checkout_root, sdk_dir, zig_cache_dir)

from ..conftest import REPO


def _sdk_copy(target: Path) -> Path:
    shutil.copytree(REPO / "guest-sdk", target, ignore=shutil.ignore_patterns("node_modules"))
    return target


def test_in_a_checkout_the_sdks_are_the_checkouts_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRAL_SDK_DIR", raising=False)
    assert checkout_root() == REPO
    assert not PACKAGED_SDK.exists(), "only a built wheel holds the packaged copy"
    assert sdk_dir() == REPO / "guest-sdk"
    assert zig_cache_dir() == REPO / "build" / "zig-cache"


def test_corral_sdk_dir_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_SDK_DIR", str(tmp_path))
    assert sdk_dir() == tmp_path


def test_the_compiler_directory_follows_the_lock_file(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_ASSEMBLYSCRIPT_DIR", str(tmp_path / "asc"))
    sdk = _sdk_copy(tmp_path / "sdk") / "assemblyscript"
    first = assemblyscript_dir(sdk)
    assert first.parent == tmp_path / "asc"
    (sdk / "package-lock.json").write_text('{"lockfileVersion": 3}')
    assert assemblyscript_dir(sdk) != first


def test_without_npm_the_build_error_names_it(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_SDK_DIR", str(_sdk_copy(tmp_path / "sdk")))
    monkeypatch.setenv("CORRAL_ASSEMBLYSCRIPT_DIR", str(tmp_path / "asc"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(BuildError, match="needs npm .* `npm` is not on PATH"):
        assemblyscript_compiler()
    assert not list((tmp_path / "asc").rglob("node_modules"))


def test_the_checkouts_own_compiler_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRAL_SDK_DIR", raising=False)
    assert assemblyscript_compiler() == REPO / "guest-sdk/assemblyscript/node_modules/.bin/asc"
