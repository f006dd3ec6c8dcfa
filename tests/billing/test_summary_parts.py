"""Summary parts of several pieces summed on integer codes equal a groupby on the texts."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.billing.batch import PART_COLUMNS, sum_parts

KEYS = PART_COLUMNS[:5]  # utility, district, rulebook, class, enterprise_id
SUMS = PART_COLUMNS[5:]
DISTRICT = {"E1": "江北区", "E2": "鄞州区", "E3": "", "E4": "江北区"}  # follows the enterprise

part = st.tuples(st.sampled_from(["electricity", "water"]), st.sampled_from(list(DISTRICT)),
                 st.sampled_from(["steel", "foundry", ""]), st.sampled_from(["A", "B", "", "C"]),
                 st.integers(0, 5), st.integers(0, 10**15), st.integers(-10**15, 10**15))


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame({
        "utility": pd.array([r[0] for r in rows], dtype="string"),
        "district": pd.array([DISTRICT[r[1]] for r in rows], dtype="string"),
        "rulebook": pd.array([r[2] for r in rows], dtype="string"),
        "class": pd.array([r[3] for r in rows], dtype="string"),
        "enterprise_id": pd.array([r[1] for r in rows], dtype="string"),
        "accounts": np.array([r[4] for r in rows], dtype=np.int64),
        "quantity_milli": np.array([r[5] for r in rows], dtype=np.int64),
        "amount_fen": np.array([r[6] for r in rows], dtype=np.int64),
    })[PART_COLUMNS]


def as_set(parts: pd.DataFrame) -> set[tuple]:
    return {tuple(row) for row in parts.astype(object).itertuples(index=False)}


@settings(max_examples=200, deadline=None)
@given(st.lists(part, max_size=60))
def test_sum_parts_is_the_groupby_of_the_texts(rows: list[tuple]) -> None:
    parts = frame(rows)
    expected = parts.groupby(KEYS, sort=False, dropna=False)[SUMS].sum().reset_index()
    summed = sum_parts(parts)
    assert list(summed.columns) == PART_COLUMNS
    assert summed[SUMS].dtypes.tolist() == [np.int64] * 3
    assert as_set(summed) == as_set(expected)
    assert len(summed) == len(expected)
