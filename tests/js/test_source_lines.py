"""A JS exception's stack in a call's error names the pack's own source line (the bundle
carries a line map from esbuild's source map), through the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral import GuestError
from corral.testing import PackHarness

PACK = """import * as coda from "@codahq/packs-sdk";
export const pack = coda.newPack();

pack.addFormula({
  name: "Boom", description: "Fails.", parameters: [],
  resultType: coda.ValueType.String,
  execute: async function () {
    const x: any = undefined;
    return x.nope;
  },
});

pack.addFormula({
  name: "Polite", description: "Fails for the user.", parameters: [],
  resultType: coda.ValueType.String,
  execute: async function () {
    throw new coda.UserVisibleError("nothing to see");
  },
});
"""


def test_an_internal_error_names_the_pack_ts_line(tmp_path: Path) -> None:
    (tmp_path / "boom").mkdir()
    (tmp_path / "boom" / "pack.ts").write_text(PACK)
    with PackHarness(tmp_path / "boom") as harness:
        with pytest.raises(GuestError) as caught:
            harness.call("Boom")
        assert caught.value.guest_kind == "internal"
        assert "TypeError" in caught.value.message
        assert "pack.ts:9" in caught.value.message
        with pytest.raises(GuestError, match="nothing to see") as polite:
            harness.call("Polite")
        assert polite.value.guest_kind == "user"
