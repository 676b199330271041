"""A JavaScript pack: the engine, snapshotted by Wizer with the pack's bundle evaluated.

1. The bundle goes into the engine's bundle slot as an appended data segment.
2. Wizer runs ``wizer.initialize`` (which creates the QuickJS runtime and evaluates the
   bundle) and writes the initialized memory out as the new module's data: each call then
   starts from a fresh instance of that snapshot, with no JS parsed per call.
3. The snapshot is asked whether the bundle threw while it was evaluated (a build error).
4. The ``corral:manifest`` section is added, with ``pack.wasi`` set: the engine imports
   ``wasi_snapshot_preview1.clock_time_get`` and ``random_get`` (guest-sdk/ABI.md §8).

Snapshots are cached by a digest of the engine, the bundle and the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import msgpack

from .._errors import BuildError
from .._pack import abi as _abi
from .._pack.parse import parse_manifest
from .._pack.wasm import MANIFEST_SECTION, set_custom_section
from .js_engine import Engine, default_cache_dir, load_engine
from .js_probe import read_export_slice
from .sdk import sdk_dir
from .wasm_data import append_data_segment

WIZER_TIMEOUT_S = 300


def wizer_path() -> Path:
    """Wizer from the JavaScript SDK's npm tools (``make setup`` installs them)."""
    wizer = sdk_dir() / "js" / "node_modules" / ".bin" / "wizer"
    if not wizer.is_file():
        raise BuildError(f"Wizer is not installed (looked for {wizer}); run `make setup`, or "
                         "`npm ci` in guest-sdk/js")
    return wizer


def snapshot_js_pack(bundle_js: str, manifest_json: dict[str, Any] | str, *,
                     cache_dir: str | os.PathLike[str] | None = None) -> bytes:
    """The finished pack ``.wasm`` for ``bundle_js`` (a script defining
    ``globalThis.__corral_dispatch``) and its manifest (the ``corral:manifest`` JSON)."""
    root = (Path(cache_dir) if cache_dir is not None else default_cache_dir()).resolve()
    engine = load_engine(root)
    manifest = _manifest_bytes(manifest_json)
    source = bundle_js.encode("utf-8")
    digest = hashlib.sha256(b"%s|%d|" % (engine.digest.encode(), len(source)) + source
                            + manifest).hexdigest()
    cached = root / "packs" / f"{digest[:32]}.wasm"
    if cached.is_file():
        return cached.read_bytes()
    snapshot = _snapshot(engine, source, root)
    error = read_export_slice(snapshot, "corral_js_init_error")
    if error:
        raise BuildError("the pack's bundle threw while it was evaluated: "
                         + _error_message(error))
    wasm = set_custom_section(snapshot, MANIFEST_SECTION, manifest)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".partial")
    partial.write_bytes(wasm)
    partial.rename(cached)
    return wasm


def _manifest_bytes(manifest_json: dict[str, Any] | str) -> bytes:
    data = json.loads(manifest_json) if isinstance(manifest_json, str) else dict(manifest_json)
    pack = dict(data.get("pack") or {})
    pack["wasi"] = True
    data["pack"] = pack
    parse_manifest(data, source="the JavaScript pack's manifest")
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _snapshot(engine: Engine, source: bytes, root: Path) -> bytes:
    if len(source) + 5 > engine.slot_bytes:
        raise BuildError(f"the bundle is {len(source)} bytes; the engine takes at most "
                         f"{engine.slot_bytes - 5}")
    payload = len(source).to_bytes(4, "little") + source + b"\0"
    seeded = append_data_segment(engine.path.read_bytes(), engine.slot_address, payload)
    with tempfile.TemporaryDirectory(dir=root) as work:
        given, out = Path(work) / "seeded.wasm", Path(work) / "pack.wasm"
        given.write_bytes(seeded)
        # WASI only for the clock and random calls QuickJS makes while it starts; no files,
        # no environment, no standard input.
        command = [str(wizer_path()), str(given), "-o", str(out), "--allow-wasi",
                   "--inherit-stdio", "false", "--inherit-env", "false",
                   "--wasm-bulk-memory", "true"]
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=WIZER_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BuildError(f"Wizer ran longer than {WIZER_TIMEOUT_S} s; does the bundle's "
                             "top level loop forever?") from exc
        if done.returncode != 0 or not out.is_file():
            output = (done.stderr or done.stdout).strip()[-4000:]
            raise BuildError(f"Wizer could not snapshot the pack:\n{output}",
                             exit_code=done.returncode)
        return out.read_bytes()


def _error_message(raw: bytes) -> str:
    try:
        decoded = _abi.decode(raw)
        return str(decoded["err"]["message"])
    except (ValueError, KeyError, TypeError, msgpack.UnpackException):  # not the bridge's map
        return raw.decode("utf-8", errors="replace")
