"""The table's order of enterprise ids: ranks of texts as Arrow ranks them.

Ids of one byte width are ranked on their bytes as integers (``table._dense_rank``); every
other array takes Arrow's ``rank``. Both must give Arrow's dense ranks, ties included.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.classify.table import _dense_rank, _table_order

# few letters, so ties and shared prefixes are common; "é" and "中" are 2 and 3 UTF-8 bytes
letters = st.sampled_from(["0", "1", "9", "A", "Z", "\x00", "é", "中"])


def arrow_rank(texts: list[str | None]) -> list[int]:
    return pc.rank(pa.array(texts, pa.string()), tiebreaker="dense").to_pylist()


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 33).flatmap(
    lambda width: st.lists(st.lists(letters, min_size=width, max_size=width).map("".join),
                           min_size=1, max_size=60)))
def test_ids_of_one_width_rank_as_arrow_ranks_them(texts: list[str]) -> None:
    assert _dense_rank(pa.array(texts, pa.string())).tolist() == arrow_rank(texts)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.none() | st.lists(letters, max_size=6).map("".join), min_size=1,
                max_size=40))
def test_any_texts_rank_as_arrow_ranks_them(texts: list[str | None]) -> None:
    assert _dense_rank(pa.array(texts, pa.string())).tolist() == arrow_rank(texts)


def test_credit_codes_rank_in_byte_order() -> None:
    codes = ["91330200MA2XXXXX9B", "913302001440683456", "91330200MA2XXXXX9B",
             "12330200000000000A", "91330200144068345Z"]
    assert _dense_rank(pa.array(codes)).tolist() == [4, 2, 4, 1, 3]  # "1" < "6" < "M" < "Z"
    assert np.asarray(_dense_rank(pa.array(codes))).dtype == np.uint64


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sets(st.integers(1, 30), max_size=30), st.integers(0, 9),
                          st.booleans()), min_size=1, max_size=7))
def test_table_rows_are_placed_as_a_stable_sort_on_id_then_rulebook_orders_them(
        parts: list[tuple[set[int], int, bool]]) -> None:
    """Rulebook parts of distinct ids (as a register of one row per enterprise and year
    gives) are placed without sorting; an id twice in a part is left to the sort."""
    rows = [sorted(ids, reverse=repeat) + ([min(ids)] if repeat and ids else [])
            for ids, _, repeat in parts]
    id_rank = np.array([rank for ids in rows for rank in ids], dtype=np.int64)
    book_rank = [book for _, book, _ in parts]
    book = np.array([book_rank[n] for n, ids in enumerate(rows) for _ in ids], dtype=np.int64)
    stable = np.argsort(id_rank * 10 + book, kind="stable")
    placed = _table_order([len(ids) for ids in rows], id_rank, book_rank)
    twice = any(repeat and ids for ids, _, repeat in parts)
    assert (placed is None) == twice
    if placed is not None:
        assert placed.tolist() == stable.tolist()
