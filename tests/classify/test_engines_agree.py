"""The key invariant: the vectorized and the rete engine agree on every rule outcome.

Hypothesis writes random rulebooks — comparisons, chained comparisons, name-to-name
comparisons, ``and``/``or``/``not``, ``in``/``not in``, number, string and boolean fields,
a division metric that can be missing — and random enterprises with missing values.
"""

from __future__ import annotations

import pandas as pd
from classify_helpers import compiled_rulebook, register
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing.classify import engine, metrics
from pricing.classify.policy import decide
from pricing.classify.rete_engine import ReteEngine

NUMBERS = ["n0", "n1", "ratio"]
STRINGS = ["s0", "s1"]
LETTERS = ["a", "b", "c"]
FIELDS = {"n0": {"type": "number"}, "n1": {"type": "number"}, "s0": {"type": "string"},
          "s1": {"type": "string"}, "b0": {"type": "boolean"}}
METRICS = {"ratio": "n0 / n1"}  # n1 = 0 or missing → missing
RETE = ReteEngine()

number_literal = st.sampled_from(["-1", "0", "1", "1.5", "2", "3"])
op = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])

atoms = st.one_of(
    st.builds(lambda n, o, v: f"{n} {o} {v}", st.sampled_from(NUMBERS), op, number_literal),
    st.builds(lambda a, o1, n, o2, b: f"{a} {o1} {n} {o2} {b}", number_literal,
              st.sampled_from(["<", "<="]), st.sampled_from(NUMBERS),
              st.sampled_from(["<", "<="]), number_literal),
    st.builds(lambda a, o, b: f"{a} {o} {b}", st.sampled_from(NUMBERS), op,
              st.sampled_from(NUMBERS)),
    st.builds(lambda s, o, v: f"{s} {o} '{v}'", st.sampled_from(STRINGS),
              st.sampled_from(["==", "!="]), st.sampled_from(LETTERS)),
    st.builds(lambda s, o, vs: f"{s} {o} [{', '.join(repr(v) for v in vs)}]",
              st.sampled_from(STRINGS), st.sampled_from(["in", "not in"]),
              st.lists(st.sampled_from(LETTERS), min_size=1, max_size=3)),
    st.builds(lambda n, o, vs: f"{n} {o} [{', '.join(vs)}]", st.sampled_from(NUMBERS),
              st.sampled_from(["in", "not in"]),
              st.lists(number_literal, min_size=1, max_size=3)),
    st.just("s0 == s1"),
    st.just("b0"),
)
conditions = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a}) and ({b})", inner, inner),
        st.builds(lambda a, b: f"({a}) or ({b})", inner, inner),
        st.builds(lambda a: f"not ({a})", inner),
    ),
    max_leaves=5,
)
CLASSES = ["permitted", "restricted", "eliminated"]


@st.composite
def rulebooks(draw: st.DrawFn) -> object:
    whens = draw(st.lists(conditions, min_size=1, max_size=4))
    rules = [{"id": f"R{i}", "class": draw(st.sampled_from(CLASSES)), "when": when}
             for i, when in enumerate(whens)]
    return compiled_rulebook(
        fields=FIELDS, metrics=METRICS, rules=rules,
        hit_policy=draw(st.sampled_from(["worst", "first", "unique"])),
        on_missing=draw(st.sampled_from([*CLASSES, "unclassified"])),
    )


enterprise = st.fixed_dictionaries({
    "n0": st.sampled_from([None, "-1", "0", "1", "1.5", "2", "3", "4.25"]),
    "n1": st.sampled_from([None, "0", "1", "2", "3"]),
    "s0": st.sampled_from([None, *LETTERS, "z"]),
    "s1": st.sampled_from([None, *LETTERS]),
    "b0": st.sampled_from([None, "true", "false", "是", "0"]),
})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=rulebooks(), rows=st.lists(enterprise, min_size=1, max_size=12))
def test_engines_agree_on_random_rulebooks(book: object, rows: list[dict]) -> None:
    frame = register([{"enterprise_id": f"E{i:03d}", **row} for i, row in enumerate(rows)])
    facts = metrics.facts(book, frame, source="register.csv")
    fast = engine.rule_outcomes(book, facts)
    reference = RETE.rule_outcomes(book, facts)
    pd.testing.assert_frame_equal(fast, reference)
    pd.testing.assert_frame_equal(decide(book, fast), decide(book, reference))


NESTED = ("(x < -1) and (((-1 < x < -1) or (-1 < x < 0)) and ((-1 < x < -1) or (-1 < x < 1)))")


def test_a_deeply_nested_condition_runs_in_the_rete_engine() -> None:
    """durable_rules refused this rule's negation in one piece (error code 113: more than 31
    expression entries); split into its alternatives it is accepted, and the engines agree."""
    book = compiled_rulebook(rules=[{"id": "R0", "class": "eliminated", "when": NESTED}])
    frame = register([{"enterprise_id": f"E{i}", "x": x, "kind": "a"}
                      for i, x in enumerate(["-2", "-0.5", "0.5", "3", None])])
    facts = metrics.facts(book, frame, source="register.csv")
    pd.testing.assert_frame_equal(engine.rule_outcomes(book, facts),
                                  RETE.rule_outcomes(book, facts))

