"""The formula AST: frozen dataclass nodes, each with the 1-based ``line`` and ``column``
where it starts (operators point at the operator).

Every node also records its ``depth`` (1 for a leaf), computed as the parser builds it,
so the nesting cap costs nothing per parse; ``depth`` takes no part in equality.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True, slots=True)
class Node:
    line: int
    column: int
    depth: int = field(default=1, compare=False, repr=False)

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Literal(Node):
    """A number, string or boolean written in the formula."""

    value: int | float | str | bool


@dataclass(frozen=True, kw_only=True, slots=True)
class ListExpr(Node):
    items: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.items


@dataclass(frozen=True, kw_only=True, slots=True)
class Unary(Node):
    op: str  # "-" or "+"
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True, kw_only=True, slots=True)
class Binary(Node):
    op: str  # one of + - * / ^ & = != < <= > >=
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, kw_only=True, slots=True)
class Property(Node):
    target: Node
    name: str

    def children(self) -> tuple[Node, ...]:
        return (self.target,)


@dataclass(frozen=True, kw_only=True, slots=True)
class Index(Node):
    target: Node
    index: Node

    def children(self) -> tuple[Node, ...]:
        return (self.target, self.index)


@dataclass(frozen=True, kw_only=True, slots=True)
class Call(Node):
    """A built-in function call such as ``Upper("x")``."""

    name: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


@dataclass(frozen=True, kw_only=True, slots=True)
class PackCall(Node):
    """``Pack.Formula(args)`` or the canonical ``$$[pack:ID:…]::Formula(args)``.

    ``pack`` is the name, or for a canonical reference the id as written: a pack's name,
    or the registry's numeric id of the pack (``$$[pack:1013]::…``).
    """

    pack: str
    formula: str
    args: tuple[Node, ...]
    canonical: bool = False

    def children(self) -> tuple[Node, ...]:
        return self.args

    @property
    def label(self) -> str:
        return f"{self.pack}.{self.formula}"


@dataclass(frozen=True, kw_only=True, slots=True)
class ConnectionRef(Node):
    """``$$[packConnectionReference:connId:packId:…]``: a connection chosen explicitly."""

    connection_id: str
    pack: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Variable(Node):
    """``$$[variable:NAME]``: a value the caller binds when it evaluates the formula."""

    name: str


def walk(root: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children, without recursion."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children()))


def depth(root: Node) -> tuple[int, Node]:
    """The depth of the tree and its deepest node, without recursion."""
    deepest, where = 0, root
    stack = [(root, 1)]
    while stack:
        node, level = stack.pop()
        if level > deepest:
            deepest, where = level, node
        stack.extend((child, level + 1) for child in node.children())
    return deepest, where
