"""Rule text → expression tree, through Python's own parser and a strict whitelist.

SPEC "Rulebooks": expressions are a small, safe language — parsed and checked, never
evaluated. ``ast.parse`` only builds a syntax tree; nothing here compiles or runs it. Every
Python construct outside the whitelist is refused with a message saying what is allowed.
Conditions (``when``) are narrower than metrics: no arithmetic, calls or look-ups, so the rete
back end can express every condition exactly.
"""

from __future__ import annotations

import ast
from decimal import Decimal, InvalidOperation
from typing import Literal

from pricing.errors import SpecError
from pricing.expr.nodes import (
    BinOp,
    BoolOp,
    Call,
    Compare,
    CompareOp,
    ListLit,
    Lookup,
    Name,
    Neg,
    Node,
    Not,
    Num,
    Str,
)

Kind = Literal["metric", "condition"]

MAX_TEXT = 2_000
MAX_NODES = 500
MAX_DEPTH = 64
MAX_BRACKETS = 32
LARGEST_NUMBER = Decimal("1e15")

CONDITION_ALLOWED = (
    "a condition may use names, numbers, 'strings', [lists] after in / not in, "
    "< <= > >= == != (chained), in, not in, and, or, not and parentheses"
)
METRIC_ALLOWED = (
    "a metric may use names, numbers, 'strings', + - * /, unary -, min(a, b, ...), "
    "max(a, b, ...), table[field], rank_pct(x), rank_pct(x, by=field), comparisons, "
    "in / not in, and, or, not and parentheses"
)

_COMPARE_OPS: dict[type[ast.cmpop], CompareOp] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
}
_OPERATOR_NODES = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)
_ARITH_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}

# What a refused construct is called in messages; anything else falls back to its class name.
_DESCRIBE: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access (a.b)",
    ast.Subscript: "subscripts other than table[field]",
    ast.Lambda: "lambda",
    ast.IfExp: "conditional expressions (a if b else c)",
    ast.Dict: "dict literals",
    ast.Set: "set literals",
    ast.Tuple: "tuples",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.JoinedStr: "f-strings",
    ast.FormattedValue: "f-strings",
    ast.NamedExpr: "assignment expressions (:=)",
    ast.Starred: "starred arguments (*x)",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "slices",
    ast.Is: "'is'",
    ast.IsNot: "'is not'",
    ast.Pow: "'**'",
    ast.Mod: "'%'",
    ast.FloorDiv: "'//'",
    ast.MatMult: "'@'",
    ast.BitAnd: "bitwise '&'",
    ast.BitOr: "bitwise '|'",
    ast.BitXor: "bitwise '^'",
    ast.LShift: "'<<'",
    ast.RShift: "'>>'",
    ast.Invert: "bitwise '~'",
    ast.UAdd: "unary '+'",
}


class _Refused(Exception):
    """A construct outside the whitelist; turned into a SpecError by :func:`parse`."""


def parse(text: str, *, path: str, line: int, kind: Kind) -> Node:
    """Parse one metric or ``when`` text into the shared tree, or raise ``SpecError``.

    Limits (text length, bracket nesting, node count, depth) are checked so that hostile
    text cannot exhaust the parser; numbers keep their exact source text as ``Decimal``.
    """
    if not isinstance(text, str):
        raise SpecError(path, line, f"expected an expression as text, found {text!r}")
    if len(text) > MAX_TEXT:
        raise SpecError(
            path, line, f"expression is {len(text)} characters long; at most {MAX_TEXT} allowed"
        )
    source, comment = _one_line(text)
    if comment is not None:
        raise SpecError(
            path,
            line,
            f"'#' at column {comment + 1} is not allowed (comments are not part of "
            "an expression; put them in YAML outside the quotes)",
        )
    if not source:
        raise SpecError(path, line, "empty expression")
    if _bracket_depth(source) > MAX_BRACKETS:
        raise SpecError(path, line, f"brackets nested more than {MAX_BRACKETS} deep")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        column = min(err.offset or len(source) + 1, len(source) + 1)  # 0 means "at the end"
        message = f"syntax error at column {column}: {err.msg} in {source!r}"
        raise SpecError(path, line, message) from None
    except (RecursionError, MemoryError, ValueError) as err:
        raise SpecError(path, line, f"expression cannot be parsed: {type(err).__name__}") from None
    count = sum(1 for n in ast.walk(tree) if not isinstance(n, _OPERATOR_NODES))
    if count > MAX_NODES:
        raise SpecError(path, line, f"expression has {count} parts; at most {MAX_NODES} allowed")
    try:
        return _Translator(source, kind).node(tree.body, 0)
    except _Refused as err:
        allowed = CONDITION_ALLOWED if kind == "condition" else METRIC_ALLOWED
        raise SpecError(path, line, f"{err} is not allowed; {allowed}") from None
    except RecursionError:
        raise SpecError(path, line, f"expression nested more than {MAX_DEPTH} deep") from None


def _one_line(text: str) -> tuple[str, int | None]:
    """The text on one line, and where a ``#`` outside quotes is, if anywhere.

    YAML block scalars may span lines and eval mode may not: whitespace outside quotes
    (line breaks, tabs, the ideographic space) becomes a plain space, while quoted text is
    kept byte for byte, so ``'a  b'`` stays two spaces. A ``#`` would start a Python comment
    and silently drop the rest of the rule, so its position is returned for refusal.
    """
    chars: list[str] = []
    quote: str | None = None
    escaped = False
    comment: int | None = None
    for char in text.strip():
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char.isspace():
            char = " "
        elif char == "#" and comment is None:
            comment = len(chars)
        chars.append(char)
    return "".join(chars), comment


def _bracket_depth(source: str) -> int:
    """Deepest bracket nesting, ignoring brackets inside quotes (a cheap pre-parse guard)."""
    depth = deepest = 0
    quote: str | None = None
    for char in source:
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


class _Translator:
    """Whitelist translation of one ``ast`` expression; refuses everything not listed."""

    def __init__(self, source: str, kind: Kind) -> None:
        self.source = source
        self.kind = kind

    def node(self, node: ast.expr, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise RecursionError
        depth += 1
        match node:
            case ast.Constant(value=value):
                return self.constant(node, value)
            case ast.Name(id=name):
                return Name(name)
            case ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=int() | float())) if (
                not isinstance(node.operand.value, bool)
            ):
                number = self.constant(node.operand, node.operand.value)
                assert isinstance(number, Num)
                return Num(-number.value)
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                self.metric_only("arithmetic (unary -)")
                return Neg(self.node(operand, depth))
            case ast.UnaryOp(op=ast.Not(), operand=operand):
                return Not(self.node(operand, depth))
            case ast.BoolOp(op=op, values=values):
                word = "and" if isinstance(op, ast.And) else "or"
                return BoolOp(word, tuple(self.node(v, depth) for v in values))
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                return self.compare(left, ops, comparators, depth)
            case ast.BinOp(op=op, left=left, right=right) if type(op) in _ARITH_OPS:
                symbol = _ARITH_OPS[type(op)]
                self.metric_only(f"arithmetic ({symbol})")
                return BinOp(symbol, self.node(left, depth), self.node(right, depth))
            case ast.BinOp(op=op):
                raise _Refused(_DESCRIBE.get(type(op), type(op).__name__))
            case ast.UnaryOp(op=op):
                raise _Refused(_DESCRIBE.get(type(op), type(op).__name__))
            case ast.Call():
                return self.call(node, depth)
            case ast.Subscript(value=ast.Name(id=table), slice=ast.Name(id=key)):
                self.metric_only("table look-ups (table[field])")
                return Lookup(table, Name(key))
            case ast.List():
                raise _Refused("a list outside 'in [...]' / 'not in [...]'")
            case _:
                raise _Refused(_DESCRIBE.get(type(node), type(node).__name__))

    def metric_only(self, what: str) -> None:
        if self.kind == "condition":
            raise _Refused(f"{what} in a condition (compute it in a metric)")

    def constant(self, node: ast.Constant, value: object) -> Node:
        if isinstance(value, str):
            return Str(value)
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise _Refused(f"the constant {value!r}")
        if isinstance(value, int | float):
            text = ast.get_source_segment(self.source, node) or ""
            if text[:2].lower() in ("0x", "0o", "0b"):
                raise _Refused(f"the number {text} (write numbers in decimal)")
            try:
                number = Decimal(text)
            except InvalidOperation:
                raise _Refused(f"the number {text}") from None
            if not number.is_finite() or abs(number) >= LARGEST_NUMBER:
                raise _Refused(f"the number {text} (numbers must be below {LARGEST_NUMBER:,})")
            return Num(number)
        raise _Refused(f"the constant {value!r} ({type(value).__name__})")

    def compare(
        self, left: ast.expr, ops: list[ast.cmpop], comparators: list[ast.expr], depth: int
    ) -> Compare:
        symbols: list[CompareOp] = []
        right: list[Node] = []
        for op, comparator in zip(ops, comparators, strict=True):
            if type(op) not in _COMPARE_OPS:
                raise _Refused(_DESCRIBE.get(type(op), type(op).__name__))
            symbol = _COMPARE_OPS[type(op)]
            symbols.append(symbol)
            if symbol in ("in", "not in") and isinstance(comparator, ast.List):
                right.append(self.list_literal(comparator, depth))
            else:
                right.append(self.node(comparator, depth))
        return Compare(self.node(left, depth), tuple(symbols), tuple(right))

    def list_literal(self, node: ast.List, depth: int) -> ListLit:
        items = [self.node(item, depth) for item in node.elts]
        for item in items:
            if not isinstance(item, Num | Str):
                raise _Refused("a list item that is not a number or a 'string'")
        return ListLit(tuple(items))  # type: ignore[arg-type]

    def call(self, node: ast.Call, depth: int) -> Call:
        if not isinstance(node.func, ast.Name) or node.func.id not in ("min", "max", "rank_pct"):
            called = ast.get_source_segment(self.source, node.func) or "this"
            raise _Refused(f"calling {called}() (only min, max and rank_pct)")
        func = node.func.id
        self.metric_only(f"{func}()")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise _Refused(_DESCRIBE[ast.Starred])
        args = tuple(self.node(a, depth) for a in node.args)
        by: str | None = None
        for keyword in node.keywords:
            if func != "rank_pct" or keyword.arg != "by":
                name = "**" if keyword.arg is None else f"{keyword.arg}="
                raise _Refused(f"the keyword argument {name} to {func}() (only rank_pct(x, by=…))")
            if not isinstance(keyword.value, ast.Name):
                raise _Refused("rank_pct(by=…) with anything but a field name")
            by = keyword.value.id
        if func == "rank_pct" and len(args) != 1:
            raise _Refused(f"rank_pct() with {len(args)} arguments (it takes exactly one)")
        if func in ("min", "max") and len(args) < 2:
            raise _Refused(f"{func}() with {len(args)} argument(s) (it takes two or more)")
        return Call(func, args, by)  # type: ignore[arg-type]
