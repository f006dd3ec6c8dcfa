"""Small builders for classification tests: a rulebook from a few keys, a register frame."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pricing.expr.check import compile_rulebook
from pricing.spec.rulebook import Rulebook

VALID_ID = "91330200MA2AAAAAA"  # prefix only: ids are not validated at this layer


def compiled_rulebook(**overrides: Any) -> Any:
    data: dict[str, Any] = {
        "rulebook": "test-book",
        "title": "t",
        "source": "s",
        "scope": {"industry": ["C33"], "districts": None},
        "fields": {"x": {"type": "number"}, "kind": {"type": "string"}},
        "classes": ["permitted", "restricted", "eliminated"],
        "hit_policy": "worst",
        "default": "permitted",
        "on_missing": "restricted",
        "rules": [],
    }
    data.update(overrides)
    return compile_rulebook(Rulebook.model_validate(data))


def register(rows: list[dict[str, Any]], year: int = 2024) -> pd.DataFrame:
    """A register frame as the register reader gives it: text columns, int year and line."""
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        frame[column] = frame[column].astype("string")
    if "name" not in frame:
        frame["name"] = "n"
    for column, default in (("district", "330212"), ("industry_code", "C3391")):
        frame[column] = (frame[column] if column in frame else pd.Series(
            pd.NA, index=frame.index, dtype="string")).fillna(default)
    frame["year"] = year
    frame["line"] = range(2, len(frame) + 2)
    return frame
