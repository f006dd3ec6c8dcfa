"""The one hit-policy function (SPEC "Hit policies"): rule outcomes → class, rule, decided_by.

Both engines produce the same outcome frame (one nullable ``boolean`` column per rule id, in
file order); only this module turns outcomes into a verdict, so the engines cannot disagree
about semantics, only about which rules hold — and the property tests check that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

UNCLASSIFIED = "unclassified"
DECISION_COLUMNS = ["class", "rule_id", "decided_by"]
_DECIDED_BY = ("", "rule", "conflict", UNCLASSIFIED, "missing", "default")


@dataclass(frozen=True)
class Coded:
    """A text column as codes into a short list of words: a classification column holds a
    handful of distinct texts, so building it is one take, not one string per enterprise."""

    codes: np.ndarray
    words: tuple[str, ...]

    def to_numpy(self) -> np.ndarray:
        return np.array(self.words, dtype=object)[self.codes]

    def to_arrow(self) -> pa.Array:
        return pa.array(self.words, type=pa.string()).take(pa.array(self.codes))


@dataclass(frozen=True)
class Verdicts:
    """:func:`decide` before it becomes text; ``rule`` is the position in ``compiled.rules``
    of the rule that decided each row, −1 where no single rule did."""

    rule: np.ndarray
    class_: Coded
    rule_id: Coded
    decided_by: Coded


def decide(compiled: Any, outcomes: pd.DataFrame) -> pd.DataFrame:
    """``class, rule_id, decided_by`` (``string``; empty text = none) for each outcome row.

    SPEC: ``worst`` = most severe class among the rules that hold (ties: the first listed);
    ``first`` = the first rule that holds; ``unique`` = at most one may hold, two or more is a
    ``conflict`` (class empty, rule_id = the holding ids joined by ``|``). When none holds:
    ``on_missing`` if any rule was unknown, else ``default``.
    """
    found = verdicts(compiled, outcomes)
    return pd.DataFrame(
        {"class": found.class_.to_numpy(), "rule_id": found.rule_id.to_numpy(),
         "decided_by": found.decided_by.to_numpy()},
        index=outcomes.index,
    ).astype("string")


def verdicts(compiled: Any, outcomes: pd.DataFrame) -> Verdicts:
    """:func:`decide` as codes, for callers that build Arrow columns."""
    rulebook = compiled.rulebook
    rules = [rule for rule, _ in compiled.rules]
    ids = tuple(rule.id for rule in rules)
    classes = tuple(rule.class_ for rule in rules)
    held, unknown = _truth_matrices(outcomes, ids)

    any_held = held.any(axis=1)
    if not ids:
        pick = np.zeros(len(held), dtype=np.int64)
    elif rulebook.hit_policy == "worst":
        severity = np.array([rulebook.classes.index(c) for c in classes], dtype=np.int64)
        score = np.where(held, severity, -1)
        chosen = (score == score.max(axis=1, initial=-1)[:, None]) & held
        pick = chosen.argmax(axis=1)
    else:
        pick = held.argmax(axis=1)

    rules_count = len(ids)
    empty_class, missing_class, default_class = rules_count, rules_count + 1, rules_count + 2
    class_words = (*classes, "", "" if rulebook.on_missing == UNCLASSIFIED
                   else rulebook.on_missing, rulebook.default)
    rule_words: tuple[str, ...] = (*ids, "")
    class_code = np.where(any_held, pick, empty_class)
    rule_code = np.where(any_held, pick, rules_count)
    decided_code = np.where(any_held, _DECIDED_BY.index("rule"), 0)
    rule = np.where(any_held, pick, -1)

    if rulebook.hit_policy == "unique":
        conflict = held.sum(axis=1) >= 2
        if conflict.any():
            patterns, which = np.unique(held[conflict], axis=0, return_inverse=True)
            rule_words += tuple("|".join(np.array(ids)[pattern]) for pattern in patterns)
            class_code[conflict] = empty_class
            rule_code[conflict] = rules_count + 1 + which.reshape(-1)
            decided_code[conflict] = _DECIDED_BY.index("conflict")
            rule[conflict] = -1

    none_held = ~any_held
    some_unknown = unknown.any(axis=1)
    missing = none_held & some_unknown
    class_code[missing] = missing_class
    decided_code[missing] = _DECIDED_BY.index(
        UNCLASSIFIED if rulebook.on_missing == UNCLASSIFIED else "missing")
    by_default = none_held & ~some_unknown
    class_code[by_default] = default_class
    decided_code[by_default] = _DECIDED_BY.index("default")

    return Verdicts(rule=rule, class_=Coded(class_code, class_words),
                    rule_id=Coded(rule_code, rule_words),
                    decided_by=Coded(decided_code, _DECIDED_BY))


def _truth_matrices(outcomes: pd.DataFrame, ids: tuple[str, ...]) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """``(held, unknown)``: rows × rules, read straight from the nullable columns."""
    held = np.zeros((len(outcomes), len(ids)), dtype=bool)
    unknown = np.zeros((len(outcomes), len(ids)), dtype=bool)
    for column, rule_id in enumerate(ids):
        values = pd.array(outcomes[rule_id], dtype="boolean")
        unknown[:, column] = values.isna()
        held[:, column] = values.to_numpy(dtype=bool, na_value=False)
    return held, unknown
