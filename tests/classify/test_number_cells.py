"""Register number cells: the byte-level fast path reads exactly what the general path reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.classify import metrics

# digits, signs, points, exponents and spaces: every way a cell can almost be a plain decimal
cells = st.one_of(st.none(), st.just(""), st.text(alphabet="0123456789.-+e ", max_size=19),
                  st.from_regex(r"-?[0-9]{1,9}(\.[0-9]{1,8})?", fullmatch=True))


def _general(column: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values, bad = metrics._numbers(metrics._text(column))
    return (values.array.to_numpy(dtype="float64", na_value=np.nan),
            values.isna().to_numpy(), bad.to_numpy(dtype=bool))


@settings(max_examples=400, deadline=None)
@given(st.lists(cells, min_size=1, max_size=8))
def test_fast_path_reads_plain_columns_bit_for_bit_like_the_general_path(
        column_cells: list[str | None]) -> None:
    column = pd.Series(column_cells, dtype="string")
    fast = metrics._plain_numbers(column)
    floats, missing, bad = _general(column)
    if fast is None:  # refused only when some non-empty cell is not plain as written
        text = column.dropna()
        text = text[text != ""]
        assert not (text.str.fullmatch(r"-?[0-9]+(\.[0-9]+)?") & (text.str.len() <= 17)).all()
        return
    assert not bad.any()
    assert (fast.isna() == missing).all()
    got = fast.to_numpy(dtype="float64", na_value=np.nan)
    assert np.array_equal(got.view(np.int64)[~missing], floats.view(np.int64)[~missing])


def test_sliced_and_large_string_columns_keep_their_cells() -> None:
    column = pd.Series(["x", "1.5", "", None, "-0", "007.25"], dtype="string[pyarrow]")[1:]
    fast = metrics._plain_numbers(column)
    assert fast is not None
    assert list(fast.to_numpy(dtype="float64", na_value=np.nan)[[0, 3, 4]]) == [1.5, 0.0, 7.25]
    assert list(fast.isna()) == [False, True, True, False, False]
    assert np.signbit(fast.to_numpy(dtype="float64", na_value=np.nan)[3])
