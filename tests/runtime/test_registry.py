"""The registry is shared by every process on a data dir, and never left half-written."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from corral import Host, NotFoundError, Settings

from .test_calls import constant_pack


def test_a_pack_uploaded_in_another_process_is_served_here(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with Host(Settings(data_dir=data_dir)) as here:
        with pytest.raises(NotFoundError):
            here.pack("versions")
        wasm = tmp_path / "v1.wasm"
        wasm.write_bytes(constant_pack("1.0.0", "one"))
        _in_another_process(data_dir, f"host.register_file({str(wasm)!r})")
        assert here.call("versions", "Which") == "one"
        wasm.write_bytes(constant_pack("2.0.0", "two"))
        _in_another_process(data_dir, f"host.register_file({str(wasm)!r})")
        assert here.call("versions", "Which") == "two"
        _in_another_process(data_dir, "host.registry.activate('versions', '1.0.0')")
        assert here.call("versions", "Which") == "one"
        _in_another_process(data_dir, "host.registry.remove('versions')")
        with pytest.raises(NotFoundError):
            here.pack("versions")


def _in_another_process(data_dir: Path, statement: str) -> None:
    code = textwrap.dedent(f"""
        from corral import Host, Settings
        from pathlib import Path
        with Host(Settings(data_dir=Path({str(data_dir)!r}))) as host:
            {statement}
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_activate_rolls_back_to_a_stored_version(tmp_path: Path) -> None:
    with Host(Settings(data_dir=tmp_path / "data")) as host:
        host.register_bytes(constant_pack("1.0.0", "one"))
        host.register_bytes(constant_pack("2.0.0", "two"))
        host.registry.activate("versions", "1.0.0")
        assert host.call("versions", "Which") == "one"
        assert [v.active for v in host.registry.versions("versions")] == [True, False]
    with Host(Settings(data_dir=tmp_path / "data")) as reopened:
        assert reopened.call("versions", "Which") == "one"
        with pytest.raises(NotFoundError, match="no version '9.9.9'"):
            reopened.registry.activate("versions", "9.9.9")


def test_an_inactive_upload_leaves_the_active_version(tmp_path: Path) -> None:
    with Host(Settings(data_dir=tmp_path / "data")) as host:
        host.register_bytes(constant_pack("1.0.0", "one"))
        host.registry.register(constant_pack("2.0.0", "two"), activate=False)
        assert host.call("versions", "Which") == "one"
        assert {v.version for v in host.registry.versions("versions")} == {"1.0.0", "2.0.0"}


def test_a_marker_left_empty_by_an_earlier_release_does_not_stop_a_start(
        tmp_path: Path) -> None:
    # Earlier releases wrote packs/<name>/ACTIVE by truncate-then-write; a kill in between
    # left it empty, and every start failed with IsADirectoryError.
    data_dir = tmp_path / "data"
    with Host(Settings(data_dir=data_dir)) as host:
        host.register_bytes(constant_pack("1.0.0", "one"))
    folder = data_dir / "packs" / "versions"
    (folder / "ACTIVE").write_text("")
    broken = data_dir / "packs" / "broken"
    broken.mkdir()
    (broken / "ACTIVE").write_text("")
    with Host(Settings(data_dir=data_dir)) as host:
        assert host.call("versions", "Which") == "one"
        assert [p.name for p in host.registry.packs()] == ["versions"]


def test_a_marker_of_an_earlier_release_is_adopted(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    folder = data_dir / "packs" / "versions"
    folder.mkdir(parents=True)
    (folder / "1.0.0-0123456789abcdef.wasm").write_bytes(constant_pack("1.0.0", "one"))
    (folder / "ACTIVE").write_text("1.0.0-0123456789abcdef.wasm\n")
    with Host(Settings(data_dir=data_dir)) as host:
        assert host.call("versions", "Which") == "one"
    assert not (folder / "ACTIVE").exists()


def test_two_hosts_in_one_process_share_the_data_dir(tmp_path: Path) -> None:
    with Host(Settings(data_dir=tmp_path / "d")) as one, Host(Settings(data_dir=tmp_path / "d")) as two:
        one.register_bytes(constant_pack("1.0.0", "one"))
        assert two.call("versions", "Which") == "one"
    with Host(Settings(data_dir=tmp_path / "d")) as again:  # both released their handle
        assert again.call("versions", "Which") == "one"
