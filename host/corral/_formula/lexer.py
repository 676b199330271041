"""The formula tokenizer: one compiled pattern for every terminal of ``formula.lark``.

Lark's contextual lexer tries a terminal set per parser state and matches ignored
whitespace separately; this one matches each token with one ``re`` call (whitespace
folded in front of it) and yields light :class:`Tok` objects carrying the grammar's
terminal names and the 1-based line and column each token starts at.
"""

from __future__ import annotations

import re


class Tok:
    """A token: what the parser's Transformer reads of lark's ``Token``, at a fraction of
    its cost to make."""

    __slots__ = ("column", "line", "type", "value")

    def __init__(self, type: str, value: str, line: int, column: int) -> None:
        self.type = type
        self.value = value
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"Tok({self.type}, {self.value!r}, {self.line}:{self.column})"


class TokenProblem(Exception):
    """A problem at one position of the text (the parser turns it into a syntax error)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


#: (terminal, pattern) in the order they are tried: longer operators before their prefixes.
_TERMINALS: tuple[tuple[str, str], ...] = (
    ("PACK_REF", r"\$\$\[pack:[^\]\n]*\]"),
    ("CONNECTION_REF", r"\$\$\[packConnectionReference:[^\]\n]*\]"),
    ("VARIABLE_REF", r"\$\$\[variable:[^\]\n]*\]"),
    ("NAME", r"[A-Za-z_][A-Za-z0-9_]*"),
    ("NUMBER", r"(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?"),
    ("STRING", r'"(?:[^"\\]|\\.)*"'),
    ("BINOP", r"==|!=|<>|<=|>=|[<>&*/^]"), ("EQ", r"="), ("COLONS", r"::"),
    ("PLUS", r"\+"), ("MINUS", r"-"), ("DOT", r"\."), ("LSQB", r"\["), ("RSQB", r"\]"),
    ("LPAR", r"\("), ("RPAR", r"\)"), ("COMMA", r","),
)
_KEYWORDS = {"true": "TRUE", "false": "FALSE"}
_SPACE = r"(?P<space>\s*)"
_PATTERN = re.compile(_SPACE + "(?:" + "|".join(f"(?P<{name}>{pattern})"
                                               for name, pattern in _TERMINALS) + ")", re.DOTALL)
_TRAILING_SPACE = re.compile(r"\s*\Z")


def tokens(text: str) -> list[Tok]:
    """The tokens of ``text``; :class:`TokenProblem` at the first character none matches.

    ``finditer`` runs the one pattern along the text in C; a match that does not begin
    where the previous one ended means the characters between matched no terminal.
    """
    out: list[Tok] = []
    add = out.append
    keywords = _KEYWORDS
    pos, line, line_start = 0, 1, 0
    for found in _PATTERN.finditer(text):
        if found.start() != pos:
            break
        start = found.end(1)
        if start != pos and text.count("\n", pos, start):
            line, line_start = _advance(text, pos, start, line, line_start)
        kind = found.lastgroup
        value = found.group(kind)  # type: ignore[arg-type]
        if kind == "NAME" and value.lower() in keywords:
            kind = keywords[value.lower()]
        add(Tok(kind, value, line, start - line_start + 1))  # type: ignore[arg-type]
        pos = found.end()
        if kind == "STRING" and "\n" in value:
            line, line_start = _advance(text, start, pos, line, line_start)
    if pos < len(text) and not _TRAILING_SPACE.match(text, pos):
        bad = _skip_space(text, pos)
        line, line_start = _advance(text, pos, bad, line, line_start)
        raise _unexpected(text, bad, line, line_start)
    return out


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _advance(text: str, start: int, stop: int, line: int, line_start: int) -> tuple[int, int]:
    """The line and line start after ``text[start:stop]``."""
    newlines = text.count("\n", start, stop)
    if newlines:
        return line + newlines, text.rindex("\n", start, stop) + 1
    return line, line_start


def _unexpected(text: str, pos: int, line: int, line_start: int) -> TokenProblem:
    char = text[pos]
    message = "unterminated string" if char == '"' else f"unexpected character {char!r}"
    return TokenProblem(message, line, pos - line_start + 1)
