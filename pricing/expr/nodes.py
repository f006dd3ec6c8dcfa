"""The expression tree shared by the parser, the type checker and both back ends.

One tree, several consumers (SPEC "Expressions"): nothing else in the project interprets
rule text. Nodes are frozen so a compiled rulebook can be cached and hashed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Union

CompareOp = Literal["<", "<=", ">", ">=", "==", "!=", "in", "not in"]
ArithOp = Literal["+", "-", "*", "/"]


@dataclass(frozen=True)
class Num:
    value: Decimal


@dataclass(frozen=True)
class Str:
    value: str


@dataclass(frozen=True)
class ListLit:
    """A literal list, only as the right side of `in` / `not in`."""

    items: tuple[Num | Str, ...]


@dataclass(frozen=True)
class Name:
    """A declared field or a metric."""

    id: str


@dataclass(frozen=True)
class Compare:
    """`a < b <= c` is one node: ops and comparators pair up left to right."""

    left: Node
    ops: tuple[CompareOp, ...]
    comparators: tuple[Node, ...]


@dataclass(frozen=True)
class BoolOp:
    op: Literal["and", "or"]
    values: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BinOp:
    op: ArithOp
    left: Node
    right: Node


@dataclass(frozen=True)
class Neg:
    operand: Node


@dataclass(frozen=True)
class Call:
    """`min(a, b, …)`, `max(a, b, …)`, `rank_pct(x)` or `rank_pct(x, by=district)`."""

    func: Literal["min", "max", "rank_pct"]
    args: tuple[Node, ...]
    by: str | None = None


@dataclass(frozen=True)
class Lookup:
    """`table[field]`: a key missing from the table gives a missing value."""

    table: str
    key: Node


Node = Union[Num, Str, ListLit, Name, Compare, BoolOp, Not, BinOp, Neg, Call, Lookup]  # noqa: UP007
