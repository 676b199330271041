"""A JS exception's stack in a call's error names the pack's own source line (the bundle
carries a line map from esbuild's source map), through the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral import GuestError
from corral.testing import PackHarness

PACK = """import * as coda from "@codahq/packs-sdk";
import { parseTotal } from "./helpers";
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
  name: "Deep", description: "Fails in a helper module, after an await.", parameters: [],
  resultType: coda.ValueType.Number,
  execute: async function () {
    await new Promise((resolve) => setTimeout(resolve, 10));
    return parseTotal("12,5");
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


HELPERS = """// Helpers of the pack, in a module of their own.
interface Total { value: number }

export function parseTotal(text: string): number {
  const total: Total | undefined = text.includes(",") ? undefined : { value: Number(text) };
  return total!.value;
}
"""


def test_an_internal_error_names_the_pack_ts_line(tmp_path: Path) -> None:
    (tmp_path / "boom").mkdir()
    (tmp_path / "boom" / "pack.ts").write_text(PACK)
    (tmp_path / "boom" / "helpers.ts").write_text(HELPERS)
    with PackHarness(tmp_path / "boom") as harness:
        with pytest.raises(GuestError) as caught:
            harness.call("Boom")
        assert caught.value.guest_kind == "internal"
        assert "TypeError" in caught.value.message
        assert "pack.ts:10" in caught.value.message
        with pytest.raises(GuestError) as deep:
            harness.call("Deep")
        assert deep.value.guest_kind == "internal"
        assert "helpers.ts:6" in deep.value.message, deep.value.message
        with pytest.raises(GuestError, match="nothing to see") as polite:
            harness.call("Polite")
        assert polite.value.guest_kind == "user"


BROKEN = """import * as coda from "@codahq/packs-sdk";
export const pack = coda.newPack();

pack.addFormula({
  name: "Broken", description: "Does not parse.", parameters: [],
  resultType: coda.ValueType.String,
  execute: async function () {
    const x: number = ;
    return String(x);
  },
});
"""

MISSING = """import * as coda from "@codahq/packs-sdk";
import { helper } from "./helpers";
export const pack = coda.newPack();
pack.addFormula({
  name: "Helped", description: "Needs a file that is not there.", parameters: [],
  resultType: coda.ValueType.String, execute: async () => helper(),
});
"""


def test_a_build_error_points_at_the_pack_ts_line(tmp_path: Path) -> None:
    from corral import BuildError
    from corral._toolchain.build import build_pack

    for name, text, where in (("broken", BROKEN, "pack.ts:8:"), ("missing", MISSING, "pack.ts:2:")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "pack.ts").write_text(text)
        with pytest.raises(BuildError) as caught:
            build_pack(tmp_path / name / "pack.ts")
        assert where in caught.value.message, caught.value.message
