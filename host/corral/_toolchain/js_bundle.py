"""Node at build time for JavaScript packs: esbuild bundles the pack, then the bundle is loaded
once to derive the manifest.

Both steps are Node scripts in the SDK (``guest-sdk/js/bundle.mjs`` and
``derive-manifest.mjs``), run the way the AssemblyScript compiler is run. esbuild's errors
already name the pack's source file, line and column; they are passed through unchanged.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import BuildError
from .._pack.manifest import HINTS, VALUE_TYPES, ParamDef
from .sdk import sdk_dir

NODE_TIMEOUT_S = 300


@dataclass(frozen=True)
class Derived:
    """The manifest a Coda pack declares, and what of it Corral could only approximate."""

    manifest: dict[str, Any]
    warnings: tuple[str, ...]


def js_sdk_dir() -> Path:
    return sdk_dir() / "js"


def host_vocabulary() -> dict[str, Any]:
    """What this host's manifest accepts; the bundle translates Coda's types into it."""
    from dataclasses import fields

    return {"types": list(VALUE_TYPES), "hints": list(HINTS),
            "param_fields": [f.name for f in fields(ParamDef)]}


def node() -> str:
    found = shutil.which("node")
    if found is None:
        raise BuildError("building a JavaScript or TypeScript pack needs Node.js (20 or later) "
                         "on PATH, and `node` is not there")
    return found


def _check_tools(sdk: Path) -> None:
    if not (sdk / "node_modules" / "esbuild").is_dir():
        raise BuildError(f"the JavaScript SDK's npm tools are not installed in {sdk / 'node_modules'}"
                         " (run `make setup`, or `npm ci` in guest-sdk/js)")


def bundle(entry: Path, out: Path) -> None:
    """Bundle ``entry`` with the packs-sdk and Corral's runtime into ``out`` (and ``out.map``)."""
    sdk = js_sdk_dir()
    _check_tools(sdk)
    out.parent.mkdir(parents=True, exist_ok=True)
    _run([node(), str(sdk / "bundle.mjs"), str(entry), str(out), json.dumps(host_vocabulary())],
         what=f"bundling {entry.name}")


def derive_manifest(bundle_path: Path, name: str) -> Derived:
    sdk = js_sdk_dir()
    stdout = _run([node(), str(sdk / "derive-manifest.mjs"), str(bundle_path), name,
                   json.dumps(host_vocabulary())], what=f"reading the pack definition of {name}")
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise BuildError(f"deriving the manifest of {name} printed no JSON: {exc}") from exc
    return Derived(manifest=data["manifest"], warnings=tuple(data["warnings"]))


def _run(command: list[str], *, what: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=NODE_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"{what}: node ran longer than {NODE_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        raise BuildError(f"{what} failed:\n{output[-4000:]}", exit_code=done.returncode)
    return done.stdout
