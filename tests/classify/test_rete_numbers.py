"""The reference engine compares every number the vectorized one can, tiny and huge alike."""

from __future__ import annotations

import pandas as pd
from classify_helpers import compiled_rulebook

from pricing.classify import engine
from pricing.classify.rete_engine import ReteEngine, facts_text


def test_facts_text_never_uses_exponents() -> None:
    text = facts_text([{"_row": 0, "x": 1.5e-05, "y": 1e16, "k": "中频炉"}])
    assert text == '[{"_row":0,"x":0.000015,"y":10000000000000000,"k":"中频炉"}]'


def test_engines_agree_on_tiny_and_huge_metric_values() -> None:
    compiled = compiled_rulebook(rules=[
        {"id": "TINY", "class": "restricted", "when": "x < 0.0001"},
        {"id": "HUGE", "class": "eliminated", "when": "x > 1000000000000"},
    ])
    facts = pd.DataFrame({"x": [1.5e-05, 0.00012, 2.5e12, None, -3e-07],
                          "kind": ["a"] * 5},
                         index=[f"E{i}" for i in range(5)]).astype({"x": "Float64",
                                                                   "kind": "string"})
    fast = engine.rule_outcomes(compiled, facts)
    reference = ReteEngine().rule_outcomes(compiled, facts)
    pd.testing.assert_frame_equal(fast, reference)
    assert fast["TINY"].tolist() == [True, False, False, pd.NA, True]


def test_evidence_numbers_of_any_size_are_plain_text() -> None:
    from pricing.classify.table import format_numbers

    values = pd.Series([1e300, -2.5e13, 0.1234567, None], dtype="Float64")
    text = list(format_numbers(values))
    assert text[0] == "1" + "0" * 300
    assert text[1:] == ["-25000000000000", "0.123457", "null"]
