"""Summary parts of several pieces summed on integer codes equal a groupby on the texts."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.billing.batch import (
    PART_COLUMNS,
    PART_KEYS,
    PART_SUMS,
    SUMMARY_COLUMNS,
    sum_parts,
    summary_from_parts,
)
from pricing.billing.money import format_fixed, format_trimmed

KEYS = PART_KEYS  # utility, district, rulebook, class, enterprise_id
SUMS = PART_SUMS
DISTRICT = {"E1": "江北区", "E2": "鄞州区", "E3": "", "E4": "江北区", "E5": ""}  # by enterprise
# the enterprise's row in the register's places; E3 and E5 are not in the register: -1 both,
# told apart by their ids
PLACE = {"E1": 0, "E2": 5, "E3": -1, "E4": 2, "E5": -1}

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
        "place": np.array([PLACE[r[1]] for r in rows], dtype=np.int64),
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
    expected = parts.groupby([*KEYS, "place"], sort=False, dropna=False)[SUMS].sum() \
        .reset_index()[PART_COLUMNS]
    summed = sum_parts(parts)
    assert list(summed.columns) == PART_COLUMNS
    assert summed[SUMS].dtypes.tolist() == [np.int64] * 3
    assert as_set(summed) == as_set(expected)
    assert len(summed) == len(expected)


def grouped_summary(parts: pd.DataFrame) -> pd.DataFrame:
    """summary.csv's rows by two pandas groupbys on the texts: what the codes must equal."""
    sums = ["accounts", "quantity_milli", "amount_fen"]
    per_enterprise = parts.groupby(KEYS, sort=False, dropna=False)[sums].sum().reset_index()
    grouped = per_enterprise.groupby(KEYS[:4], sort=False, dropna=False)
    summary = grouped[sums].sum()
    summary["enterprises"] = grouped.size()
    summary = summary.reset_index().sort_values(KEYS[:4], kind="stable").reset_index(drop=True)
    summary["enterprises"] = summary["enterprises"].astype(str)
    summary["accounts"] = summary["accounts"].astype(str)
    summary["quantity"] = format_trimmed(summary["quantity_milli"].astype(np.int64), 3)
    summary["amount"] = format_fixed(summary["amount_fen"].astype(np.int64), 2)
    for key in KEYS[:4]:
        summary[key] = summary[key].astype("string")
    return summary[SUMMARY_COLUMNS]


@settings(max_examples=200, deadline=None)
@given(st.lists(part, max_size=60), st.booleans())
def test_summary_from_parts_is_the_groupby_of_the_texts(rows: list[tuple],
                                                        missing: bool) -> None:
    """The summary's rows, order and text equal two groupbys, repeated (group, enterprise)
    rows and missing keys included."""
    parts = frame(rows)
    if missing and len(parts):
        parts.loc[0, "class"] = pd.NA
    found = summary_from_parts(parts)
    expected = grouped_summary(parts) if len(parts) else pd.DataFrame(columns=SUMMARY_COLUMNS)
    assert found.astype(object).fillna("<NA>").values.tolist() == \
        expected.astype(object).fillna("<NA>").values.tolist()
    assert list(found.columns) == list(expected.columns)
