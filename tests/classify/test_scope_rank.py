"""``rank_pct`` over a scope: the sort-based ranking equals pandas' ``rank(method="max")``."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.expr.vectorized import _rank_pct

values = st.one_of(st.none(), st.sampled_from([-0.0, 0.0]), st.integers(-3, 3).map(float),
                   st.floats(-1e6, 1e6))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(values, st.integers(-1, 3)), min_size=1, max_size=30))
def test_rank_pct_is_the_max_rank_share_of_known_values_in_each_group(
        rows: list[tuple[float | None, int]]) -> None:
    numbers = np.array([np.nan if v is None else v for v, _ in rows])
    groups = np.array([g for _, g in rows], dtype=np.int64)
    frame = pd.DataFrame({"value": numbers, "group": groups})
    known = frame[frame["value"].notna() & (frame["group"] >= 0)]
    expected = pd.Series(np.nan, index=frame.index)
    by_group = known.groupby("group")["value"]
    expected[known.index] = 100.0 * by_group.rank(method="max") / by_group.transform("size")
    assert np.array_equal(_rank_pct(numbers, groups), expected.to_numpy(), equal_nan=True)
