"""The formula parser as it was before issue 16 (its grammar is ``formula_v1.lark``),
kept unchanged so the perf suite measures today's parser beside it in the same run:
lark's LALR with its contextual lexer and the Transformer inline, a grammar with one
rule per precedence level, and the depth walked after parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, cast

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from corral._errors import FormulaSyntaxError, caret_context

MAX_FORMULA_CHARS = 20_000
MAX_DEPTH = 100
_MAX_EXACT_INT_DIGITS = 18


@dataclass(frozen=True, kw_only=True)
class Node:
    line: int
    column: int

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True, kw_only=True)
class Literal(Node):
    """A number, string or boolean written in the formula."""

    value: int | float | str | bool


@dataclass(frozen=True, kw_only=True)
class ListExpr(Node):
    items: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.items


@dataclass(frozen=True, kw_only=True)
class Unary(Node):
    op: str  # "-" or "+"
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True, kw_only=True)
class Binary(Node):
    op: str  # one of + - * / ^ & = != < <= > >=
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, kw_only=True)
class Property(Node):
    target: Node
    name: str

    def children(self) -> tuple[Node, ...]:
        return (self.target,)


@dataclass(frozen=True, kw_only=True)
class Index(Node):
    target: Node
    index: Node

    def children(self) -> tuple[Node, ...]:
        return (self.target, self.index)


@dataclass(frozen=True, kw_only=True)
class Call(Node):
    """A built-in function call such as ``Upper("x")``."""

    name: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


@dataclass(frozen=True, kw_only=True)
class PackCall(Node):
    """``Pack.Formula(args)`` or the canonical ``$$[pack:ID:…]::Formula(args)``."""

    pack: str
    formula: str
    args: tuple[Node, ...]
    canonical: bool = False

    def children(self) -> tuple[Node, ...]:
        return self.args

    @property
    def label(self) -> str:
        return f"{self.pack}.{self.formula}"


@dataclass(frozen=True, kw_only=True)
class ConnectionRef(Node):
    """``$$[packConnectionReference:connId:packId:…]``: a connection chosen explicitly."""

    connection_id: str
    pack: str


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


# -- parsing -----------------------------------------------------------------------------


class _Problem(Exception):
    """A semantic problem with one token, raised inside the Transformer."""

    def __init__(self, message: str, token: Token, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = token.line or 1
        self.column = (token.column or 1) + offset


def _binary(op: str) -> Any:
    def build(self: _ToAst, left: Node, token: Token, right: Node) -> Binary:
        return Binary(op=op, left=left, right=right, line=token.line or 1,
                      column=token.column or 1)
    return build


def _unary(op: str) -> Any:
    def build(self: _ToAst, token: Token, operand: Node) -> Unary:
        return Unary(op=op, operand=operand, line=token.line or 1, column=token.column or 1)
    return build


@v_args(inline=True)
class _ToAst(Transformer[Token, Node]):
    """Builds AST nodes as the parser reduces; stateless, so one instance serves all threads."""

    eq, ne, lt, le, gt, ge = (_binary(op) for op in ("=", "!=", "<", "<=", ">", ">="))
    concat, add, sub, mul, div, pow = (_binary(op) for op in ("&", "+", "-", "*", "/", "^"))
    neg, pos = _unary("-"), _unary("+")

    def start(self, *children: Any) -> Node:
        node: Node = children[-1]
        return node

    def args(self, *items: Node) -> tuple[Node, ...]:
        return items

    def number(self, token: Token) -> Literal:
        return Literal(value=_number_value(token), line=token.line or 1, column=token.column or 1)

    def string(self, token: Token) -> Literal:
        return Literal(value=_unescape(token), line=token.line or 1, column=token.column or 1)

    def true(self, token: Token) -> Literal:
        return Literal(value=True, line=token.line or 1, column=token.column or 1)

    def false(self, token: Token) -> Literal:
        return Literal(value=False, line=token.line or 1, column=token.column or 1)

    def list(self, open_: Token, items: tuple[Node, ...] | None, _close: Token) -> ListExpr:
        return ListExpr(items=items or (), line=open_.line or 1, column=open_.column or 1)

    def property(self, target: Node, _dot: Token, name: Token) -> Property:
        return Property(target=target, name=str(name), line=name.line or 1,
                        column=name.column or 1)

    def index(self, target: Node, open_: Token, index: Node, _close: Token) -> Index:
        return Index(target=target, index=index, line=open_.line or 1, column=open_.column or 1)

    def call(self, name: Token, args: tuple[Node, ...] | None) -> Call:
        return Call(name=str(name), args=args or (), line=name.line or 1,
                    column=name.column or 1)

    def pack_call(self, pack: Token, _dot: Token, formula: Token,
                  args: tuple[Node, ...] | None) -> PackCall:
        return PackCall(pack=str(pack), formula=str(formula), args=args or (),
                        line=pack.line or 1, column=pack.column or 1)

    def reference_call(self, ref: Token, formula: Token,
                       args: tuple[Node, ...] | None) -> PackCall:
        segments = _reference_segments(ref, "pack")
        if not segments or not segments[0]:
            raise _Problem("a pack reference needs a pack id: $$[pack:ID]", ref)
        return PackCall(pack=segments[0], formula=str(formula), args=args or (), canonical=True,
                        line=ref.line or 1, column=ref.column or 1)

    def connection_ref(self, ref: Token) -> ConnectionRef:
        segments = _reference_segments(ref, "packConnectionReference")
        if len(segments) < 2 or not segments[0] or not segments[1]:
            raise _Problem("a connection reference needs a connection id and a pack id: "
                           "$$[packConnectionReference:connId:packId]", ref)
        return ConnectionRef(connection_id=segments[0], pack=segments[1],
                             line=ref.line or 1, column=ref.column or 1)


def _reference_segments(token: Token, kind: str) -> list[str]:
    inner = str(token)[len("$$[") + len(kind) + 1:-1]
    return inner.split(":") if inner else []


def _number_value(token: Token) -> int | float:
    text = str(token)
    if text.isdigit() and len(text) <= _MAX_EXACT_INT_DIGITS:
        return int(text)
    value = float(text)  # long digit strings become floats; int() would refuse > 4300 digits
    if value in (float("inf"), float("-inf")):
        raise _Problem(f"the number {text[:20]}{'…' if len(text) > 20 else ''} is out of range",
                       token)
    return value


_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b",
            "f": "\f"}
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)


def _unescape(token: Token) -> str:
    body = str(token)[1:-1]
    out: list[str] = []
    last = 0
    for match in _ESCAPE_RE.finditer(body):
        out.append(body[last:match.start()])
        code = match.group(1)
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
        elif code.startswith("u") and len(code) == 5:
            out.append(chr(int(code[1:], 16)))
        else:
            raise _Problem(f"unknown escape \\{code} in a string (use \\\\ for a backslash)",
                           token, offset=1 + match.start())
        last = match.end()
    out.append(body[last:])
    return _pair_surrogates("".join(out), token)


def _pair_surrogates(text: str, token: Token) -> str:
    """Join \\uD83D\\uDE00-style pairs into one character; refuse a lone half."""
    if not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return text
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        raise _Problem("a string holds an unpaired UTF-16 surrogate", token) from None


_PARSER = Lark.open("formula_v1.lark", rel_to=__file__, parser="lalr", transformer=_ToAst(),
                    maybe_placeholders=True)

_TERMINAL_TEXT = {
    "EQ": "=", "NE": "!=", "LE": "<=", "GE": ">=", "LT": "<", "GT": ">", "AMP": "&",
    "PLUS": "+", "MINUS": "-", "STAR": "*", "SLASH": "/", "CARET": "^", "DOT": ".",
    "LSQB": "[", "RSQB": "]", "LPAR": "(", "RPAR": ")", "COMMA": ",", "TRUE": "true",
    "FALSE": "false", "NAME": "a name", "NUMBER": "a number", "STRING": "a string",
    "PACK_REF": "a $$[pack:…] reference", "CONNECTION_REF": "a connection reference",
    "$END": "the end of the formula",
}


def parse_formula(text: str) -> Node:
    """Parse formula text into an AST, or raise :class:`FormulaSyntaxError`."""
    if len(text) > MAX_FORMULA_CHARS:
        raise FormulaSyntaxError(f"the formula is longer than {MAX_FORMULA_CHARS} characters",
                                 line=1, column=1, source=text[:200])
    try:
        root = cast(Node, _PARSER.parse(text))
    except _Problem as exc:
        raise FormulaSyntaxError(exc.message, line=exc.line, column=exc.column, source=text,
                                 context=source_context(text, exc.line, exc.column)) from None
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
    levels, deepest = depth(root)
    if levels > MAX_DEPTH:
        raise FormulaSyntaxError(f"the formula nests deeper than {MAX_DEPTH} levels",
                                 line=deepest.line, column=deepest.column, source=text,
                                 context=source_context(text, deepest.line, deepest.column))
    return root


def _syntax_error(exc: UnexpectedInput, text: str) -> FormulaSyntaxError:
    line, column = _position(exc, text)
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        char = text[pos] if 0 <= pos < len(text) else ""
        message = "unterminated string" if char == '"' else f"unexpected character {char!r}"
    elif isinstance(exc, UnexpectedToken):
        found = "end of the formula" if exc.token.type == "$END" else repr(str(exc.token))
        expected = sorted({_TERMINAL_TEXT.get(t, t) for t in exc.expected})
        message = f"unexpected {found}; expected {_one_of(expected)}"
    else:
        message = "unexpected end of the formula"
    return FormulaSyntaxError(message, line=line, column=column, source=text,
                              context=source_context(text, line, column))


def _position(exc: UnexpectedInput, text: str) -> tuple[int, int]:
    token = getattr(exc, "token", None)
    if token is not None and token.type == "$END" or exc.line is None or exc.line < 1:
        lines = text.splitlines() or [""]
        return len(lines), len(lines[-1]) + 1
    return exc.line, exc.column


def source_context(text: str, line: int, column: int, width: int = 72) -> str:
    """The caret context of ``caret_context``, cut to a window around a long line's column."""
    lines = text.splitlines() or [""]
    source_line = lines[min(max(line, 1), len(lines)) - 1]
    if len(source_line) <= width:
        return caret_context(text, line, column)
    start = max(0, min(column - 1 - width // 2, len(source_line) - width))
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + width < len(source_line) else ""
    window = prefix + source_line[start:start + width] + suffix
    return f"{window}\n{' ' * (column - 1 - start + len(prefix))}^"


def _one_of(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    if len(names) > 8:
        return ", ".join(names[:8]) + ", …"
    return ", ".join(names[:-1]) + " or " + names[-1]
