"""Texts read straight from Arrow's buffers: what they give must be what Arrow gives."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.bytematrix import take_text


@settings(max_examples=200)
@given(st.lists(st.one_of(st.from_regex(r"[0-9A-Z]{6}", fullmatch=True),
                          st.from_regex(r"[0-9A-Z电]{1,8}", fullmatch=True)),
                min_size=1, max_size=30),
       st.lists(st.integers(0, 10**6), max_size=40), st.booleans())
def test_taking_texts_is_arrows_take(texts: list[str], picks: list[int], large: bool) -> None:
    """Texts of one width taken as byte-matrix rows, others by Arrow: Arrow's result and
    type either way (empty takes included)."""
    array = pa.array(texts, pa.large_string() if large else pa.string())
    rows = np.array([pick % len(texts) for pick in picks], dtype=np.int64)
    taken = take_text(array, rows)
    assert taken.type == array.type
    assert taken.equals(array.take(pa.array(rows, type=pa.int64())))
