"""Pricing's integer-key joins and selections against their plain definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.billing.components import in_force
from pricing.billing.price import _largest_in_group, price_lines
from pricing.spec.tariff import Tariff
from pricing.spec.yamlfile import loads


def _pandas_keep(row, group, order, fen) -> np.ndarray:
    """The rule spelled with groupby: per (line, group) the component with the largest total
    over its bands wins, ties to the smaller order; ungrouped candidates (-1) all stay."""
    cand = pd.DataFrame({"row": row, "group": group, "order": order, "fen": fen})
    grouped = cand["group"] >= 0
    totals = (cand[grouped].groupby(["row", "group", "order"])["fen"].sum().reset_index()
              .sort_values(["row", "group", "fen", "order"],
                           ascending=[True, True, False, True], kind="stable")
              .drop_duplicates(["row", "group"]))
    winners = set(zip(totals["row"], totals["order"], strict=True))
    return np.array([not g >= 0 or (r, o) in winners
                     for r, g, o in zip(row, group, order, strict=True)])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(1, 4), st.integers(0, 3)),
                min_size=0, max_size=40), st.data())
def test_largest_in_group_matches_groupby(keys, data) -> None:
    # Components 1-2 share group 0, 3 is in group 1, 4 has none; an order keeps its group.
    group_of_order = {1: 0, 2: 0, 3: 1, 4: -1}
    row = np.array([k[0] for k in keys], dtype=np.int64)
    order = np.array([k[1] for k in keys], dtype=np.int64)
    group = np.array([group_of_order[o] for o in order], dtype=np.int64)
    fen = np.array(data.draw(st.lists(st.integers(0, 4), min_size=len(keys),
                                      max_size=len(keys))), dtype=np.int64)
    keep = _largest_in_group(row, group, order, fen)
    assert keep.tolist() == _pandas_keep(row, group, order, fen).tolist()


STAINLESS = """\
tariff: twice
title: One flat component
source: test
components:
  - id: stainless
    utility: electricity
    rulebook: stainless-steel
    kind: flat
    rates: {eliminated: 0.30}
"""


def test_an_enterprise_listed_twice_under_a_rulebook_takes_its_first_row() -> None:
    # Defensive: the classification has one row per enterprise and rulebook, but were one
    # repeated, its first row decides (as a lookup of the first match would).
    classes = pd.DataFrame([
        ("E-A", "stainless-steel", "eliminated", "SS-E1", "rule"),
        ("E-A", "stainless-steel", "permitted", "", "default"),
        ("E-B", "stainless-steel", "permitted", "", "default"),
        ("E-B", "stainless-steel", "eliminated", "SS-E1", "rule"),
    ], columns=["enterprise_id", "rulebook", "class", "rule_id", "decided_by"])
    lines = pd.DataFrame({"utility": "electricity", "account_id": ["A1", "B1"],
                          "enterprise_id": ["E-A", "E-B"], "period": "2025-03",
                          "quantity_milli": [1_000_000, 1_000_000],
                          "production_milli": [1_000_000, 1_000_000],
                          "quota_milli": pd.array([pd.NA, pd.NA], dtype="Int64"),
                          "base_price_micro": pd.array([pd.NA, pd.NA], dtype="Int64")})
    tariff = Tariff.model_validate(loads(STAINLESS, "twice.yaml"))
    result = price_lines(lines, classes, {}, in_force([tariff], "2025-03"))
    # 1000 kWh × 0.30 = 300.00 yuan for E-A only
    assert result.surcharges["row"].tolist() == [0]
    assert result.surcharges["class"].tolist() == ["eliminated"]
    assert result.surcharges["amount_fen"].tolist() == [30_000]
