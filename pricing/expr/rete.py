"""The rete back end: a ``when`` tree → durable_rules JSON ruleset conditions (plain dicts).

SPEC "Rulebooks": a rule holds only when its condition is true, and missing values follow
Kleene logic. durable_rules knows two outcomes, so each condition is compiled twice:
:func:`condition` matches a fact exactly when the condition is TRUE and :func:`negated` exactly
when it is FALSE; a fact that matches neither is UNKNOWN. Negation is pushed down to the
comparisons (De Morgan), because durable's own ``not`` never fires (DURABLE_RULES.md).

Facts carry missing values as absent keys, and every durable comparison — ``$neq`` included —
fails on an absent key, so a comparison is unknown exactly when one of its names is missing.
Booleans travel as the strings ``"true"`` / ``"false"`` (durable treats ``True`` like ``1``).

The result is the value of an ``m`` entry: ``{"all": [{"m": condition(node)}], "run": …}``.
Nothing here imports durable_rules.
"""

from __future__ import annotations

import math
from typing import Any

from pricing.expr.nodes import BoolOp, Compare, CompareOp, ListLit, Name, Node, Not, Num, Str

_DURABLE_OP: dict[CompareOp, str] = {
    "<": "$lt",
    "<=": "$lte",
    ">": "$gt",
    ">=": "$gte",
    "==": "$eq",
    "!=": "$neq",
}
_OPPOSITE: dict[CompareOp, CompareOp] = {
    "<": ">=",
    "<=": ">",
    ">": "<=",
    ">=": "<",
    "==": "!=",
    "!=": "==",
    "in": "not in",
    "not in": "in",
}
_MIRRORED: dict[CompareOp, CompareOp] = {
    "<": ">",
    "<=": ">=",
    ">": "<",
    ">=": "<=",
    "==": "==",
    "!=": "!=",
}


def condition(node: Node) -> dict[str, Any]:
    """durable_rules condition that matches a fact exactly when ``node`` is TRUE."""
    return _truth(node, want=True)


def negated(node: Node) -> dict[str, Any]:
    """durable_rules condition that matches a fact exactly when ``node`` is FALSE."""
    return _truth(node, want=False)


def fact_value(value: Any) -> Any:
    """A number or truth value as durable's JSON parser accepts it in a fact or a condition.

    durable refuses exponent notation (``1e-07``, ``1e+16``): integral floats become ints,
    and a number that needs an exponent cannot be compared exactly, so it raises.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"durable_rules cannot hold the number {value!r}")
    if number.is_integer():
        return int(number)
    if "e" in repr(number):
        raise ValueError(f"durable_rules cannot hold {number!r} (exponent notation)")
    return number


def _truth(node: Node, *, want: bool) -> dict[str, Any]:
    match node:
        case Name(id=name):
            return {"$and": [{"$ex": {name: 1}}, {"$eq": {name: "true" if want else "false"}}]}
        case Not(operand=operand):
            return _truth(operand, want=not want)
        case BoolOp(op=op, values=values):
            # and: true when all are true, false when any is false; or: the mirror image.
            joiner = "$and" if (op == "and") == want else "$or"
            return _join(joiner, [_truth(v, want=want) for v in values])
        case Compare(left=left, ops=ops, comparators=comparators):
            lefts = (left, *comparators[:-1])
            pairs = [
                _pair(lhs, op if want else _OPPOSITE[op], rhs)
                for lhs, op, rhs in zip(lefts, ops, comparators, strict=True)
            ]
            return _join("$and" if want else "$or", pairs)
    raise ValueError(f"a condition cannot contain {type(node).__name__} (check.py refuses it)")


def _pair(left: Node, op: CompareOp, right: Node) -> dict[str, Any]:
    """One comparison, guarded by ``$ex`` on each name it reads (absent key = unknown).

    The guard is not redundant: durable matches ``x <= y`` when ``y`` is absent.
    """
    read = dict.fromkeys(n.id for n in (left, right) if isinstance(n, Name))
    present = [{"$ex": {name: 1}} for name in read]
    if op in ("in", "not in"):
        if not isinstance(left, Name) or not isinstance(right, ListLit) or not right.items:
            raise ValueError("'in' needs a name on the left and a non-empty list on the right")
        if op == "in":
            equal_any = _join("$or", [_test(left, "==", item) for item in right.items])
            return _join("$and", [*present, equal_any])
        return _join("$and", [*present, *(_test(left, "!=", item) for item in right.items)])
    return _join("$and", [*present, _test(left, op, right)])


def _test(left: Node, op: CompareOp, right: Node) -> dict[str, Any]:
    """The bare durable comparison, with a name on its left side."""
    if not isinstance(left, Name):
        if not isinstance(right, Name):
            raise ValueError("a comparison needs a name on one side (check.py refuses it)")
        left, op, right = right, _MIRRORED[op], left
    assert isinstance(left, Name)
    if isinstance(right, Name):
        return {_DURABLE_OP[op]: {left.id: {"$m": right.id}}}
    if isinstance(right, Num | Str):
        return {_DURABLE_OP[op]: {left.id: fact_value(right.value)}}
    raise ValueError(f"cannot compare with {type(right).__name__} in a condition")


def _join(joiner: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """``$and`` / ``$or`` of the parts: nested joins of the same kind flattened, repeats dropped."""
    flat: list[dict[str, Any]] = []
    for part in parts:
        for piece in part[joiner] if set(part) == {joiner} else [part]:
            if piece not in flat:
                flat.append(piece)
    return flat[0] if len(flat) == 1 else {joiner: flat}
