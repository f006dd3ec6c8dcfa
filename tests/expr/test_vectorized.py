"""The vectorized back end: Kleene logic against a tiny three-valued reference, golden metrics."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.expr.nodes import BoolOp, Compare, ListLit, Name, Node, Not, Num, Str
from pricing.expr.parse import parse
from pricing.expr.vectorized import evaluate


def metric(text: str, frame: pd.DataFrame, tables: dict[str, Any] | None = None) -> list[Any]:
    node = parse(text, path="t.yaml", line=1, kind="metric")
    return _plain(evaluate(node, frame, tables or {}))


def condition(text: str, frame: pd.DataFrame) -> list[Any]:
    result = evaluate(parse(text, path="t.yaml", line=1, kind="condition"), frame, {})
    assert result.dtype == "boolean"
    return _plain(result)


def _plain(series: pd.Series) -> list[Any]:
    return [None if v is pd.NA else (v.item() if hasattr(v, "item") else v) for v in series]


FRAME = pd.DataFrame(
    {
        "x": pd.array([1.0, None, 3.0, 0.0, 5.0], dtype="Float64"),
        "y": pd.array([0.0, 2.0, None, 0.0, 1.0], dtype="Float64"),
        "product": pd.array(["iron", None, "steel", "brass", "iron"], dtype="string"),
        "flag": pd.array([True, None, False, True, None], dtype="boolean"),
        "district": pd.array(["330212", "330212", "330203", "330203", None], dtype="string"),
    },
    index=[10, 11, 12, 13, 14],
)


def test_division_by_zero_and_missing_give_missing() -> None:
    # rows: 1/0, NA/2, 3/NA, 0/0, 5/1
    assert metric("x / y", FRAME) == [None, None, None, None, 5.0]


def test_arithmetic_keeps_missing_and_follows_precedence() -> None:
    # -x + y * 2: -1+0, NA, NA, 0+0, -5+2
    assert metric("-x + y * 2", FRAME) == [-1.0, None, None, 0.0, -3.0]


def test_min_and_max_of_a_missing_argument_are_missing() -> None:
    assert metric("min(x, y, 4)", FRAME) == [0.0, None, None, 0.0, 1.0]
    assert metric("max(x, y)", FRAME) == [1.0, None, None, 0.0, 5.0]


def test_rank_pct_is_the_share_of_the_scope_at_or_below_the_value() -> None:
    # x over non-missing rows = [1, 3, 0, 5] (4 values): 1 → 2/4, 3 → 3/4, 0 → 1/4, 5 → 4/4
    assert metric("rank_pct(x)", FRAME) == [50.0, None, 75.0, 25.0, 100.0]
    ties = pd.DataFrame({"v": pd.array([2.0, 2.0, 1.0], dtype="Float64")})
    assert metric("rank_pct(v)", ties) == [100.0, 100.0, 100.0 / 3]  # ties take the max rank


def test_rank_pct_by_district_ranks_within_each_district() -> None:
    # 330212: x = 1, NA → 1 is 1/1; 330203: x = 3, 0 → 3 is 2/2, 0 is 1/2; no district → NA
    assert metric("rank_pct(x, by=district)", FRAME) == [100.0, None, 100.0, 50.0, None]


def test_rank_pct_by_reads_the_group_from_the_group_frame() -> None:
    groups = FRAME[["district"]]
    result = evaluate(
        parse("rank_pct(x, by=district)", path="t", line=1, kind="metric"),
        FRAME[["x"]],
        {},
        group_frame=groups,
    )
    assert _plain(result) == [100.0, None, 100.0, 50.0, None]


def test_table_lookup_missing_or_unknown_key_gives_missing() -> None:
    tables = {"limit": {"iron": Decimal("550"), "steel": Decimal("700.5")}}
    # iron, NA key, steel, brass (not in table), iron
    assert metric("limit[product]", FRAME, tables) == [550.0, None, 700.5, None, 550.0]
    labels = {"label": {"iron": "Fe"}}
    result = evaluate(parse("label[product]", path="t", line=1, kind="metric"), FRAME, labels)
    assert result.dtype == "string"
    assert _plain(result) == ["Fe", None, None, None, "Fe"]


def test_results_keep_the_frame_index_and_nullable_dtypes() -> None:
    number = evaluate(parse("x + 1", path="t", line=1, kind="metric"), FRAME, {})
    assert number.dtype == "Float64"
    assert list(number.index) == [10, 11, 12, 13, 14]
    constant = evaluate(parse("7", path="t", line=1, kind="metric"), FRAME, {})
    assert _plain(constant) == [7.0] * 5


def test_chained_comparison_is_a_kleene_and_of_its_pairs() -> None:
    # 0 < x <= 3 on x = 1, NA, 3, 0, 5
    assert condition("0 < x <= 3", FRAME) == [True, None, True, False, False]
    # y < x < 4 on (y, x) = (0,1), (2,NA), (NA,3), (0,0), (1,5): (NA,3) → unknown and true
    assert condition("y < x < 4", FRAME) == [True, None, None, False, False]
    # a false pair makes the chain false even when another pair is unknown: x=0 → 1 < 0 false
    assert condition("1 < x < y", FRAME) == [False, None, None, False, False]


def test_membership_with_a_missing_value_is_unknown() -> None:
    assert condition("product in ['iron', 'brass']", FRAME) == [True, None, False, True, True]
    assert condition("product not in ['iron']", FRAME) == [False, None, True, True, False]
    assert condition("x in [0, 5]", FRAME) == [False, None, False, True, True]


def test_a_boolean_field_alone_is_a_condition() -> None:
    assert condition("flag", FRAME) == [True, None, False, True, None]
    assert condition("not flag", FRAME) == [False, None, True, False, None]
    assert condition("flag == flag", FRAME) == [True, None, True, True, None]


def test_numeric_columns_stored_as_plain_floats_use_nan_as_missing() -> None:
    frame = pd.DataFrame({"x": [1.0, np.nan], "b": [True, False]})
    assert condition("x > 0", frame) == [True, None]
    assert condition("b", frame) == [True, False]


# ------------------------------------------------------------- Kleene property test

# A pure-Python three-valued reference: None is unknown.


def _ref_compare(op: str, a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    return {
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
        "==": a == b,
        "!=": a != b,
    }[op]


def reference(node: Node, row: dict[str, Any]) -> Any:
    if isinstance(node, Num):
        return float(node.value)
    if isinstance(node, Str):
        return node.value
    if isinstance(node, Name):
        return row[node.id]
    if isinstance(node, Not):
        inner = reference(node.operand, row)
        return None if inner is None else not inner
    if isinstance(node, BoolOp):
        values = [reference(v, row) for v in node.values]
        if node.op == "and":
            return False if False in values else (None if None in values else True)
        return True if True in values else (None if None in values else False)
    assert isinstance(node, Compare)
    results = []
    left = reference(node.left, row)
    for op, comparator in zip(node.ops, node.comparators, strict=True):
        if op in ("in", "not in"):
            assert isinstance(comparator, ListLit)
            items = [reference(i, row) for i in comparator.items]
            found = None if left is None else (left in items) == (op == "in")
            results.append(found)
            continue
        right = reference(comparator, row)
        results.append(_ref_compare(op, left, right))
        left = right
    return False if False in results else (None if None in results else True)


NUMBERS = ["x", "y"]
VALUES = [0, 1, 2]


def _comparison() -> st.SearchStrategy[str]:
    number = st.sampled_from(NUMBERS + [str(v) for v in VALUES])
    op = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
    chain = st.tuples(
        st.sampled_from(NUMBERS), st.lists(st.tuples(op, number), min_size=1, max_size=2)
    )
    chained = chain.map(lambda c: c[0] + "".join(f" {o} {v}" for o, v in c[1]))
    listed = st.tuples(
        st.sampled_from(NUMBERS),
        st.sampled_from(["in", "not in"]),
        st.lists(st.sampled_from(VALUES), min_size=1, max_size=3),
    ).map(lambda c: f"{c[0]} {c[1]} {c[2]}")
    text = st.tuples(
        st.just("s"), st.sampled_from(["==", "!="]), st.sampled_from(["'a'", "'b'"])
    ).map(" ".join)
    return st.one_of(chained, listed, text, st.just("b"))


CONDITIONS = st.recursive(
    _comparison(),
    lambda inner: st.one_of(
        inner.map(lambda c: f"not ({c})"),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"
        ),
    ),
    max_leaves=6,
)
ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "x": st.one_of(st.none(), st.sampled_from([0.0, 1.0, 2.0, 1.5])),
            "y": st.one_of(st.none(), st.sampled_from([0.0, 1.0, 2.0])),
            "s": st.one_of(st.none(), st.sampled_from(["a", "b", "c"])),
            "b": st.one_of(st.none(), st.booleans()),
        }
    ),
    min_size=1,
    max_size=12,
)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": pd.array([r["x"] for r in rows], dtype="Float64"),
            "y": pd.array([r["y"] for r in rows], dtype="Float64"),
            "s": pd.array([r["s"] for r in rows], dtype="string"),
            "b": pd.array([r["b"] for r in rows], dtype="boolean"),
        }
    )


@settings(max_examples=300, deadline=None)
@given(CONDITIONS, ROWS)
def test_conditions_follow_kleene_logic_like_the_reference(text: str, rows: list) -> None:
    node = parse(text, path="t.yaml", line=1, kind="condition")
    expected = [reference(node, row) for row in rows]
    assert condition(text, _frame(rows)) == expected


def test_kleene_truth_tables_for_and_or_not() -> None:
    # every pair of (true, false, unknown) for p and q, built from b and a flag g
    values = [True, False, None]
    pairs = [(p, q) for p in values for q in values]
    frame = pd.DataFrame(
        {
            "p": pd.array([p for p, _ in pairs], dtype="boolean"),
            "q": pd.array([q for _, q in pairs], dtype="boolean"),
        }
    )
    and_table = [False if False in (p, q) else (None if None in (p, q) else True) for p, q in pairs]
    or_table = [True if True in (p, q) else (None if None in (p, q) else False) for p, q in pairs]
    assert condition("p and q", frame) == and_table
    assert condition("p or q", frame) == or_table
    assert condition("not p", frame) == [None if p is None else not p for p, _ in pairs]
    # SPEC's own examples: true or unknown = true; false and unknown = false
    assert and_table[values.index(False) * 3 + 2] is False
    assert or_table[values.index(True) * 3 + 2] is True


def test_twenty_rules_over_100k_rows_take_well_under_a_second() -> None:
    rng = np.random.default_rng(7)
    rows = 100_000
    frame = pd.DataFrame(
        {
            "x": pd.array(
                np.where(rng.random(rows) < 0.1, np.nan, rng.random(rows) * 1000), dtype="Float64"
            ),
            "y": pd.array(rng.random(rows) * 1000, dtype="Float64"),
            "s": pd.array(rng.choice(["a", "b", "c"], rows), dtype="string"),
        }
    )
    texts = [f"(x > {i * 40} and s in ['a', 'b']) or {i} < y <= x" for i in range(20)]
    nodes = [parse(t, path="t", line=1, kind="condition") for t in texts]
    start = time.perf_counter()
    results = [evaluate(node, frame, {}) for node in nodes]
    elapsed = time.perf_counter() - start
    assert all(len(r) == rows for r in results)
    assert elapsed < 1.0, f"{elapsed:.3f}s"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from([-1.5, 0.0, 0.5, 2.0, 2.0, 7.0])),
            st.one_of(st.none(), st.sampled_from(["330212", "330203", "330281"])),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_rank_pct_is_the_share_of_the_group_at_or_below_each_value(rows: list) -> None:
    """Straight from the definition (SPEC "Rulebooks"), one row at a time in plain Python."""
    frame = pd.DataFrame(
        {
            "x": pd.array([x for x, _ in rows], dtype="Float64"),
            "district": pd.array([d for _, d in rows], dtype="string"),
        }
    )

    def share(x: float | None, peers: list[float | None]) -> float | None:
        known = [p for p in peers if p is not None]
        return None if x is None else 100.0 * sum(p <= x for p in known) / len(known)

    overall = [share(x, [p for p, _ in rows]) for x, _ in rows]
    by_district = [None if d is None else share(x, [p for p, e in rows if e == d]) for x, d in rows]
    assert metric("rank_pct(x)", frame) == pytest.approx(overall)
    assert metric("rank_pct(x, by=district)", frame) == pytest.approx(by_district)


def test_text_comparisons_are_unknown_when_the_text_is_missing() -> None:
    # product: iron, NA, steel, brass, iron
    assert condition("product == 'iron'", FRAME) == [True, None, False, False, True]
    assert condition("'iron' != product", FRAME) == [False, None, True, True, False]
    assert condition("product not in ['iron', 'brass']", FRAME) == [False, None, True, False, False]
    assert condition("product == district", FRAME) == [False, None, False, False, None]
