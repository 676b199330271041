"""``corral build`` of a Coda pack in TypeScript/JavaScript: detection, errors pointing at the
pack's source line, the derived manifest, and the one call into the engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from corral import BuildError, build_pack
from corral._toolchain import js_build
from corral._toolchain.js_build import js_entry, language_of, pack_name

PACK = """import * as coda from "@codahq/packs-sdk";
export const pack = coda.newPack();
pack.addFormula({
  name: "Twice", description: "Doubles.",
  parameters: [coda.makeParameter({type: coda.ParameterType.Number, name: "n", description: "n"})],
  resultType: coda.ValueType.Number,
  execute: async function ([n]) { return 2 * n; },
});
"""


def test_a_directory_with_pack_ts_or_the_file_itself_is_a_js_pack(tmp_path: Path) -> None:
    (tmp_path / "doubler").mkdir()
    (tmp_path / "doubler" / "pack.ts").write_text(PACK)
    (tmp_path / "other.js").write_text(PACK)
    assert js_entry(tmp_path / "doubler") == (tmp_path / "doubler" / "pack.ts").resolve()
    assert js_entry(tmp_path / "other.js") == (tmp_path / "other.js").resolve()
    assert pack_name(tmp_path / "doubler" / "pack.ts") == "doubler"
    assert pack_name(tmp_path / "other.js") == "other"
    assert language_of(tmp_path / "other.js") == "javascript"
    (tmp_path / "toml").mkdir()
    (tmp_path / "toml" / "pack.toml").write_text("")
    (tmp_path / "toml" / "pack.ts").write_text(PACK)
    assert js_entry(tmp_path / "toml") is None, "a pack.toml pack is not a Coda pack"


def test_a_syntax_error_names_the_source_line(tmp_path: Path) -> None:
    (tmp_path / "pack.ts").write_text(PACK.replace("return 2 * n;", "return 2 * ;"))
    with pytest.raises(BuildError) as caught:
        build_pack(tmp_path)
    assert "pack.ts:7:" in caught.value.message


def test_a_missing_import_names_it(tmp_path: Path) -> None:
    (tmp_path / "pack.ts").write_text('import "./nowhere";\n' + PACK)
    with pytest.raises(BuildError, match='Could not resolve "./nowhere"'):
        build_pack(tmp_path)


def test_everything_up_to_the_engine_is_one_call_with_bundle_and_manifest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, bytes]] = []

    def fake_snapshot(bundle_js: str, manifest_json: bytes, build_dir: Path) -> bytes:
        seen.append((bundle_js, manifest_json))
        return b"\0asm\1\0\0\0"

    monkeypatch.setattr(js_build, "snapshot", fake_snapshot)
    (tmp_path / "doubler").mkdir()
    (tmp_path / "doubler" / "pack.ts").write_text(PACK)
    first = build_pack(tmp_path / "doubler")
    assert not first.cached
    assert first.manifest.formula("Twice").params[0].type == "number"
    assert first.manifest.build == {"language": "typescript", "source": "pack.ts"}
    bundle_js, manifest_json = seen[0]
    assert "__corral_dispatch" in bundle_js and b'"Twice"' in manifest_json
    assert build_pack(tmp_path / "doubler").cached
    (tmp_path / "doubler" / "pack.ts").write_text(PACK.replace("2 * n", "3 * n"))
    assert not build_pack(tmp_path / "doubler").cached, "an edit rebuilds"
    assert len(seen) == 2
