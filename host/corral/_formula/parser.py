"""The formula parser: formula text to a tree of :mod:`nodes <corral._formula.nodes>`.

The grammar lives in ``formula.lark``. Lark builds the LALR tables (cached on disk with
``cache=True``); :mod:`.lexer` tokenizes with one regex match a token; :mod:`.lalr` runs
the table, calling the Transformer as it reduces, so no parse tree is kept; and an
expression arrives as one flat run of operands and operators that :func:`_precedence`
folds into the tree with an operator stack. Nothing recurses on the input's nesting, every node carries its depth,
and parsed formulas are kept in a bounded LRU keyed by their text (trees are frozen, so
callers share them). Every failure is a :class:`FormulaSyntaxError` with a caret under
the source; the length and depth caps keep hostile input from reaching a
``RecursionError`` later on.
"""

from __future__ import annotations

import functools
import re
from typing import Any, cast

from lark import Lark, Transformer, v_args
from lark.exceptions import UnexpectedInput, UnexpectedToken

from .._errors import FormulaSyntaxError, caret_context
from .lalr import LalrDriver, UnexpectedTok
from .lexer import Tok, TokenProblem, tokens
from .nodes import (
    Binary,
    Call,
    ConnectionRef,
    Index,
    ListExpr,
    Literal,
    Node,
    PackCall,
    Property,
    Unary,
    Variable,
    depth,
    walk,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_FORMULA_CHARS",
    "Binary",
    "Call",
    "ConnectionRef",
    "Index",
    "ListExpr",
    "Literal",
    "Node",
    "PackCall",
    "Property",
    "Unary",
    "Variable",
    "depth",
    "lark_parser",
    "parse_formula",
    "source_context",
    "tree_to_ast",
    "walk",
]

Token = Any
"""A token: the lexer's :class:`Tok`, or lark's ``Token`` when lark parses (the baseline)."""

MAX_FORMULA_CHARS = 20_000
MAX_DEPTH = 100
PARSE_CACHE_SIZE = 1024
_MAX_EXACT_INT_DIGITS = 18


class _Problem(TokenProblem):
    """A semantic problem with one token, raised inside the Transformer."""

    def __init__(self, message: str, token: Token, offset: int = 0) -> None:
        super().__init__(message, token.line or 1, (token.column or 1) + offset)


# -- operator precedence -------------------------------------------------------------------

#: Each operator as written -> (the AST's operator, its binding strength); prefix - and +
#: bind at 5, between * and ^, and comparisons (strength 1) do not chain.
_BINARY = {"=": ("=", 1), "==": ("=", 1), "!=": ("!=", 1), "<>": ("!=", 1), "<": ("<", 1),
           "<=": ("<=", 1), ">": (">", 1), ">=": (">=", 1), "&": ("&", 2), "+": ("+", 3),
           "-": ("-", 3), "*": ("*", 4), "/": ("/", 4), "^": ("^", 6)}
_PREFIX_LEVEL = 5


def _precedence(items: tuple[Any, ...]) -> Node:
    """Fold a run ``[prefix…] operand (op [prefix…] operand)…`` into a tree (shunting-yard).

    ``^`` is right-associative and binds tighter than a prefix sign (``-2^2`` is
    ``-(2^2)``); the others are left-associative; a second comparison in one run is
    refused, because comparisons do not chain.
    """
    operands: list[Node] = []
    pending: list[tuple[int, Token, bool]] = []  # (level, operator, is_prefix)
    expect_operand = True
    compared = False
    for item in items:
        if isinstance(item, Node):
            operands.append(item)
            expect_operand = False
            continue
        if expect_operand:
            pending.append((_PREFIX_LEVEL, item, True))
            continue
        level = _BINARY[str(item)][1]
        if level == 1:
            if compared:
                raise _Problem(f"unexpected {str(item)!r}: comparisons do not chain "
                               "(write And(a < b, b < c))", item)
            compared = True
        while pending and (pending[-1][0] > level or pending[-1][0] == level and level != 6):
            _apply(pending.pop(), operands)
        pending.append((level, item, False))
        expect_operand = True
    while pending:
        _apply(pending.pop(), operands)
    return operands[0]


def _apply(entry: tuple[int, Token, bool], operands: list[Node]) -> None:
    _, token, prefix = entry
    op = _BINARY[str(token)][0]
    line, column = token.line or 1, token.column or 1
    right = operands.pop()
    if prefix:
        operands.append(Unary(op=op, operand=right, line=line, column=column,
                              depth=right.depth + 1))
        return
    left = operands.pop()
    operands.append(Binary(op=op, left=left, right=right, line=line, column=column,
                           depth=max(left.depth, right.depth) + 1))


def _depth_over(nodes: tuple[Node, ...]) -> int:
    return max([node.depth for node in nodes], default=0) + 1


def _optional_args(rest: tuple[Any, ...]) -> tuple[Node, ...]:
    """The ``[args]`` of a call: present, or absent (only the closing token is left)."""
    return cast(tuple[Node, ...], rest[0]) if len(rest) == 2 else ()


# -- the Transformer -----------------------------------------------------------------------


@v_args(inline=True)
class _ToAst(Transformer[Token, Node]):
    """Builds AST nodes as the parser reduces; stateless, so one instance serves all threads."""

    def start(self, *children: Any) -> Node:
        node: Node = children[-1]
        return node

    def expr(self, *items: Any) -> Node:
        return _precedence(items)

    def args(self, *items: Any) -> tuple[Node, ...]:
        return cast(tuple[Node, ...], items[::2])  # every other item is a comma

    def group(self, _open: Token, inner: Node, _close: Token) -> Node:
        return inner

    def number(self, token: Token) -> Literal:
        return Literal(value=_number_value(token), line=token.line or 1, column=token.column or 1)

    def string(self, token: Token) -> Literal:
        return Literal(value=_unescape(token), line=token.line or 1, column=token.column or 1)

    def true(self, token: Token) -> Literal:
        return Literal(value=True, line=token.line or 1, column=token.column or 1)

    def false(self, token: Token) -> Literal:
        return Literal(value=False, line=token.line or 1, column=token.column or 1)

    def list(self, open_: Token, *rest: Any) -> ListExpr:
        items = _optional_args(rest)
        return ListExpr(items=items, line=open_.line or 1, column=open_.column or 1,
                        depth=_depth_over(items))

    def property(self, target: Node, _dot: Token, name: Token) -> Property:
        return Property(target=target, name=str(name), line=name.line or 1,
                        column=name.column or 1, depth=target.depth + 1)

    def index(self, target: Node, open_: Token, index: Node, _close: Token) -> Index:
        return Index(target=target, index=index, line=open_.line or 1, column=open_.column or 1,
                     depth=max(target.depth, index.depth) + 1)

    def call(self, name: Token, _open: Token, *rest: Any) -> Call:
        args = _optional_args(rest)
        return Call(name=str(name), args=args, line=name.line or 1, column=name.column or 1,
                    depth=_depth_over(args))

    def pack_call(self, pack: Token, _dot: Token, formula: Token, _open: Token,
                  *rest: Any) -> PackCall:
        args = _optional_args(rest)
        return PackCall(pack=str(pack), formula=str(formula), args=args,
                        line=pack.line or 1, column=pack.column or 1, depth=_depth_over(args))

    def reference_call(self, ref: Token, _colons: Token, formula: Token, _open: Token,
                       *rest: Any) -> PackCall:
        segments = _reference_segments(ref, "pack")
        if not segments or not segments[0].strip():
            raise _Problem("a pack reference needs a pack id: $$[pack:ID]", ref)
        args = _optional_args(rest)
        return PackCall(pack=segments[0].strip(), formula=str(formula), args=args,
                        canonical=True, line=ref.line or 1, column=ref.column or 1,
                        depth=_depth_over(args))

    def connection_ref(self, ref: Token) -> ConnectionRef:
        segments = _reference_segments(ref, "packConnectionReference")
        if len(segments) < 2 or not segments[0] or not segments[1]:
            raise _Problem("a connection reference needs a connection id and a pack id: "
                           "$$[packConnectionReference:connId:packId]", ref)
        return ConnectionRef(connection_id=segments[0], pack=segments[1],
                             line=ref.line or 1, column=ref.column or 1)

    def variable(self, ref: Token) -> Variable:
        segments = _reference_segments(ref, "variable")
        name = segments[0].strip() if segments else ""
        if not name:
            raise _Problem("a variable reference needs a name: $$[variable:NAME]", ref)
        return Variable(name=name, line=ref.line or 1, column=ref.column or 1)


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
_ESCAPE_RE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)


def _unescape(token: Token) -> str:
    body = str(token)[1:-1]
    if "\\" not in body:
        return body
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


# -- the parsers ---------------------------------------------------------------------------


def lark_parser(*, inline: bool = False) -> Lark:
    """Lark's own LALR parser of ``formula.lark``, with its contextual lexer: building a
    parse tree that :func:`tree_to_ast` transforms (lark's defaults), or with the
    Transformer run inline (``inline``). :func:`parse_formula` uses only its tables; the
    perf suite measures these beside it."""
    if inline:
        return Lark.open("formula.lark", rel_to=__file__, parser="lalr", transformer=_ToAst(),
                         maybe_placeholders=False)
    return Lark.open("formula.lark", rel_to=__file__, parser="lalr", maybe_placeholders=False)


def tree_to_ast(tree: Any) -> Node:
    """The AST of a parse tree from ``lark_parser()``."""
    node: Node = _ToAst().transform(tree)
    return node


_TABLES = Lark.open("formula.lark", rel_to=__file__, parser="lalr", lexer="basic",
                    maybe_placeholders=False, cache=True)
_DRIVER = LalrDriver(_TABLES, _ToAst())

_TERMINAL_TEXT = {
    "EQ": "=", "BINOP": "an operator", "PLUS": "+", "MINUS": "-", "DOT": ".",
    "LSQB": "[", "RSQB": "]", "LPAR": "(", "RPAR": ")", "COMMA": ",", "COLONS": "::",
    "TRUE": "true", "FALSE": "false", "NAME": "a name", "NUMBER": "a number",
    "STRING": "a string", "PACK_REF": "a $$[pack:…] reference",
    "CONNECTION_REF": "a connection reference", "VARIABLE_REF": "a $$[variable:…] reference",
    "$END": "the end of the formula",
}


def parse_formula(text: str, *, cache: bool = True) -> Node:
    """Parse formula text into an AST, or raise :class:`FormulaSyntaxError`.

    ``cache=False`` parses afresh instead of answering from the LRU of parsed formulas.
    """
    if len(text) > MAX_FORMULA_CHARS:
        raise FormulaSyntaxError(f"the formula is longer than {MAX_FORMULA_CHARS} characters",
                                 line=1, column=1, source=text[:200])
    return _cached_parse(text) if cache else _parse(text)


def _parse(text: str) -> Node:
    try:
        root = cast(Node, _DRIVER.parse(tokens(text)))
    except TokenProblem as exc:
        raise FormulaSyntaxError(exc.message, line=exc.line, column=exc.column, source=text,
                                 context=source_context(text, exc.line, exc.column)) from None
    except UnexpectedTok as exc:
        raise _syntax_error(exc.token, exc.expected, text) from None
    if root.depth > MAX_DEPTH:
        _, deepest = depth(root)
        raise FormulaSyntaxError(f"the formula nests deeper than {MAX_DEPTH} levels",
                                 line=deepest.line, column=deepest.column, source=text,
                                 context=source_context(text, deepest.line, deepest.column))
    return root


_cached_parse = functools.lru_cache(maxsize=PARSE_CACHE_SIZE)(_parse)


def _syntax_error(token: Tok, expected: set[str], text: str) -> FormulaSyntaxError:
    if token.type == "$END":
        lines = text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
        found = "end of the formula"
    else:
        line, column, found = token.line, token.column, repr(str(token))
    names = sorted({_TERMINAL_TEXT.get(t, t) for t in expected})
    return FormulaSyntaxError(f"unexpected {found}; expected {_one_of(names)}", line=line,
                              column=column, source=text,
                              context=source_context(text, line, column))


def lark_syntax_error(exc: UnexpectedInput, text: str) -> FormulaSyntaxError:
    """The error of :func:`_syntax_error` for a failure of lark's own parser."""
    token = getattr(exc, "token", None)
    if isinstance(exc, UnexpectedToken) and token is not None:
        tok = Tok(token.type, str(token), token.line or 1, token.column or 1)
        return _syntax_error(tok, set(exc.expected), text)
    line, column = exc.line or 1, exc.column or 1
    return FormulaSyntaxError("unexpected input", line=line, column=column, source=text,
                              context=source_context(text, line, column))


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
