"""The wasm the suite measures: its own packs, the example packs and the Extism plugin.

Packs are built with ``corral build`` (cached by their inputs); the Extism plugin is built
with the AssemblyScript compiler installed by ``npm ci`` in ``benchmarks/perf/extism``,
and cached the same way, by a digest of its inputs.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from corral import MANIFEST_SECTION, BuildError, build_pack, read_manifest, set_custom_section

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BENCH_PACKS = HERE / "packs"
EXAMPLE_PACKS = REPO / "packs"
EXTISM_DIR = HERE / "extism"
EXTISM_SOURCE = EXTISM_DIR / "assembly" / "index.ts"
EXTISM_OUTPUT = EXTISM_DIR / "build" / "plugin.wasm"
ASC_TIMEOUT_S = 300


def perfbench_wasm() -> bytes:
    """The suite's own pack: Add, AddCached, Fetch, Work and the raw ``perf_add`` export."""
    return build_pack(BENCH_PACKS / "perfbench").path.read_bytes()


def bigpack_wasm() -> bytes:
    """A pack of about 1.3 MB of code, for the large cold start."""
    return build_pack(BENCH_PACKS / "bigpack").path.read_bytes()


def example_packs() -> dict[str, bytes]:
    """Every example pack under ``packs/``, built; name -> wasm bytes."""
    built: dict[str, bytes] = {}
    for manifest in sorted(EXAMPLE_PACKS.glob("*/pack.toml")):
        built[manifest.parent.name] = build_pack(manifest.parent).path.read_bytes()
    return built


def with_network_domains(wasm: bytes, domains: list[str]) -> bytes:
    """The same pack with its manifest's ``network_domains`` replaced (ports vary per run)."""
    manifest = read_manifest(wasm).to_dict()
    manifest["pack"]["network_domains"] = domains
    return set_custom_section(wasm, MANIFEST_SECTION, json.dumps(manifest).encode())


def extism_plugin_wasm() -> bytes:
    """The AssemblyScript plugin built with @extism/as-pdk (rebuilt when its inputs change)."""
    asc = EXTISM_DIR / "node_modules" / ".bin" / "asc"
    pdk = EXTISM_DIR / "node_modules" / "@extism" / "as-pdk"
    if not asc.exists() or not pdk.is_dir():
        raise BuildError(f"the Extism plugin needs its npm packages: run `npm ci` in {EXTISM_DIR} "
                         "(`make setup` does it)")
    digest = _extism_inputs_digest()
    stamp = EXTISM_OUTPUT.with_suffix(".wasm.digest")
    if EXTISM_OUTPUT.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return EXTISM_OUTPUT.read_bytes()
    EXTISM_OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    command = [str(asc), str(EXTISM_SOURCE.relative_to(EXTISM_DIR)), "--outFile",
               str(EXTISM_OUTPUT), "--optimize", "--runtime", "incremental",
               "--use", "abort=assembly/index/quietAbort"]
    try:
        done = subprocess.run(command, cwd=EXTISM_DIR, capture_output=True, text=True,
                              timeout=ASC_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"building the Extism plugin failed: {exc}") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout)[-2000:]
        raise BuildError(f"building the Extism plugin failed:\n{output}")
    stamp.write_text(digest)
    return EXTISM_OUTPUT.read_bytes()


def _extism_inputs_digest() -> str:
    h = hashlib.sha256()
    for path in (EXTISM_SOURCE, EXTISM_DIR / "package-lock.json"):
        h.update(path.name.encode())
        h.update(path.read_bytes() if path.is_file() else b"")
    return h.hexdigest()


def build_all() -> list[str]:
    """Build everything up front so no benchmark's clock includes a compiler run.

    Returns the failures as messages; the benchmarks that need a failed artifact fail on
    their own, with the same error.
    """
    failures = []
    for name, build in (("perfbench", perfbench_wasm), ("bigpack", bigpack_wasm),
                        ("example packs", example_packs), ("extism plugin", extism_plugin_wasm)):
        try:
            build()
        except Exception as exc:  # reported, and raised again by the benchmark that needs it
            failures.append(f"{name}: {exc.__class__.__name__}: {exc}")
    return failures
