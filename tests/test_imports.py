"""`import corral` stays cheap, and every public name is reachable from the package."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import corral

HEAVY = ("fastapi", "uvicorn", "lark", "httpx", "lmdb", "cryptography", "starlette")


def test_import_corral_loads_no_heavy_dependency() -> None:
    code = ("import sys, json, corral; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    loaded = set(json.loads(done.stdout))
    assert not loaded & set(HEAVY), f"import corral pulled in {sorted(loaded & set(HEAVY))}"


def test_every_name_in_all_resolves() -> None:
    for name in corral.__all__:
        assert getattr(corral, name) is not None, name


def test_errors_share_one_root_with_stable_kinds() -> None:
    kinds = {}
    for name in corral.__all__:
        value = getattr(corral, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, corral.CorralError), name
            kinds[name] = value.kind
    assert kinds["FuelExhausted"] == "fuel_exhausted"
    assert kinds["FetchDenied"] == "fetch_denied"
    assert kinds["FormulaSyntaxError"] == "formula_syntax"


def test_every_name_corral_testing_exports_resolves() -> None:
    import corral.testing

    for name in corral.testing.__all__:
        assert getattr(corral.testing, name) is not None, name


def test_the_benchmarks_never_import_the_tests() -> None:
    # Tests may use the benchmarks (tests/bench); the shared kit lives in corral.testing
    # and the shared hostile pack with the benchmark, so nothing points the other way.
    root = Path(__file__).resolve().parents[1] / "benchmarks"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(root)}: {n}" for n in names
                          if n == "tests" or n.startswith("tests.")]
    assert offenders == []
