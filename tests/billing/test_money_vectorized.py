"""The numpy paths of amount_fen and of the decimal formatters against exact Python integers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.billing.money import amount_fen, format_fixed, format_trimmed

INT64_MAX = 2**63 - 1


def _exact_fen(q: int, r: int, d: int, month: int) -> int:
    denominator = month * 10**10
    return (q * r * d + denominator // 2) // denominator


def _exact_text(value: int | None, scale: int, trim: bool) -> str | None:
    """The SPEC text of ``value × 10^-scale``: plain digits, exactly ``scale`` decimals."""
    if value is None:
        return None
    sign, magnitude = ("-" if value < 0 else ""), abs(value)
    if not scale:
        return f"{sign}{magnitude}"
    text = f"{sign}{magnitude // 10**scale}.{magnitude % 10**scale:0{scale}d}"
    return text.rstrip("0").rstrip(".") if trim else text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**16), st.integers(0, 10**11), st.integers(0, 31)),
                min_size=1, max_size=30), st.integers(28, 31))
def test_amount_fen_wide_products_are_exact(rows, month) -> None:
    # Products up to 10^16 · 10^11 · 31 ≈ 3·10^28 cross the int64, the float-quotient and the
    # Python-integer paths; every row must equal the exact integer formula.
    q, r, d = (np.array(column, dtype=np.int64) for column in zip(*rows, strict=True))
    fen = amount_fen(q, r, d, np.full(len(q), month, dtype=np.int64))
    assert fen.tolist() == [_exact_fen(*row, month) for row in rows]


def test_amount_fen_at_the_path_boundaries() -> None:
    # q·r·d just below and above 2^62 and 2^94, and ties (exactly half a fen) in each path.
    q = np.array([2**31, 2**31 + 1, 2**47, 2**47 + 1, 5 * 10**9, 15 * 10**15, 10**18],
                 dtype=np.int64)
    r = np.array([2**31 - 1, 2**31, 2**47 - 1, 2**47, 10**9, 10**9, 10**10], dtype=np.int64)
    d = np.array([1, 1, 1, 1, 1, 1, 31], dtype=np.int64)
    month = np.full(len(q), 31, dtype=np.int64)
    month[[4, 5]] = 1
    fen = amount_fen(q, r, d, month)
    assert fen.tolist() == [_exact_fen(*map(int, row)) for row in zip(q, r, d, month,
                                                                        strict=True)]


def test_amount_fen_keeps_the_series_index_and_refuses_overflow() -> None:
    fen = amount_fen(pd.Series([1000, 2000], index=[5, 9]), pd.Series([10**8, 10**8]),
                     pd.Series([31, 31]), pd.Series([31, 31]))
    assert fen.index.tolist() == [5, 9] and fen.tolist() == [10, 20]
    big = np.array([INT64_MAX], dtype=np.int64)
    with pytest.raises(OverflowError):
        amount_fen(big, big, np.array([31]), np.array([31]))


@pytest.mark.parametrize("scale", range(0, 12))
@pytest.mark.parametrize("trim", [False, True])
def test_formatting_matches_exact_text(scale: int, trim: bool) -> None:
    rng = np.random.default_rng(scale)
    values: list[int | None] = [0, 1, -1, 9, 10, 99, 100, 9999, 10_000, -10_000, 10**18,
                                INT64_MAX, -INT64_MAX, -(2**63)]
    values += [int(v) for v in rng.integers(-(2**63), INT64_MAX, 300, dtype=np.int64)]
    values += [int(v) * 10 ** int(k) for v, k in zip(rng.integers(-999, 999, 300),
                                                       rng.integers(0, 13, 300), strict=True)]
    values.append(None)
    series = pd.Series(values, dtype="Int64", index=range(100, 100 + len(values)))
    text = (format_trimmed if trim else format_fixed)(series, scale)
    assert str(text.dtype) == "string"
    assert text.index.equals(series.index)
    assert [None if v is pd.NA else v for v in text] == [_exact_text(v, scale, trim)
                                                         for v in values]


def test_formatting_an_empty_column() -> None:
    assert format_fixed(pd.Series([], dtype="int64"), 2).tolist() == []
    assert format_trimmed(pd.Series([], dtype="Int64"), 3).tolist() == []
