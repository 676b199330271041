"""The pack registry on PostgreSQL: two nodes (two Hosts, two data dirs, one store_url)
see one set of packs; a pack uploaded on one runs on the other, which writes the file
into its own data dir and compiles its own module."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from corral import Host, NotFoundError, Settings

from ..conftest import REPO
from ..runtime.test_calls import constant_pack

WAIT_S = 10.0


def eventually(check: Callable[[], object], what: str) -> None:
    """Wait until ``check()`` returns truthy without raising NotFoundError."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            if check():
                return
        except NotFoundError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


@pytest.fixture
def nodes(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Host, Host]]:
    a = Host(Settings(data_dir=tmp_path / "a", store_url=postgres_url))
    b = Host(Settings(data_dir=tmp_path / "b", store_url=postgres_url))
    yield a, b
    a.close()
    b.close()


def test_a_pack_uploaded_on_one_node_runs_on_the_other(nodes: tuple[Host, Host],
                                                        tmp_path: Path) -> None:
    a, b = nodes
    with pytest.raises(NotFoundError):
        b.pack("versions")
    a.register_bytes(constant_pack("1.0.0", "one"))
    eventually(lambda: b.call("versions", "Which") == "one", "B runs A's upload")
    files = sorted(p.name for p in (tmp_path / "b" / "packs" / "versions").glob("*.wasm"))
    assert files == [v.file for v in b.registry.versions("versions")]
    assert any((tmp_path / "b" / "modules").iterdir()), "B compiled its own module"
    assert b.pack("versions").pack_id == a.pack("versions").pack_id


def test_versions_activate_and_remove_work_across_nodes(nodes: tuple[Host, Host]) -> None:
    a, b = nodes
    a.register_bytes(constant_pack("1.0.0", "one"))
    a.register_bytes(constant_pack("2.0.0", "two"))
    eventually(lambda: b.call("versions", "Which") == "two", "B runs version 2")
    assert [(v.version, v.active) for v in b.registry.versions("versions")] == [
        ("1.0.0", False), ("2.0.0", True)]
    b.registry.activate("versions", "1.0.0")  # B never had version 1's file
    eventually(lambda: a.call("versions", "Which") == "one", "A follows B's rollback")
    assert [(v.version, v.active) for v in a.registry.versions("versions")] == [
        ("1.0.0", True), ("2.0.0", False)]
    a.registry.remove("versions")

    def gone() -> bool:
        try:
            b.pack("versions")
        except NotFoundError:
            return True
        return False

    eventually(gone, "B forgets the removed pack")
    with pytest.raises(NotFoundError):
        b.registry.versions("versions")


def test_an_inactive_upload_and_approvals_are_shared(nodes: tuple[Host, Host]) -> None:
    a, b = nodes
    a.register_bytes(constant_pack("1.0.0", "one"))
    a.registry.register(constant_pack("2.0.0", "two"), activate=False)
    eventually(lambda: len(b.registry.versions("versions")) == 2, "B lists both versions")
    assert b.call("versions", "Which") == "one"


def test_a_third_node_started_later_serves_what_is_stored(tmp_path: Path,
                                                          postgres_url: str) -> None:
    with Host(Settings(data_dir=tmp_path / "a", store_url=postgres_url)) as a:
        a.register_bytes(constant_pack("1.0.0", "one"))
    with Host(Settings(data_dir=tmp_path / "c", store_url=postgres_url)) as c:
        assert c.call("versions", "Which") == "one"
        assert [p.name for p in c.registry.packs()] == ["versions"]


def test_a_pack_uploaded_by_another_process_is_served_here(tmp_path: Path,
                                                           postgres_url: str) -> None:
    wasm = tmp_path / "v.wasm"
    with Host(Settings(data_dir=tmp_path / "here", store_url=postgres_url)) as here:
        wasm.write_bytes(constant_pack("1.0.0", "one"))
        in_another_process(tmp_path / "there", postgres_url, f"host.register_file({str(wasm)!r})")
        eventually(lambda: here.call("versions", "Which") == "one", "here runs its upload")
        wasm.write_bytes(constant_pack("2.0.0", "two"))
        in_another_process(tmp_path / "there", postgres_url, f"host.register_file({str(wasm)!r})")
        eventually(lambda: here.call("versions", "Which") == "two", "here runs version 2")
        in_another_process(tmp_path / "elsewhere", postgres_url,
                           "host.registry.activate('versions', '1.0.0')")
        eventually(lambda: here.call("versions", "Which") == "one", "here follows a rollback")


def in_another_process(data_dir: Path, store_url: str, statement: str) -> None:
    code = textwrap.dedent(f"""
        from pathlib import Path
        from corral import Host, Settings
        settings = Settings(data_dir=Path({str(data_dir)!r}), store_url={store_url!r})
        with Host(settings) as host:
            {statement}
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   env={**os.environ, "PYTHONPATH": str(REPO / "host")})
