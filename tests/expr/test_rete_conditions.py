"""Rete conditions: golden JSON, and real durable_rules runs agreeing with the vectorized engine.

For every condition and fact: the fact matches ``condition`` iff the vectorized result is
true, matches ``negated`` iff it is false, and matches neither iff it is unknown.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.expr.parse import parse
from pricing.expr.rete import condition, fact_value, negated
from pricing.expr.vectorized import evaluate

durable_engine = pytest.importorskip("durable.engine")


def when(text: str) -> Any:
    return parse(text, path="t.yaml", line=1, kind="condition")


def ex(name: str) -> dict[str, Any]:
    return {"$ex": {name: 1}}


@pytest.mark.parametrize(
    ("text", "true", "false"),
    [
        ("x > 5", {"$and": [ex("x"), {"$gt": {"x": 5}}]}, {"$and": [ex("x"), {"$lte": {"x": 5}}]}),
        # the constant moves to the right
        ("5 > x", {"$and": [ex("x"), {"$lt": {"x": 5}}]}, {"$and": [ex("x"), {"$gte": {"x": 5}}]}),
        (
            "x == 0.5",
            {"$and": [ex("x"), {"$eq": {"x": 0.5}}]},
            {"$and": [ex("x"), {"$neq": {"x": 0.5}}]},
        ),
        (
            "x < y",
            {"$and": [ex("x"), ex("y"), {"$lt": {"x": {"$m": "y"}}}]},
            {"$and": [ex("x"), ex("y"), {"$gte": {"x": {"$m": "y"}}}]},
        ),
        (
            "flag",
            {"$and": [ex("flag"), {"$eq": {"flag": "true"}}]},
            {"$and": [ex("flag"), {"$eq": {"flag": "false"}}]},
        ),
        (
            "not flag",
            {"$and": [ex("flag"), {"$eq": {"flag": "false"}}]},
            {"$and": [ex("flag"), {"$eq": {"flag": "true"}}]},
        ),
        (
            "600 < x <= 900",  # the repeated $ex guard is dropped
            {"$and": [ex("x"), {"$gt": {"x": 600}}, {"$lte": {"x": 900}}]},
            {
                "$or": [
                    {"$and": [ex("x"), {"$lte": {"x": 600}}]},
                    {"$and": [ex("x"), {"$gt": {"x": 900}}]},
                ]
            },
        ),
        (
            "s in ['a', 'b']",
            {"$and": [ex("s"), {"$or": [{"$eq": {"s": "a"}}, {"$eq": {"s": "b"}}]}]},
            {"$and": [ex("s"), {"$neq": {"s": "a"}}, {"$neq": {"s": "b"}}]},
        ),
        (
            "not (s not in ['a'] or x >= 1)",
            {"$and": [ex("s"), {"$eq": {"s": "a"}}, ex("x"), {"$lt": {"x": 1}}]},
            {
                "$or": [
                    {"$and": [ex("s"), {"$neq": {"s": "a"}}]},
                    {"$and": [ex("x"), {"$gte": {"x": 1}}]},
                ]
            },
        ),
    ],
)
def test_conditions_compile_to_golden_json(text: str, true: dict, false: dict) -> None:
    assert condition(when(text)) == true
    assert negated(when(text)) == false


def test_fact_values_avoid_the_exponent_notation_durable_refuses() -> None:
    assert fact_value(1e16) == 10_000_000_000_000_000  # json would write 1e+16
    assert fact_value(2.0) == 2
    assert fact_value(0.25) == 0.25
    assert fact_value(True) == "true"
    assert fact_value("iron") == "iron"
    with pytest.raises(ValueError, match="exponent"):
        fact_value(1e-7)
    with pytest.raises(ValueError):
        fact_value(float("inf"))


# ------------------------------------------------------------ running durable_rules


class _Host(durable_engine.Host):
    """Every rule's action records that it fired."""

    def __init__(self) -> None:
        super().__init__()
        self.fired: list[str] = []

    def get_action(self, action_name: str) -> Any:
        def record(_closure: Any) -> None:
            self.fired.append(action_name)

        return record


class Durable:
    """Runs one condition at a time through a real durable_rules ruleset."""

    def __init__(self) -> None:
        self.host = _Host()
        self.names = itertools.count()

    def matcher(self, m_condition: dict[str, Any]) -> str:
        name = f"expr-test-{next(self.names)}"
        ruleset = {name: {"r": {"all": [{"m": m_condition}], "run": "hit"}}}
        self.host.set_rulesets(copy.deepcopy(ruleset))  # durable mutates what it is given
        return name

    def matches(self, ruleset: str, fact: dict[str, Any]) -> bool:
        self.host.fired.clear()
        try:
            self.host.post(ruleset, {**fact, "sid": "1", "id": "fact"})
        except durable_engine.MessageNotHandledException:
            return False
        # No delete_state: events do not persist, and deleting a session that never matched
        # crashes durable_rules 2.0.28 (double free). One sid keeps one session per ruleset.
        return self.host.fired == ["hit"]

    def outcomes(self, node: Any, facts: list[dict[str, Any]]) -> list[bool | None]:
        """True / False / None (unknown) for each fact, as seen by durable_rules."""
        true_set, false_set = self.matcher(condition(node)), self.matcher(negated(node))
        found: list[bool | None] = []
        for fact in facts:
            holds, fails = self.matches(true_set, fact), self.matches(false_set, fact)
            assert not (holds and fails), "a fact cannot make a condition both true and false"
            found.append(True if holds else (False if fails else None))
        return found

    def outcome(self, node: Any, fact: dict[str, Any]) -> bool | None:
        return self.outcomes(node, [fact])[0]


@pytest.fixture(scope="module")
def durable() -> Durable:
    return Durable()


def _fact(row: dict[str, Any]) -> dict[str, Any]:
    """Missing values are absent keys; booleans are the strings "true"/"false"."""
    return {key: fact_value(value) for key, value in row.items() if value is not None}


def _vectorized(node: Any, rows: list[dict[str, Any]]) -> list[bool | None]:
    frame = pd.DataFrame(
        {
            "x": pd.array([r.get("x") for r in rows], dtype="Float64"),
            "y": pd.array([r.get("y") for r in rows], dtype="Float64"),
            "s": pd.array([r.get("s") for r in rows], dtype="string"),
            "b": pd.array([r.get("b") for r in rows], dtype="boolean"),
        }
    )
    return [None if v is pd.NA else bool(v) for v in evaluate(node, frame, {})]


ROWS = [
    {"x": 1.0, "y": 2.0, "s": "a", "b": True},
    {"x": None, "y": 2.0, "s": "b", "b": False},
    {"x": 3.0, "y": None, "s": None, "b": None},
    {"x": 0.5, "y": 0.5, "s": "c", "b": True},
    {"x": None, "y": None, "s": None, "b": None},
]


@pytest.mark.parametrize(
    "text",
    [
        "x < y",
        "x != 1",  # $neq on an absent key must not match
        "x != y",
        "s != 'a'",
        "s not in ['a', 'b']",
        "not b",
        "b == b",
        "0 < x <= y",
        "x > 2 or s == 'a'",
        "not (x > 2 and b)",
        "x in [0.5, 3]",
    ],
)
def test_durable_agrees_with_vectorized_on_missing_values(durable: Durable, text: str) -> None:
    node = when(text)
    assert durable.outcomes(node, [_fact(row) for row in ROWS]) == _vectorized(node, ROWS)


def test_missing_key_makes_a_comparison_unknown_in_durable(durable: Durable) -> None:
    assert durable.outcome(when("x != 1"), {}) is None
    assert durable.outcome(when("x != 1"), {"x": 2}) is True
    assert durable.outcome(when("x != 1"), {"x": 1}) is False
    # false and unknown = false; true or unknown = true (SPEC)
    assert durable.outcome(when("x > 5 and y > 5"), {"x": 1}) is False
    assert durable.outcome(when("x > 5 or y > 5"), {"x": 9}) is True


_NAMES = ["x", "y"]
_COMPARISON = st.one_of(
    st.tuples(
        st.sampled_from(_NAMES + ["0", "1", "1.5"]),
        st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
        st.sampled_from(_NAMES),
    ).map(" ".join),
    st.tuples(
        st.sampled_from(_NAMES),
        st.sampled_from(["<", ">=", "=="]),
        st.sampled_from(_NAMES + ["1"]),
        st.sampled_from(["<", "<=", "!="]),
        st.sampled_from(_NAMES + ["2"]),
    )
    .filter(lambda c: c[2] in _NAMES or c[4] in _NAMES)  # check.py refuses `1 < 2`
    .map(" ".join),
    st.tuples(st.sampled_from(["x", "s"]), st.sampled_from(["in", "not in"])).map(
        lambda t: f"{t[0]} {t[1]} " + ("[1, 1.5]" if t[0] == "x" else "['a', 'c']")
    ),
    st.sampled_from(["b", "s == 'a'", "s != 'b'", "b != b"]),
)
_CONDITIONS = st.recursive(
    _COMPARISON,
    lambda inner: st.one_of(
        inner.map(lambda c: f"not ({c})"),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"
        ),
    ),
    max_leaves=4,
)
_ROW = st.fixed_dictionaries(
    {
        "x": st.one_of(st.none(), st.sampled_from([0.0, 1.0, 1.5, 2.0, 0.1])),
        "y": st.one_of(st.none(), st.sampled_from([0.0, 1.0, 2.0, 0.1])),
        "s": st.one_of(st.none(), st.sampled_from(["a", "b", "c"])),
        "b": st.one_of(st.none(), st.booleans()),
    }
)


@settings(max_examples=60, deadline=None)
@given(_CONDITIONS, st.lists(_ROW, min_size=1, max_size=4))
def test_engines_agree_on_random_conditions_and_facts(
    durable: Durable, text: str, rows: list[dict[str, Any]]
) -> None:
    node = when(text)
    assert durable.outcomes(node, [_fact(row) for row in rows]) == _vectorized(node, rows)
