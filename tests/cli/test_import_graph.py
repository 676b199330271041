"""No import cycle runs through the command line, the server's commands or the toolchain.

The graph counts every ``import`` and ``from`` statement anywhere in a module: at the top,
inside functions (lazy imports) and under ``TYPE_CHECKING``, since each is a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import corral

PACKAGE = Path(corral.__file__).resolve().parent
CHECKED = ("corral._cli", "corral._toolchain", "corral._server.serve", "corral.__main__")


def module_names() -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package's __init__)."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        names[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return names


def imports_of(name: str, path: Path, is_package: bool, known: set[str]) -> set[str]:
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def import_graph() -> dict[str, set[str]]:
    names = module_names()
    return {name: imports_of(name, path, is_package, set(names))
            for name, (path, is_package) in names.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_finds_a_loop_and_nothing_else() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_graph_sees_lazy_imports() -> None:
    graph = import_graph()
    assert "corral._server.serve" in graph["corral._cli.main"]  # imported inside a function
    assert "corral._cli.output" in graph["corral._cli.sync"]


def test_no_cycle_runs_through_the_cli_the_serve_commands_or_the_toolchain() -> None:
    touching = [c for c in cycles(import_graph())
                if any(m == p or m.startswith(p + ".") for m in c for p in CHECKED)]
    assert touching == []


def test_the_server_never_imports_the_cli() -> None:
    graph = import_graph()
    assert not {t for t in graph["corral._server.serve"] if t.startswith("corral._cli")}
