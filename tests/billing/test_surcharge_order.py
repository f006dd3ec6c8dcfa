"""The row order of surcharges.csv: `surcharge_order` sorts as the full keys do (the keys
of priced lines, never missing)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given
from hypothesis import strategies as st

from pricing.billing.batch import _rank, surcharge_order

KEYS = ["period", "utility", "account_id", "component_id", "band", "order"]
rows = st.tuples(st.sampled_from(["2025-01", "2025-02"]),
                 st.sampled_from(["electricity", "water"]),
                 st.text(alphabet="0aZ-户\x00 ", max_size=4),
                 st.sampled_from(["foundry-flat", "water-quota", "a"]),
                 st.sampled_from(["", "1", "2", "10"]),
                 st.integers(min_value=0, max_value=3))


@given(st.lists(rows, max_size=60), st.booleans())
def test_the_order_is_the_full_multi_key_sort(found: list[tuple], one_month: bool) -> None:
    if one_month:
        found = [("2025-03", *row[1:]) for row in found]
    columns = list(zip(*found, strict=True)) if found else [[] for _ in KEYS]
    table = pa.table({name: pa.array(list(values), pa.int64() if name == "order"
                                     else pa.string()) for name, values in
                      zip(KEYS, columns, strict=True)})
    full = pc.sort_indices(table, sort_keys=[(name, "ascending") for name in KEYS]).to_numpy()
    got = surcharge_order(table.select(KEYS[:3]), table.select(KEYS[3:]))
    # equal keys may come in any order: compare the sorted rows, not the positions
    assert table.take(pa.array(got, pa.int64())).equals(table.take(pa.array(full, pa.int64())))
    assert sorted(got.tolist()) == list(range(len(found)))


@given(st.lists(rows, min_size=1, max_size=20), st.lists(
    st.tuples(st.integers(min_value=0, max_value=19), st.sampled_from(["foundry-flat", "a"]),
              st.sampled_from(["", "1", "10", "2"]), st.integers(min_value=0, max_value=3)),
    max_size=60))
def test_accounts_ranked_per_line_sort_as_the_rows_would(lines: list[tuple],
                                                         found: list[tuple]) -> None:
    found = [(line % len(lines), *rest) for line, *rest in found]
    line = [row[0] for row in found]
    accounts = pa.table({name: pa.array([row[k] for row in lines], pa.string())
                         for k, name in enumerate(KEYS[:3])})
    components = pa.table({name: pa.array([row[k + 1] for row in found],
                                          pa.int64() if name == "order" else pa.string())
                           for k, name in enumerate(KEYS[3:])})
    expanded = pa.table({**{name: accounts[name].take(pa.array(line, pa.int64()))
                            for name in KEYS[:3]},
                         **{name: components[name] for name in KEYS[3:]}})
    full = pc.sort_indices(expanded, sort_keys=[(name, "ascending") for name in KEYS])
    got = surcharge_order(accounts, components, np.array(line, dtype=np.int64))
    assert expanded.take(pa.array(got, pa.int64())).equals(expanded.take(full))
    assert sorted(got.tolist()) == list(range(len(found)))


@given(st.lists(st.none() | st.text(alphabet="ab户\x00 ", max_size=3), max_size=40),
       st.booleans())
def test_a_rank_is_the_dense_rank_in_text_order(values: list[str | None], few: bool) -> None:
    present = sorted({value for value in values if value is not None}, key=str.encode)
    expected = [len(present) if value is None else present.index(value) for value in values]
    assert _rank(pa.array(values, pa.string()), few=few).tolist() == expected
