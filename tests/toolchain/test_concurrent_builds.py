"""Several processes building one pack at once (nodes or workers starting together on a
fresh checkout) all get the same whole ``.wasm``: one compiles, the others wait for it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import PACKS, REPO

BUILD = """
import sys
from corral import build_pack
print(build_pack(sys.argv[1]).cached)
"""


@pytest.mark.timeout(300)
def test_four_processes_building_one_pack_at_once_agree(tmp_path: Path) -> None:
    pack = tmp_path / "hello"
    shutil.copytree(PACKS / "hello", pack, ignore=shutil.ignore_patterns("build"))
    builders = [subprocess.Popen([sys.executable, "-c", BUILD, str(pack)], cwd=REPO,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(4)]
    outcomes = [builder.communicate(timeout=240) for builder in builders]
    assert [b.returncode for b in builders] == [0] * 4, [err for _, err in outcomes]
    assert sorted(out.strip() for out, _ in outcomes) == ["False", "True", "True", "True"]
    built = (pack / "build" / "hello.wasm").read_bytes()
    assert built.startswith(b"\0asm")
    assert not list((pack / "build").glob("*.tmp")) and not list((pack / "build").glob(
        "*.raw.wasm"))
