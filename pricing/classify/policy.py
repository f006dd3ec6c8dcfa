"""The one hit-policy function (SPEC "Hit policies"): rule outcomes → class, rule, decided_by.

Both engines produce the same outcome frame (one nullable ``boolean`` column per rule id, in
file order); only this module turns outcomes into a verdict, so the engines cannot disagree
about semantics, only about which rules hold — and the property tests check that.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

UNCLASSIFIED = "unclassified"
DECISION_COLUMNS = ["class", "rule_id", "decided_by"]


def decide(compiled: Any, outcomes: pd.DataFrame) -> pd.DataFrame:
    """``class, rule_id, decided_by`` (``string``; empty text = none) for each outcome row.

    SPEC: ``worst`` = most severe class among the rules that hold (ties: the first listed);
    ``first`` = the first rule that holds; ``unique`` = at most one may hold, two or more is a
    ``conflict`` (class empty, rule_id = the holding ids joined by ``|``). When none holds:
    ``on_missing`` if any rule was unknown, else ``default``.
    """
    rulebook = compiled.rulebook
    rules = [rule for rule, _ in compiled.rules]
    ids = np.array([rule.id for rule in rules], dtype=object)
    classes = np.array([rule.class_ for rule in rules], dtype=object)
    frame = outcomes[list(ids)]
    held = frame.fillna(False).to_numpy(dtype=bool).reshape(len(frame), len(ids))
    unknown = frame.isna().to_numpy(dtype=bool).reshape(len(frame), len(ids))

    any_held = held.any(axis=1)
    if rulebook.hit_policy == "worst":
        severity = np.array([rulebook.classes.index(c) for c in classes], dtype=np.int64)
        score = np.where(held, severity, -1)
        chosen = (score == score.max(axis=1, initial=-1)[:, None]) & held
        pick = chosen.argmax(axis=1)
    else:
        pick = held.argmax(axis=1)

    class_ = np.where(any_held, classes[pick] if len(ids) else "", "").astype(object)
    rule_id = np.where(any_held, ids[pick] if len(ids) else "", "").astype(object)
    decided_by = np.where(any_held, "rule", "").astype(object)

    if rulebook.hit_policy == "unique":
        conflict = held.sum(axis=1) >= 2
        class_[conflict] = ""
        rule_id[conflict] = _joined_ids(held[conflict], ids)
        decided_by[conflict] = "conflict"

    none_held = ~any_held
    some_unknown = unknown.any(axis=1)
    missing = none_held & some_unknown
    if rulebook.on_missing == UNCLASSIFIED:
        class_[missing] = ""
        decided_by[missing] = UNCLASSIFIED
    else:
        class_[missing] = rulebook.on_missing
        decided_by[missing] = "missing"
    by_default = none_held & ~some_unknown
    class_[by_default] = rulebook.default
    decided_by[by_default] = "default"

    return pd.DataFrame(
        {"class": class_, "rule_id": rule_id, "decided_by": decided_by},
        index=outcomes.index,
    ).astype("string")


def _joined_ids(held: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The holding rule ids of each row joined by ``|`` in file order, built column by column."""
    joined = np.full(len(held), "", dtype=object)
    for column, rule_id in enumerate(ids):
        on = held[:, column]
        joined[on] = np.where(joined[on] == "", rule_id, joined[on] + "|" + rule_id)
    return joined
