"""The formula grammar: what parses into which tree, and how bad input is reported."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral import FormulaSyntaxError, parse_formula
from corral._formula.parser import (MAX_DEPTH, MAX_FORMULA_CHARS, Binary, Call, ConnectionRef,
                                    Index, ListExpr, Literal, Node, PackCall, Property, Unary)


def sexp(node: Node) -> str:
    """A compact, position-free rendering of a tree for table tests."""
    if isinstance(node, Literal):
        return repr(node.value)
    if isinstance(node, ListExpr):
        return "[" + " ".join(sexp(i) for i in node.items) + "]"
    if isinstance(node, Unary):
        return f"({node.op} {sexp(node.operand)})"
    if isinstance(node, Binary):
        return f"({node.op} {sexp(node.left)} {sexp(node.right)})"
    if isinstance(node, Property):
        return f"(. {sexp(node.target)} {node.name})"
    if isinstance(node, Index):
        return f"([] {sexp(node.target)} {sexp(node.index)})"
    if isinstance(node, Call):
        return f"({node.name}" + "".join(" " + sexp(a) for a in node.args) + ")"
    if isinstance(node, PackCall):
        mark = "$" if node.canonical else ""
        return f"({mark}{node.pack}.{node.formula}" + "".join(" " + sexp(a) for a in node.args) + ")"
    if isinstance(node, ConnectionRef):
        return f"<conn {node.connection_id} {node.pack}>"
    raise AssertionError(node)


@pytest.mark.parametrize("text, tree", [
    # literals
    ("1", "1"),
    ("=42", "42"),
    ("  = 42  ", "42"),
    ("3.25", "3.25"),
    (".5", "0.5"),
    ("1e3", "1000.0"),
    ("2.5E-1", "0.25"),
    ("12345678901234567890", "1.2345678901234567e+19"),
    ('"plain"', "'plain'"),
    ('"say \\"hi\\""', "'say \"hi\"'"),
    ('"a\\nb\\t\\\\"', "'a\\nb\\t\\\\'"),
    ('"\\u00e9\\ud83d\\ude00"', "'é😀'"),
    ('""', "''"),
    ("true", "True"),
    ("FALSE", "False"),
    ("True", "True"),
    ("[]", "[]"),
    ("[1, \"two\", [3]]", "[1 'two' [3]]"),
    # arithmetic and precedence
    ("1 + 2 * 3", "(+ 1 (* 2 3))"),
    ("(1 + 2) * 3", "(* (+ 1 2) 3)"),
    ("1 - 2 - 3", "(- (- 1 2) 3)"),
    ("8 / 4 / 2", "(/ (/ 8 4) 2)"),
    ("2 ^ 3 ^ 2", "(^ 2 (^ 3 2))"),
    ("-2 ^ 2", "(- (^ 2 2))"),
    ("2 ^ -1", "(^ 2 (- 1))"),
    ("--1", "(- (- 1))"),
    ("+1", "(+ 1)"),
    ("-x(1)", "(- (x 1))"),
    # concatenation and comparison
    ('"a" & "b" & 1 + 2', "(& (& 'a' 'b') (+ 1 2))"),
    ("1 + 1 = 2", "(= (+ 1 1) 2)"),
    ("1 == 2", "(= 1 2)"),
    ("1 != 2", "(!= 1 2)"),
    ("1 <> 2", "(!= 1 2)"),
    ('"a" & "b" < "c"', "(< (& 'a' 'b') 'c')"),
    ("1 <= 2", "(<= 1 2)"),
    ("1 >= 2", "(>= 1 2)"),
    ("1 > 2", "(> 1 2)"),
    ("=1=1", "(= 1 1)"),
    # calls, property access, indexing
    ("Now()", "(Now)"),
    ("If(true, 1, 2)", "(If True 1 2)"),
    ("upper(\"x\")", "(upper 'x')"),
    ("Weather.Forecast(\"Paris\", 3)", "(Weather.Forecast 'Paris' 3)"),
    ("Pack.Get().Name", "(. (Pack.Get) Name)"),
    ("Pack.Get()[1].Name", "(. ([] (Pack.Get) 1) Name)"),
    ("[1, 2][2]", "([] [1 2] 2)"),
    ("List(1)[1][1]", "([] ([] (List 1) 1) 1)"),
    ('Pack.Get()["a b"]', "([] (Pack.Get) 'a b')"),
    ("A.F(B.G(1), 2)", "(A.F (B.G 1) 2)"),
    # canonical references
    ("$$[pack:Weather]::Forecast(1)", "($Weather.Forecast 1)"),
    ("$$[pack:Weather:1.2.0:display name]::Forecast()", "($Weather.Forecast)"),
    ("Weather.Forecast($$[packConnectionReference:conn-1:Weather], 1)",
     "(Weather.Forecast <conn conn-1 Weather> 1)"),
    ("$$[packConnectionReference:c9:Weather:My account]", "<conn c9 Weather>"),
    # whitespace and newlines
    ("If(\n  true,\n  1,\n  2\n)", "(If True 1 2)"),
])
def test_parses_into_the_expected_tree(text: str, tree: str) -> None:
    assert sexp(parse_formula(text)) == tree


def test_nodes_carry_line_and_column() -> None:
    tree = parse_formula('=If(true,\n  Pack.Get("x").Name,\n  1 + "y")')
    assert isinstance(tree, Call) and (tree.line, tree.column) == (1, 2)
    prop, add = tree.args[1], tree.args[2]
    assert isinstance(prop, Property) and (prop.line, prop.column) == (2, 17)
    assert isinstance(prop.target, PackCall) and (prop.target.line, prop.target.column) == (2, 3)
    assert isinstance(add, Binary) and (add.line, add.column) == (3, 5)  # the operator


def test_trees_are_frozen_and_comparable() -> None:
    assert parse_formula("1 + 2") == parse_formula("1 + 2")
    tree = parse_formula("1 + 2")
    with pytest.raises(AttributeError):
        tree.line = 5  # type: ignore[misc]


@pytest.mark.parametrize("text, line, column, fragment", [
    ("", 1, 1, "unexpected end of the formula"),
    ("=", 1, 2, "unexpected end of the formula"),
    ("1 +", 1, 4, "unexpected end of the formula"),
    ("1 + * 2", 1, 5, "unexpected '*'"),
    ("(1", 1, 3, "expected"),
    ("1)", 1, 2, "unexpected ')'"),
    ("1 ? 2", 1, 3, "unexpected character '?'"),
    ('"abc', 1, 1, "unterminated string"),
    ('"a\\qb"', 1, 3, "unknown escape \\q"),
    ('"\\ud800"', 1, 1, "unpaired UTF-16 surrogate"),
    ("1 < 2 < 3", 1, 7, "unexpected '<'"),
    ("a.b.c(1)", 1, 4, "unexpected '.'"),
    ("Pack.Formula", 1, 13, "unexpected end of the formula; expected ("),
    ("foo", 1, 4, "expected ("),
    ("[1, 2", 1, 6, "expected"),
    ("f(1,)", 1, 5, "unexpected ')'"),
    ("1e999", 1, 1, "out of range"),
    ("$$[pack:]::F()", 1, 1, "needs a pack id"),
    ("$$[packConnectionReference:onlyid]", 1, 1, "needs a connection id and a pack id"),
    ("If(true,\n  1 +\n  )", 3, 3, "unexpected ')'"),
])
def test_syntax_errors_name_the_position(text: str, line: int, column: int,
                                         fragment: str) -> None:
    with pytest.raises(FormulaSyntaxError) as info:
        parse_formula(text)
    err = info.value
    assert (err.line, err.column) == (line, column)
    assert fragment in str(err)
    assert err.to_dict()["line"] == line and err.kind == "formula_syntax"


def test_syntax_error_shows_a_caret_under_the_source() -> None:
    with pytest.raises(FormulaSyntaxError) as info:
        parse_formula("Sum(1, 2 3)")
    assert info.value.context == "Sum(1, 2 3)\n         ^"
    assert str(info.value).endswith("Sum(1, 2 3)\n         ^")


def test_caret_context_of_a_long_line_is_a_window() -> None:
    text = "1 + " * 500 + "?"
    with pytest.raises(FormulaSyntaxError) as info:
        parse_formula(text)
    source_line, caret = info.value.context.split("\n")
    assert len(source_line) < 100
    assert source_line[caret.index("^")] == "?"


def test_formula_length_is_capped() -> None:
    with pytest.raises(FormulaSyntaxError, match=f"longer than {MAX_FORMULA_CHARS}"):
        parse_formula("1" + " " * MAX_FORMULA_CHARS)


@pytest.mark.parametrize("text", [
    "-" * (MAX_DEPTH + 5) + "1",
    "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5),
    "List(" * (MAX_DEPTH + 5) + ")" * (MAX_DEPTH + 5),
    "+".join(["1"] * (MAX_DEPTH + 5)),
    "[" * 5000 + "]" * 5000,
])
def test_nesting_depth_is_capped_without_recursion_error(text: str) -> None:
    with pytest.raises(FormulaSyntaxError, match=f"nests deeper than {MAX_DEPTH}"):
        parse_formula(text)


def test_nesting_just_under_the_cap_parses() -> None:
    depth = MAX_DEPTH - 1
    tree = parse_formula("[" * depth + "]" * depth)
    assert isinstance(tree, ListExpr)


def test_parentheses_alone_do_not_count_as_depth() -> None:
    assert parse_formula("(" * 500 + "1" + ")" * 500) == Literal(value=1, line=1, column=501)


_FORMULA_ALPHABET = st.sampled_from(list('()[]{},.:;=<>!&+-*/^"\\$ \n\t01239eEaAxz_') +
                                    ["true", "If", "Pack.F", "$$[pack:", "$$[packConnectionReference:",
                                     "]::", "\\u", "d83d", "1e999"])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(_FORMULA_ALPHABET, max_size=40).map("".join)))
def test_any_text_gives_a_tree_or_a_syntax_error(text: str) -> None:
    try:
        tree = parse_formula(text)
    except FormulaSyntaxError as err:
        assert err.line >= 1 and err.column >= 1
        assert "^" in err.context
    else:
        assert isinstance(tree, Node)
