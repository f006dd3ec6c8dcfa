"""Golden cases of the hit policies (SPEC "Hit policies"), worked out by hand per row."""

from __future__ import annotations

import pandas as pd
import pytest
from classify_helpers import compiled_rulebook

from pricing.classify.policy import decide

NA = pd.NA
RULES = [
    {"id": "R1", "class": "restricted", "when": "x > 1"},
    {"id": "E1", "class": "eliminated", "when": "x > 2"},
    {"id": "E2", "class": "eliminated", "when": "x > 3"},
]


def outcomes(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["R1", "E1", "E2"], dtype="boolean",
                        index=[f"e{i}" for i in range(len(rows))])


def verdicts(policy: str, rows: list[tuple], on_missing: str = "restricted") -> list[tuple]:
    book = compiled_rulebook(rules=RULES, hit_policy=policy, on_missing=on_missing)
    frame = decide(book, outcomes(rows))
    return list(frame.itertuples(index=False, name=None))


ROWS = [
    (True, True, True),     # 0 every rule holds
    (True, False, NA),      # 1 only the restricted rule holds
    (False, False, False),  # 2 nothing holds, nothing unknown
    (False, NA, False),     # 3 nothing holds, one unknown
    (NA, True, False),      # 4 a later rule holds, an earlier one unknown
]


def test_worst_takes_the_most_severe_class_and_the_first_rule_among_ties() -> None:
    assert verdicts("worst", ROWS) == [
        ("eliminated", "E1", "rule"),   # E1 and E2 tie on severity: E1 is listed first
        ("restricted", "R1", "rule"),
        ("permitted", "", "default"),
        ("restricted", "", "missing"),  # on_missing
        ("eliminated", "E1", "rule"),   # a holding rule decides even when another is unknown
    ]


def test_first_takes_the_first_holding_rule_in_file_order() -> None:
    assert verdicts("first", ROWS)[:2] == [("restricted", "R1", "rule"),
                                           ("restricted", "R1", "rule")]
    assert verdicts("first", ROWS)[4] == ("eliminated", "E1", "rule")


def test_unique_reports_a_conflict_with_every_holding_rule() -> None:
    found = verdicts("unique", ROWS)
    assert found[0] == ("", "R1|E1|E2", "conflict")
    assert found[1] == ("restricted", "R1", "rule")
    assert found[3] == ("restricted", "", "missing")


@pytest.mark.parametrize("policy", ["worst", "first", "unique"])
def test_unclassified_when_on_missing_says_so(policy: str) -> None:
    found = verdicts(policy, ROWS, on_missing="unclassified")
    assert found[2] == ("permitted", "", "default")
    assert found[3] == ("", "", "unclassified")


def test_decide_keeps_the_outcome_index_and_text_columns() -> None:
    book = compiled_rulebook(rules=RULES)
    frame = decide(book, outcomes(ROWS))
    assert list(frame.index) == [f"e{i}" for i in range(5)]
    assert list(frame.columns) == ["class", "rule_id", "decided_by"]
    assert all(str(dtype) == "string" for dtype in frame.dtypes)
