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


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of a node, left to right."""
    match node:
        case Compare(left=left, comparators=comparators):
            return (left, *comparators)
        case BoolOp(values=values):
            return values
        case Not(operand=operand) | Neg(operand=operand):
            return (operand,)
        case BinOp(left=left, right=right):
            return (left, right)
        case Call(args=args):
            return args
        case Lookup(key=key):
            return (key,)
        case ListLit(items=items):
            return items
    return ()


def walk(node: Node) -> list[Node]:
    """Every node of the tree in source order (pre-order, left to right)."""
    found: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(reversed(children(current)))
    return found


def names(node: Node) -> tuple[str, ...]:
    """The field and metric names an expression reads, in first-appearance order.

    Includes look-up keys and the `by=` field of `rank_pct`, which are read too; table names
    are not names of columns and are left out.
    """
    seen: dict[str, None] = {}
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Name):
            seen.setdefault(current.id)
        following = children(current)
        if isinstance(current, Call) and current.by is not None:
            following = (*following, Name(current.by))
        stack.extend(reversed(following))
    return tuple(seen)
