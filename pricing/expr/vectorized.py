"""The vectorized back end: one expression evaluated over a whole frame at once.

SPEC "Rulebooks": missing values follow three-valued (Kleene) logic — a comparison with a
missing value is unknown, ``true or unknown`` is true, ``false and unknown`` is false — and
division by zero gives a missing value. The tree is walked once per expression, never per row.

Inside, numbers are float64 arrays with NaN for missing (metrics classify, they are never
money; design.md "Numbers and money"), truth values are pandas ``BooleanArray`` (whose ``&``,
``|`` and ``~`` are Kleene), and text is a pandas ``string`` Series or a constant ``str``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import infer_dtype, is_bool_dtype, is_numeric_dtype

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

Value = np.ndarray | pd.arrays.BooleanArray | pd.Series | str

_NUMBER_COMPARE = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def evaluate(
    node: Node,
    frame: pd.DataFrame,
    tables: Mapping[str, Mapping[str, Any]],
    *,
    group_frame: pd.DataFrame | None = None,
) -> pd.Series:
    """Evaluate ``node`` on every row of ``frame`` (its columns: fields and earlier metrics).

    Returns ``Float64`` for numbers, ``string`` for text and nullable ``boolean`` for
    conditions, indexed like ``frame``. ``rank_pct`` ranks within ``frame`` (the rulebook's
    scope); its ``by=`` column is read from ``frame`` or, when absent there, ``group_frame``.
    """
    result = _Evaluator(frame, tables, group_frame).value(node)
    index = frame.index
    if isinstance(result, np.ndarray):
        return pd.Series(pd.array(result, dtype="Float64"), index=index)
    if isinstance(result, pd.arrays.BooleanArray):
        return pd.Series(result, index=index)
    if isinstance(result, str):
        return pd.Series(result, index=index, dtype="string")
    return pd.Series(result.array, index=index, dtype="string")


class _Evaluator:
    def __init__(
        self,
        frame: pd.DataFrame,
        tables: Mapping[str, Mapping[str, Any]],
        group_frame: pd.DataFrame | None,
    ) -> None:
        self.frame = frame
        self.tables = tables
        self.group_frame = group_frame
        self.rows = len(frame)

    def value(self, node: Node) -> Value:
        match node:
            case Num(value=number):
                return np.full(self.rows, float(number))
            case Str(value=text):
                return text
            case Name(id=name):
                return self.column(name)
            case Compare(left=left, ops=ops, comparators=comparators):
                return self.chain(left, ops, comparators)
            case BoolOp(op="and", values=values):
                return _all(self.truth(v) for v in values)
            case BoolOp(op="or", values=values):
                return _any(self.truth(v) for v in values)
            case Not(operand=operand):
                return ~self.truth(operand)
            case BinOp(op=op, left=left, right=right):
                return _arithmetic(op, self.number(left), self.number(right))
            case Neg(operand=operand):
                return -self.number(operand)
            case Call(func="min", args=args):
                return np.minimum.reduce([self.number(a) for a in args])  # NaN propagates
            case Call(func="max", args=args):
                return np.maximum.reduce([self.number(a) for a in args])
            case Call(func="rank_pct", args=(arg,), by=by):
                return self.rank_pct(self.number(arg), by)
            case Lookup(table=table, key=key):
                return self.lookup(table, key)
        raise TypeError(f"cannot evaluate {node!r}")

    def number(self, node: Node) -> np.ndarray:
        found = self.value(node)
        if not isinstance(found, np.ndarray):
            raise TypeError(f"expected a number from {node!r}")
        return found

    def truth(self, node: Node) -> pd.arrays.BooleanArray:
        found = self.value(node)
        if not isinstance(found, pd.arrays.BooleanArray):
            raise TypeError(f"expected true/false from {node!r}")
        return found

    def column(self, name: str) -> Value:
        """A frame column in the internal representation of its type."""
        column = self.frame[name]
        if isinstance(column.dtype, pd.BooleanDtype) or is_bool_dtype(column.dtype):
            return pd.array(column, dtype="boolean")
        if is_numeric_dtype(column.dtype):
            return column.to_numpy(dtype="float64", na_value=np.nan)
        if column.dtype == object and infer_dtype(column, skipna=True) == "boolean":
            return pd.array(column, dtype="boolean")
        return column.astype("string").reset_index(drop=True)

    def chain(
        self, left: Node, ops: tuple[CompareOp, ...], comparators: tuple[Node, ...]
    ) -> pd.arrays.BooleanArray:
        """``a < b <= c`` is ``(a < b) and (b <= c)`` in Kleene logic (SPEC)."""
        left_value = self.value(left)
        parts = []
        for op, right in zip(ops, comparators, strict=True):
            if op in ("in", "not in"):
                assert isinstance(right, ListLit)
                parts.append(_membership(left_value, right, negate=op == "not in"))
                continue  # a list never continues a chain (check.py refuses it)
            right_value = self.value(right)
            parts.append(_compare(op, left_value, right_value, self.rows))
            left_value = right_value
        return _all(parts)

    def rank_pct(self, values: np.ndarray, by: str | None) -> np.ndarray:
        """Share (0–100) of the scope, or of the row's ``by`` group, with a value ≤ this one."""
        if by is None:
            return _rank_pct(values, np.zeros(self.rows, dtype=np.int64))
        source = self.frame
        if by not in source.columns and self.group_frame is not None:
            source = self.group_frame  # same rows, same order as ``frame``
        groups, _ = pd.factorize(source[by].astype("string"), use_na_sentinel=True)
        return _rank_pct(values, np.asarray(groups, dtype=np.int64))

    def lookup(self, table: str, key: Node) -> Value:
        """``table[field]``: a missing key, or one not in the table, gives a missing value."""
        keys = self.value(key)
        entries = self.tables[table]
        if isinstance(keys, str):
            keys = pd.Series([keys] * self.rows, dtype="string")
        if not isinstance(keys, pd.Series):
            raise TypeError(f"table {table} needs a text key")
        positions = pc.index_in(_arrow(keys), value_set=pa.array(list(entries), pa.string()))
        if all(isinstance(v, str) for v in entries.values()):
            taken = pc.take(pa.array(list(entries.values()), pa.string()), positions)
            return pd.Series(pd.array(taken, dtype="string"))
        numbers = np.array([float(v) for v in entries.values()] + [np.nan])
        absent = len(entries)  # the NaN appended above
        return numbers[pc.fill_null(positions, absent).to_numpy(zero_copy_only=False)]


def _rank_pct(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``100 × rank(method="max") / count`` within each group (code −1 or a missing value → NaN).

    One sort by group, then value (a value sort made stable by group); in that order each run
    of equal values ends at the count of values ≤ it, less the rows of earlier groups.
    """
    result = np.full(values.shape, np.nan)
    known = ~np.isnan(values) & (groups >= 0)
    if not known.any():
        return result
    value, group = values[known], groups[known]
    by_value = np.argsort(value)
    grouped = group[by_value]
    if grouped.max() < np.iinfo(np.int16).max:  # a stable sort of 16-bit keys is a radix sort
        grouped = grouped.astype(np.int16)
    order = by_value[np.argsort(grouped, kind="stable")]
    sorted_value, sorted_group = value[order], group[order]
    run_ends = np.empty(len(order), dtype=bool)
    run_ends[-1] = True
    run_ends[:-1] = ((sorted_group[1:] != sorted_group[:-1])
                     | (sorted_value[1:] != sorted_value[:-1]))
    run = np.cumsum(run_ends) - run_ends
    counts = np.bincount(sorted_group)
    earlier = np.cumsum(counts) - counts
    at_or_below = np.flatnonzero(run_ends)[run] + 1 - earlier[sorted_group]
    ranked = np.empty(len(order))
    ranked[order] = 100.0 * at_or_below / counts[sorted_group]
    result[known] = ranked
    return result


def _arithmetic(op: str, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``+ - * /`` with a missing result wherever the float result is not finite (x / 0)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if op == "+":
            result = left + right
        elif op == "-":
            result = left - right
        elif op == "*":
            result = left * right
        else:
            result = left / right
    result[~np.isfinite(result)] = np.nan
    return result


def _compare(op: CompareOp, left: Value, right: Value, rows: int) -> pd.arrays.BooleanArray:
    if isinstance(left, np.ndarray) and isinstance(right, np.ndarray):
        with np.errstate(invalid="ignore"):
            values = _NUMBER_COMPARE[op](left, right)
        return pd.arrays.BooleanArray(values, np.isnan(left) | np.isnan(right))
    if isinstance(left, pd.arrays.BooleanArray) and isinstance(right, pd.arrays.BooleanArray):
        result = left == right if op == "==" else left != right
        return pd.array(result, dtype="boolean")
    if isinstance(left, str) and isinstance(right, str):
        same = left == right if op == "==" else left != right
        return pd.array(np.full(rows, same), dtype="boolean")
    if isinstance(left, str):
        left, right = right, left
    other = right if isinstance(right, str) else _arrow(right)
    same = pc.equal(_arrow(left), other) if op == "==" else pc.not_equal(_arrow(left), other)
    return _from_arrow(same)


def _membership(left: Value, items: ListLit, *, negate: bool) -> pd.arrays.BooleanArray:
    """``x in [..]``: unknown when x is missing, like any comparison with a missing value."""
    if isinstance(left, np.ndarray):
        wanted = [float(item.value) for item in items.items]
        values = np.isin(left, wanted)
        missing = np.isnan(left)
    else:
        series = pd.Series([left], dtype="string") if isinstance(left, str) else left
        text = _arrow(series)
        wanted_text = pa.array([str(item.value) for item in items.items], pa.string())
        values = pc.is_in(text, value_set=wanted_text).to_numpy(zero_copy_only=False)
        missing = pc.is_null(text).to_numpy(zero_copy_only=False)
    if negate:
        values = ~values
    return pd.arrays.BooleanArray(values, missing)


def _arrow(text: pd.Series) -> pa.Array:
    """A text column as one pyarrow array (zero-copy for pyarrow-backed ``string``)."""
    found = pa.array(text.astype("string").array)
    if isinstance(found, pa.ChunkedArray):
        found = found.combine_chunks()
    return found.cast(pa.string())


def _from_arrow(truth: pa.Array) -> pd.arrays.BooleanArray:
    """pyarrow's comparison result (null = unknown) as a Kleene ``BooleanArray``."""
    values = pc.fill_null(truth, False).to_numpy(zero_copy_only=False)
    missing = pc.is_null(truth).to_numpy(zero_copy_only=False)
    return pd.arrays.BooleanArray(values, missing)


def _all(parts: Any) -> pd.arrays.BooleanArray:
    parts = list(parts)
    result = parts[0]
    for part in parts[1:]:
        result = result & part
    return result


def _any(parts: Any) -> pd.arrays.BooleanArray:
    parts = list(parts)
    result = parts[0]
    for part in parts[1:]:
        result = result | part
    return result
