"""Parsing rule text: golden trees, refused constructs, limits, and a fuzz of hostile text."""

from __future__ import annotations

import ast
import builtins
import keyword
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.errors import SpecError
from pricing.expr.nodes import (
    BinOp,
    BoolOp,
    Call,
    Compare,
    ListLit,
    Lookup,
    Name,
    Neg,
    Node,
    Not,
    Num,
    Str,
    names,
)
from pricing.expr.parse import MAX_TEXT, parse


def cond(text: str) -> Node:
    return parse(text, path="rules/foundry.yaml", line=7, kind="condition")


def metric(text: str) -> Node:
    return parse(text, path="rules/foundry.yaml", line=7, kind="metric")


GOLDEN_CONDITIONS = [
    ("x > 5", Compare(Name("x"), (">",), (Num(Decimal("5")),))),
    (
        "600 < x <= 900",
        Compare(Num(Decimal("600")), ("<", "<="), (Name("x"), Num(Decimal("900")))),
    ),
    (
        "cupola in ['yes', 'small'] and kgce_per_t > 550",
        BoolOp(
            "and",
            (
                Compare(Name("cupola"), ("in",), (ListLit((Str("yes"), Str("small"))),)),
                Compare(Name("kgce_per_t"), (">",), (Num(Decimal("550")),)),
            ),
        ),
    ),
    (
        "not (a == 'x' or b != -1.5)",
        Not(
            BoolOp(
                "or",
                (
                    Compare(Name("a"), ("==",), (Str("x"),)),
                    Compare(Name("b"), ("!=",), (Num(Decimal("-1.5")),)),
                ),
            )
        ),
    ),
    ("x not in [1, 2]", Compare(Name("x"), ("not in",), (ListLit((Num(1), Num(2))),))),
    ("flag", Name("flag")),
    ("a and b and c", BoolOp("and", (Name("a"), Name("b"), Name("c")))),
    ("a >= b", Compare(Name("a"), (">=",), (Name("b"),))),
]

GOLDEN_METRICS = [
    (
        "energy_tce * 1000 / output_t",
        BinOp("/", BinOp("*", Name("energy_tce"), Num(Decimal("1000"))), Name("output_t")),
    ),
    (
        "kgce_per_t / limit[product]",
        BinOp("/", Name("kgce_per_t"), Lookup("limit", Name("product"))),
    ),
    ("min(a, 80)", Call("min", (Name("a"), Num(Decimal("80"))))),
    ("max(a, b, c)", Call("max", (Name("a"), Name("b"), Name("c")))),
    ("rank_pct(score)", Call("rank_pct", (Name("score"),))),
    ("rank_pct(-score, by=district)", Call("rank_pct", (Neg(Name("score")),), "district")),
    ("a - -2", BinOp("-", Name("a"), Num(Decimal("-2")))),
    ("(a + b) * c", BinOp("*", BinOp("+", Name("a"), Name("b")), Name("c"))),
    ("x > 1", Compare(Name("x"), (">",), (Num(Decimal("1")),))),  # boolean metrics are fine
]


@pytest.mark.parametrize(("text", "tree"), GOLDEN_CONDITIONS)
def test_conditions_parse_to_golden_trees(text: str, tree: Node) -> None:
    assert cond(text) == tree


@pytest.mark.parametrize(("text", "tree"), GOLDEN_METRICS)
def test_metrics_parse_to_golden_trees(text: str, tree: Node) -> None:
    assert metric(text) == tree


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.1", Decimal("0.1")),  # exact: float(0.1) would be 0.1000000000000000055…
        ("13650", Decimal("13650")),
        ("1_000.25", Decimal("1000.25")),
        ("2.50", Decimal("2.50")),
        ("1e3", Decimal("1E+3")),
        ("-0.3", Decimal("-0.3")),
    ],
)
def test_numbers_keep_their_exact_source_text(text: str, value: Decimal) -> None:
    tree = metric(text)
    assert isinstance(tree, Num)
    assert tree.value == value
    assert str(tree.value) == str(value)


def test_whitespace_inside_quotes_is_kept_and_outside_is_one_line() -> None:
    assert cond("s == 'a  b\tc'") == Compare(Name("s"), ("==",), (Str("a  b\tc"),))
    # tabs, line breaks and the ideographic space (U+3000) separate tokens like a space
    assert cond("x\t>\u30001\r\n") == Compare(Name("x"), (">",), (Num(Decimal(1)),))
    assert cond("s == 'it\\'s # not a comment'") == Compare(
        Name("s"), ("==",), (Str("it's # not a comment"),)
    )


def test_a_comment_would_drop_the_rest_of_the_rule_and_is_refused() -> None:
    with pytest.raises(SpecError, match="'#' at column 7 is not allowed"):
        cond("x > 5 # and y > 3")


def test_multi_line_text_from_yaml_block_scalars_parses() -> None:
    assert metric("min(a, 1)\n  + min(b, 2)\n") == BinOp(
        "+", Call("min", (Name("a"), Num(Decimal(1)))), Call("min", (Name("b"), Num(Decimal(2))))
    )


REFUSED_EVERYWHERE = [
    ("a.b", "attribute access"),
    ("x[1]", "subscripts other than table[field]"),
    ("t[a.b]", "subscripts other than table[field]"),
    ("t[1:2]", "subscripts other than table[field]"),
    ("lambda: 1", "lambda"),
    ("[v for v in x]", "comprehensions"),
    ("f'{x}'", "f-strings"),
    ("x ** 2", "'**'"),
    ("x % 2", "'%'"),
    ("x // 2", "'//'"),
    ("x & y", "bitwise '&'"),
    ("x | y", "bitwise '|'"),
    ("~x", "bitwise '~'"),
    ("x is y", "'is'"),
    ("x is not y", "'is not'"),
    ("b'x'", "the constant b'x'"),
    ("1j", "the constant 1j"),
    ("True", "the constant True"),
    ("None", "the constant None"),
    ("...", "the constant Ellipsis"),
    ("0x1F", "write numbers in decimal"),
    ("1e400", "numbers must be below"),
    ("x if y else z", "conditional expressions"),
    ("{'a': 1}", "dict literals"),
    ("{1, 2}", "set literals"),
    ("(1, 2)", "tuples"),
    ("(y := 1)", "assignment expressions"),
    ("[1, 2]", "a list outside"),
    ("x in [y]", "a list item that is not a number"),
    ("__import__('os').system('touch /tmp/pwned')", "calling __import__('os').system()"),
    ("open('x')", "calling open()"),
    ("+x", "unary '+'"),
]


@pytest.mark.parametrize(("text", "named"), REFUSED_EVERYWHERE)
@pytest.mark.parametrize("kind", ["metric", "condition"])
def test_constructs_outside_the_whitelist_are_refused_with_what_is_allowed(
    text: str, named: str, kind: str
) -> None:
    with pytest.raises(SpecError) as caught:
        parse(text, path="rules/foundry.yaml", line=7, kind=kind)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith("rules/foundry.yaml:7: ")
    assert named in message
    assert f"a {kind} may use" in message


REFUSED_IN_METRICS = [
    ("min(x)", "takes two or more"),
    ("max()", "takes two or more"),
    ("rank_pct(x, y)", "takes exactly one"),
    ("rank_pct(x, how=district)", "keyword argument how="),
    ("rank_pct(x, by='district')", "anything but a field name"),
    ("min(x, y, key=z)", "keyword argument key="),
    ("min(*xs)", "starred"),
    ("rank_pct(x, **kw)", "keyword argument **"),
    ("abs(x)", "calling abs()"),
    ("x.y(1)", "calling x.y()"),
]


@pytest.mark.parametrize(("text", "named"), REFUSED_IN_METRICS)
def test_calls_are_limited_to_min_max_and_rank_pct(text: str, named: str) -> None:
    with pytest.raises(SpecError) as caught:
        metric(text)
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("a + 1 > 2", "arithmetic (+) in a condition"),
        ("a / b > 2", "arithmetic (/) in a condition"),
        ("-a > 2", "arithmetic (unary -) in a condition"),
        ("min(a, b) > 2", "min() in a condition"),
        ("rank_pct(a) > 50", "rank_pct() in a condition"),
        ("limit[product] > 2", "table look-ups"),
    ],
)
def test_conditions_refuse_arithmetic_calls_and_lookups(text: str, named: str) -> None:
    with pytest.raises(SpecError) as caught:
        cond(text)
    assert named in str(caught.value)
    assert "compute it in a metric" in str(caught.value)
    metric(text)  # the same text is a valid (boolean) metric


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("x > > 3", 5),  # the second '>' is column 5 (1-based)
        ("x >", 4),  # at the end of the text
        ("(x > 3", 1),  # the unclosed bracket
    ],
)
def test_syntax_errors_name_the_column(text: str, column: int) -> None:
    with pytest.raises(SpecError) as caught:
        cond(text)
    assert str(caught.value).startswith(f"rules/foundry.yaml:7: syntax error at column {column}:")


def test_limits_are_enforced_before_parsing() -> None:
    with pytest.raises(SpecError, match=f"at most {MAX_TEXT} allowed"):
        cond("x > 1 and " * 300 + "x > 1")
    with pytest.raises(SpecError, match="brackets nested more than"):
        metric("(" * 40 + "x" + ")" * 40)
    with pytest.raises(SpecError, match="at most 500 allowed"):
        cond(" and ".join(["a>1"] * 200))  # 200 × (Compare, Name, Constant) + BoolOp
    with pytest.raises(SpecError, match="at most 500 allowed"):
        metric("-" * 1000 + "x")
    with pytest.raises(SpecError, match="nested more than"):
        cond("not " * 100 + "x")
    with pytest.raises(SpecError, match="empty expression"):
        cond("   ")
    with pytest.raises(SpecError, match="expected an expression as text"):
        cond(5)  # type: ignore[arg-type]


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    assert cond("s == '" + "(" * 40 + "'") == Compare(Name("s"), ("==",), (Str("(" * 40),))


def test_names_lists_what_an_expression_reads_in_first_appearance_order() -> None:
    assert names(metric("rank_pct(b + a, by=district) / t[product] + b")) == (
        "b",
        "a",
        "district",
        "product",
    )


# ---------------------------------------------------------------- fuzzing hostile text


class _NoExecution:
    """Fails the test if parsing ever evaluates, executes or compiles anything but an AST."""

    def __enter__(self) -> _NoExecution:
        self.saved = (builtins.eval, builtins.exec, builtins.compile)
        real_compile = builtins.compile

        def only_ast(source, filename, mode, flags=0, *args, **kwargs):  # noqa: ANN001
            assert flags & ast.PyCF_ONLY_AST, "compiled to code, not just to a syntax tree"
            return real_compile(source, filename, mode, flags, *args, **kwargs)

        def refuse(*_args: object, **_kwargs: object) -> None:
            raise AssertionError("expression text was evaluated")

        builtins.eval, builtins.exec, builtins.compile = refuse, refuse, only_ast
        return self

    def __exit__(self, *exc: object) -> None:
        builtins.eval, builtins.exec, builtins.compile = self.saved


def _parse_any(text: str) -> None:
    for kind in ("metric", "condition"):
        try:
            tree = parse(text, path="p.yaml", line=1, kind=kind)  # type: ignore[arg-type]
        except SpecError as err:
            assert str(err).startswith("p.yaml:1: ")
        else:
            assert isinstance(
                tree,
                Num | Str | ListLit | Name | Compare | BoolOp | Not | BinOp | Neg | Call | Lookup,
            )


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_gives_a_tree_or_a_spec_error(text: str) -> None:
    with _NoExecution():
        _parse_any(text)


TOKENS = [
    *keyword.kwlist,
    "x",
    "y",
    "min",
    "max",
    "rank_pct",
    "by",
    "__import__",
    "os",
    "system",
    "__class__",
    "__subclasses__",
    "1",
    "0.5",
    "1e9",
    "'a'",
    '"b"',
    "f'{x}'",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ".",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "**",
    "%",
    "//",
    "&",
    "|",
    "^",
    "~",
    "@",
    ":=",
    "*",
    "...",
    ";",
    "\\",
    "#",
    "\n",
    "\x00",
]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=25))
def test_arbitrary_token_sequences_give_a_tree_or_a_spec_error(tokens: list[str]) -> None:
    with _NoExecution():
        _parse_any(" ".join(tokens))


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch /tmp/diffprice-pwned')",
        "().__class__.__bases__[0].__subclasses__()",
        "min(__import__('os'), 1)",
        "[x for x in ().__class__.__mro__]",
        "eval('1')",
        "(lambda: exec('import os'))()",
    ],
)
def test_code_injection_is_refused_and_never_runs(text: str) -> None:
    with _NoExecution(), pytest.raises(SpecError):
        metric(text)
