"""The shape of ``host/corral``: rooms, no import cycles, imports only downward, small modules.

Every ``import`` and ``from`` statement counts, wherever it is (inside a function, under
``TYPE_CHECKING``): a lazy import is a dependency all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "host" / "corral"
MAX_LINES = 500

#: Lower floors first; a module may import its own floor and any floor below it.
FLOORS: list[set[str]] = [
    {"_errors", "_types", "_metrics", "_settings", "_domains", "_closing", "_stores"},
    {"_pack"},
    {"_sandbox", "_toolchain"},  # the toolchain needs only the pack contract
    {"_fetch", "_connections"},
    {"_calls"},
    {"_runtime"},
    {"_formula"},
    {"_host"},
    {"_server", "_cli", "testing", "__main__"},
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_modules(name: str, path: Path) -> set[str]:
    """Every corral module that ``name`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "corral")
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(name, is_package, node)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


def _absolute(name: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = name.split(".") if is_package else name.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


GRAPH = {name: imported_modules(name, path) for name, path in MODULES.items()}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_there_are_rooms() -> None:
    rooms = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    private = {name for name in rooms if name.startswith("_")}
    assert len(private) >= 8, sorted(rooms)
    assert rooms - private == {"testing"}, "only corral.testing is a public subpackage"


def test_the_import_graph_has_no_cycle() -> None:
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _floor(top: str) -> int | None:
    return next((i for i, members in enumerate(FLOORS) if top in members), None)


def test_every_room_is_on_a_floor() -> None:
    rooms = {room(m) for m in MODULES} - {""}
    placed = set().union(*FLOORS)
    assert rooms <= placed, f"rooms without a floor: {sorted(rooms - placed)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if room(m)))
def test_imports_go_only_downward(module: str) -> None:
    here = room(module)
    upward = []
    for target in sorted(GRAPH[module]):
        there = room(target)
        if not there or there == here:
            continue
        mine, theirs = _floor(here), _floor(there)
        allowed = mine is not None and theirs is not None and theirs <= mine
        if not allowed:
            upward.append(target)
    assert not upward, f"{module} imports upward or sideways: {upward}"


def test_no_module_is_over_the_line_limit() -> None:
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_package_root_imports_nothing_heavy_at_import_time() -> None:
    eager = {m for m in GRAPH["corral"]}
    assert eager <= {"corral._errors", "corral._pack", "corral._pack.manifest",
                     "corral._runtime.pack", "corral._sandbox", "corral._sandbox.sandbox",
                     "corral._settings", "corral._types", "corral._domains"} | {
        m for m in eager if m.startswith("corral._pack")}, sorted(eager)
