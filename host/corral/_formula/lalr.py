"""An LALR driver over the parse table lark builds from ``formula.lark``.

Lark's own loop is general (interactive parsing, a lexer thread, tree-builder wrappers
around every callback); formulas need none of it. This driver reads the same table and
runs the same reductions with lark's tree-building rules - a rule named ``_x`` (and
lark's ``__x_star_n`` helpers) is spliced into its parent, a ``?rule`` with one child is
that child, an aliased or named rule calls the Transformer method of that name - so the
AST is exactly what ``Lark(..., transformer=...)`` builds, for a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from lark import Lark
from lark.grammar import Rule
from lark.parsers.lalr_analysis import Shift

from .lexer import Tok

Reducer = Callable[[list[Any]], Any]


class UnexpectedTok(Exception):
    """The parser met ``token`` where it expected one of ``expected`` (terminal names)."""

    def __init__(self, token: Tok, expected: set[str]) -> None:
        super().__init__(f"unexpected {token!r}")
        self.token = token
        self.expected = expected


def _splice(children: list[Any], positions: tuple[int, ...]) -> list[Any]:
    """``children`` with the lists at ``positions`` opened in place of them.

    A left-recursive run (``__expr_star``) has its own previous list first: that list is
    extended, not copied (as lark's own child filter does), so a run of n operands costs
    O(n), not O(n^2).
    """
    if positions[0] == 0:
        out: list[Any] = children[0]
        start, rest = 1, positions[1:]
    else:
        out, start, rest = [], 0, positions
    for i in rest:
        out.extend(children[start:i])
        out.extend(children[i])
        start = i + 1
    out.extend(children[start:])
    return out


def _reducer(rule: Rule, transformer: Any) -> Reducer:
    positions = tuple(i for i, symbol in enumerate(rule.expansion)
                      if not symbol.is_term and symbol.name.startswith("_"))
    if rule.origin.name.startswith("_"):  # spliced into its parent: a plain list
        if not positions:
            return lambda children: children
        return lambda children: _splice(children, positions)
    name = str(rule.alias or rule.origin.name)
    method = getattr(transformer, name, None)
    expand_single = bool(rule.options.expand1) and not rule.alias
    if method is None and not expand_single:
        raise TypeError(f"the Transformer has no method for rule {name!r}")
    call: Callable[..., Any] = getattr(method, "base_func", method) or _no_method(name)
    if not positions and not expand_single:
        return lambda children: call(*children)

    def reduce(children: list[Any]) -> Any:
        if positions:
            children = _splice(children, positions)
        if expand_single and len(children) == 1:
            return children[0]
        return call(*children)

    return reduce


def _no_method(name: str) -> Callable[..., Any]:
    """What a ``?rule`` without a method calls with other than one child: never, in this
    grammar (``postfix`` always has one child when it is not aliased)."""
    def missing(*children: Any) -> Any:
        raise TypeError(f"the Transformer has no method for rule {name!r}")
    return missing


class LalrDriver:
    """Parses a token stream with ``lark_tables``' parse table and ``transformer``."""

    def __init__(self, lark_tables: Lark, transformer: Any, start: str = "start") -> None:
        table = lark_tables.parser.parser.parser.parse_table
        reducers: dict[Rule, Reducer] = {}
        self.actions: dict[int, dict[str, tuple[bool, Any]]] = {}
        for state, row in table.states.items():
            compiled: dict[str, tuple[bool, Any]] = {}
            for symbol, (action, arg) in row.items():
                if action is Shift:
                    compiled[symbol] = (True, arg)
                else:
                    if arg not in reducers:
                        reducers[arg] = _reducer(arg, transformer)
                    compiled[symbol] = (False, (len(arg.expansion), arg.origin.name,
                                                reducers[arg]))
            self.actions[state] = compiled
        self.start_state = table.start_states[start]
        self.end_state = table.end_states[start]

    def parse(self, tokens: Iterable[Tok]) -> Any:
        actions = self.actions
        states = [self.start_state]
        values: list[Any] = []
        push_state, push_value = states.append, values.append
        last: Tok | None = None
        for token in tokens:
            kind = token.type
            while True:
                row = actions[states[-1]]
                try:
                    shift, arg = row[kind]
                except KeyError:
                    raise UnexpectedTok(token, {s for s in row if s.isupper()}) from None
                if shift:
                    push_state(arg)
                    push_value(token)
                    break
                size, origin, reduce = arg  # inline, not a method: this is the hot loop
                if size:
                    children = values[-size:]
                    del values[-size:]
                    del states[-size:]
                else:
                    children = []
                push_value(reduce(children))
                push_state(actions[states[-1]][origin][1])
            last = token
        return self._finish(states, values, last)

    def _finish(self, states: list[int], values: list[Any], last: Tok | None) -> Any:
        """Reduce on the end of input until the start rule is complete."""
        end = Tok("$END", "", last.line if last else 1, last.column if last else 1)
        while True:
            row = self.actions[states[-1]]
            try:
                _, (size, origin, reduce) = row["$END"]
            except KeyError:
                raise UnexpectedTok(end, {s for s in row if s.isupper()}) from None
            children = values[-size:] if size else []
            if size:
                del values[-size:]
                del states[-size:]
            values.append(reduce(children))
            states.append(self.actions[states[-1]][origin][1])
            if states[-1] == self.end_state:
                return values[-1]
