"""The row order of surcharges.csv: `surcharge_order` sorts as the full keys do."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given
from hypothesis import strategies as st

from pricing.billing.batch import surcharge_order

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
    got = surcharge_order(table)
    # equal keys may come in any order: compare the sorted rows, not the positions
    assert table.take(pa.array(got, pa.int64())).equals(table.take(pa.array(full, pa.int64())))
    assert sorted(got.tolist()) == list(range(len(found)))
