"""The TypeScript pack ``corral new NAME --lang typescript`` writes: a Coda-style ``pack.ts``
(Coda's packs-sdk, resolved from Corral's JavaScript SDK: no package.json, no npm install),
a tsconfig for editors, a README and a test through :mod:`corral.testing`."""

from __future__ import annotations

import json

from .js_bundle import js_sdk_dir

PACK_TS = """// The __NAME__ pack: a Coda pack, built for Corral with `corral build .`.
import * as coda from "@codahq/packs-sdk";

export const pack = coda.newPack();

// Hosts this pack may fetch from; nothing else is reachable.
// pack.addNetworkDomain("api.example.com");

pack.addFormula({
  name: "Greet",
  description: "Says hello to someone.",
  parameters: [
    coda.makeParameter({
      type: coda.ParameterType.String,
      name: "name",
      description: "Who to greet.",
    }),
  ],
  resultType: coda.ValueType.String,
  cacheTtlSecs: 3600,
  // Upstream errors: `context.fetcher.fetch` throws a coda.StatusCodeError for a status of
  // 400 or more; uncaught, the caller sees its status (and Retry-After).
  execute: async function ([name], context) {
    if (!name) throw new coda.UserVisibleError("Greet needs a name");
    return `Hello, ${name}!`;
  },
});
"""

README = """# __NAME__

A Coda pack (TypeScript, `@codahq/packs-sdk`) that Corral builds into one sandboxed `.wasm`:
the pack and the SDK are bundled with esbuild, the manifest is derived from the pack
definition, and the JavaScript engine is snapshotted with the bundle loaded.

| formula | does |
| --- | --- |
| `Greet(name)` | `"Hello, <name>!"`; fails with "Greet needs a name" on an empty name |

    corral build .                      # -> build/__NAME__.wasm
    corral call build/__NAME__.wasm Greet '"Ada"'
    python -m pytest test___NAME__.py   # builds from source and calls it

`corral build` warns about Coda features Corral only approximates and refuses those it
cannot run (naming them and where they are declared).
"""

TEST = '''"""Tests for the __NAME__ pack: build it from pack.ts and call it through a real host."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral import GuestError
from corral.testing import run_formula

PACK = Path(__file__).resolve().parent


def test_greet() -> None:
    assert run_formula(PACK, "Greet", "Ada") == "Hello, Ada!"


def test_greet_needs_a_name() -> None:
    with pytest.raises(GuestError, match="Greet needs a name"):
        run_formula(PACK, "Greet", "")
'''


def tsconfig() -> str:
    sdk = js_sdk_dir() / "node_modules" / "@codahq" / "packs-sdk"
    return json.dumps({"compilerOptions": {
        "target": "ES2020", "module": "ES2020", "moduleResolution": "node", "strict": False,
        "noEmit": True, "lib": ["ES2020"], "types": [],
        "paths": {"@codahq/packs-sdk": [str(sdk)]}}, "include": ["pack.ts"]}, indent=2) + "\n"


def typescript_files(name: str) -> dict[str, str]:
    def fill(text: str) -> str:
        return text.replace("__NAME__", name)

    return {"pack.ts": fill(PACK_TS), "tsconfig.json": tsconfig(), "README.md": fill(README),
            f"test_{name}.py": fill(TEST)}
