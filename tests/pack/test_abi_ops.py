"""Every op the host may send is documented in ABI.md and answered by every SDK."""

from __future__ import annotations

import re

import pytest
from corral._pack.abi import OPS

from ..conftest import REPO

SDK_DISPATCH = {
    "zig": REPO / "guest-sdk" / "zig" / "corral.zig",
    "c": REPO / "guest-sdk" / "c" / "corral.h",
    "assemblyscript": REPO / "guest-sdk" / "assemblyscript" / "assembly" / "corral" / "pack.ts",
}


def test_abi_md_lists_every_op_and_what_it_returns() -> None:
    text = (REPO / "guest-sdk" / "ABI.md").read_text(encoding="utf-8")
    section = text.split("### 3.1", 1)[1].split("### 3.2", 1)[0]
    ops_table = section.split("| `op` | the guest returns in `ok` |", 1)[1].split("\n\n", 1)[0]
    documented = re.findall(r"^\| `(\w+)` \|", ops_table, re.MULTILINE)
    assert sorted(documented) == sorted(OPS)


@pytest.mark.parametrize("sdk", sorted(SDK_DISPATCH))
def test_every_sdk_dispatches_every_op(sdk: str) -> None:
    source = SDK_DISPATCH[sdk].read_text(encoding="utf-8")
    missing = [op for op in OPS if f'"{op}"' not in source]
    assert missing == []
