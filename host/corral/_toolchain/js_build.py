"""``corral build`` of a Coda pack written in TypeScript or JavaScript.

A directory holding ``pack.ts`` (or ``pack.js``), or such a file itself, is bundled with
esbuild (:mod:`.js_bundle`), its manifest is derived from the pack definition, and the engine
(:mod:`.js_engine`, QuickJS-NG in wasm32) is snapshotted with the bundle evaluated into one
``.wasm`` that carries the manifest. Builds are cached by a digest of every input.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

from .._pack.manifest import Manifest
from .._pack.parse import parse_manifest
from .js_bundle import bundle, derive_manifest, host_vocabulary, js_sdk_dir

JS_ENTRIES = ("pack.ts", "pack.js")
JS_SUFFIXES = (".ts", ".js", ".mts", ".mjs", ".cts", ".cjs", ".json")
LANGUAGE_BY_SUFFIX = {".ts": "typescript", ".mts": "typescript", ".js": "javascript",
                      ".mjs": "javascript"}


def js_entry(path: str | os.PathLike[str]) -> Path | None:
    """The pack's entry file if ``path`` is a JavaScript/TypeScript pack, else None."""
    p = Path(path)
    if p.is_file():
        return p.resolve() if p.suffix in LANGUAGE_BY_SUFFIX else None
    if p.is_dir() and not (p / "pack.toml").is_file():
        for name in JS_ENTRIES:
            if (p / name).is_file():
                return (p / name).resolve()
    return None


def language_of(entry: Path) -> str:
    return LANGUAGE_BY_SUFFIX[entry.suffix]


def pack_name(entry: Path) -> str:
    """``pack.ts`` takes its directory's name; any other file its own stem."""
    raw = entry.parent.name if entry.stem == "pack" else entry.stem
    name = re.sub(r"[^A-Za-z0-9_]", "_", raw)
    if not name or not name[0].isalpha():
        name = "pack_" + name
    return name[:64]


def build_js(entry: Path, output: Path | None, *, force: bool) -> tuple[Path, Manifest, bool,
                                                                        tuple[str, ...]]:
    """Build ``entry``; returns (wasm path, manifest, cached, warnings)."""
    name = pack_name(entry)
    build_dir = entry.parent / "build"
    out = output.resolve() if output else build_dir / f"{name}.wasm"
    digest = input_digest(entry)
    stamp = out.with_suffix(out.suffix + ".digest")
    bundle_path = build_dir / f"{name}.bundle.js"
    manifest_path = build_dir / f"{name}.manifest.json"
    if (not force and out.is_file() and stamp.is_file() and stamp.read_text() == digest
            and manifest_path.is_file()):
        data = json.loads(manifest_path.read_text())
        return out, parse_manifest(data["manifest"], source=str(entry)), True, tuple(data["warnings"])
    bundle(entry, bundle_path)
    derived = derive_manifest(bundle_path, name)
    for warning in derived.warnings:
        print(f"corral build: {entry.name}: warning: Corral has no {warning}", file=sys.stderr)
    derived.manifest["pack"]["build"] = {"language": language_of(entry), "source": entry.name}
    manifest = parse_manifest(derived.manifest, source=str(entry))
    manifest_json = manifest.to_json()
    wasm = snapshot(bundle_path.read_text(encoding="utf-8"), manifest_json, build_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(wasm)
    manifest_path.write_text(json.dumps({"manifest": derived.manifest,
                                         "warnings": list(derived.warnings)}))
    stamp.write_text(digest)
    return out, manifest, False, derived.warnings


def snapshot(bundle_js: str, manifest_json: bytes, build_dir: Path) -> bytes:
    """The engine with the bundle evaluated, snapshotted into the final pack (the one call
    into the engine's toolchain). The engine itself is built once and cached where the
    engine's toolchain keeps it (``build/js-engine`` in a checkout), not per pack."""
    from .js_snapshot import snapshot_js_pack

    return snapshot_js_pack(bundle_js, manifest_json.decode("utf-8"))


def input_digest(entry: Path) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(host_vocabulary(), sort_keys=True).encode())
    sdk = js_sdk_dir()
    inputs = [Path(__file__), Path(__file__).with_name("js_bundle.py"),
              Path(__file__).with_name("js_engine.py"), Path(__file__).with_name("js_snapshot.py"),
              sdk / "bundle.mjs",
              sdk / "derive-manifest.mjs", sdk / "package-lock.json"]
    inputs += sorted((sdk / "runtime").glob("*.js"))
    if (sdk / "engine").is_dir():
        inputs += sorted(p for p in (sdk / "engine").rglob("*") if p.is_file())
    inputs += sorted(p for p in entry.parent.rglob("*")
                     if p.is_file() and p.suffix in JS_SUFFIXES
                     and not {"build", "node_modules"} & set(p.relative_to(entry.parent).parts))
    for path in inputs:
        h.update(str(path.name).encode())
        h.update(path.read_bytes() if path.is_file() else b"-")
    h.update(str(entry.name).encode())
    return h.hexdigest()
