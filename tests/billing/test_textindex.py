"""TextIndex finds what Arrow's index_in finds, whatever collides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.billing import textindex
from pricing.billing.textindex import TextIndex, encoded_lookup

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
code = st.text(ALPHABET, min_size=18, max_size=18)
text = st.one_of(code, st.text(max_size=20), st.sampled_from(["", "甲乙丙丁戊己庚辛壬", "Ａ"]))


def expected(keys: list[str | None], values: list[str | None]) -> list[int]:
    found = pc.index_in(pa.array(keys, pa.string()), value_set=pa.array(values, pa.string()))
    return pc.fill_null(found, -1).to_pylist()


def check(keys: list[str | None], values: list[str | None], repeat: int = 2) -> None:
    index = TextIndex(pa.array(values, pa.string()))
    for _ in range(repeat):  # the second lookup answers from the kept hashes
        array = pa.array(keys, pa.string())
        assert index.positions(array).tolist() == expected(keys, values)
        assert encoded_lookup(array, pa.array(values, pa.string())).tolist() == \
            expected(keys, values)


@settings(max_examples=200, deadline=None)
@given(st.lists(code, unique=True, max_size=40), st.lists(code, max_size=60),
       st.integers(0, 40))
def test_credit_codes_found_as_index_in_finds_them(values: list[str], absent: list[str],
                                                    present: int) -> None:
    keys = values[:present] * 2 + absent  # repeated and absent keys, one width
    check(keys, values)


@settings(max_examples=200, deadline=None)
@given(st.lists(text, unique=True, max_size=30), st.lists(st.one_of(text, st.none()),
                                                          max_size=40))
def test_mixed_widths_nulls_and_other_text_as_index_in(values: list[str],
                                                      keys: list[str | None]) -> None:
    check(keys + values[::2], values)


@settings(max_examples=200, deadline=None)
@given(st.lists(text, unique=True, max_size=30), st.lists(code, max_size=20))
def test_keys_of_one_width_among_values_of_many(values: list[str], codes: list[str]) -> None:
    same_width = [v for v in values if len(v.encode()) == 18]
    check((same_width + codes)[: 2 * len(values)], values)


def test_a_slice_of_a_longer_array() -> None:
    values = ["91330212MA2H000019", "91330212MA2H00012D", "913302125811112223"]
    keys = pa.array(["x", *reversed(values), "91330212MA2H000018"], pa.string()).slice(1)
    assert TextIndex(pa.array(values)).positions(keys).tolist() == [2, 1, 0, -1]


@pytest.mark.parametrize("weak", [
    lambda words: words[:, 0],  # values sharing their first 8 bytes collide: Arrow decides
    lambda words: words[:, 0] ^ words[:, 1],  # keys differing from a value only in the
    # last bytes share its hash: the byte comparison refuses them
    lambda words: np.zeros(len(words), dtype=np.uint64),
])
def test_hash_collisions_never_join_the_wrong_text(monkeypatch: pytest.MonkeyPatch,
                                                   weak: object) -> None:
    monkeypatch.setattr(textindex, "_hash", weak)
    values = [f"91330212{i:08d}AB" for i in range(30)] + ["A1234567B1234567C1"]
    check([v[:16] + "CD" for v in values] + values[::3], values)  # at most twice as many
    check([v[:8] + "ZZ" + v[10:] for v in values] + values[1::3], values)


def test_more_keys_than_twice_the_values_use_arrow(monkeypatch: pytest.MonkeyPatch) -> None:
    values = ["91330212MA2H000019", "91330212MA2H00012D"]
    monkeypatch.setattr(textindex, "_hashed", lambda *_: pytest.fail("hashed the values"))
    keys = values * 3
    assert TextIndex(pa.array(values)).positions(pa.array(keys)).tolist() == [0, 1] * 3


_IDS = [f"9133021200000{n:04d}X" for n in range(12)]


@given(st.lists(st.sampled_from(_IDS), unique=True, max_size=8),
       st.lists(st.tuples(st.integers(0, 7), st.sampled_from(["steel", "foundry"])),
                unique=True, max_size=12),
       st.lists(st.sampled_from(_IDS), min_size=1, max_size=20),
       st.lists(st.integers(0, 19), max_size=30))
def test_places_from_pricing_codes_equal_a_lookup_by_id(places: list[str],
                                                        verdicts: list[tuple[int, str]],
                                                        lines: list[str],
                                                        rows: list[int]) -> None:
    """A streamed piece takes each surcharge row's place from its line's classification
    code, the classification's ids placed by their register rows (ids the classification
    lacks looked up by id): the same rows as looking up every row's id in the places.

    ``places``: the year's register rows, one per enterprise; ``verdicts``: the
    classification's rows as (register row, rulebook), sorted by id then rulebook."""
    from types import SimpleNamespace

    from pricing.billing.batch import _places_of, place_of_code
    from pricing.billing.price import ClassificationIndex

    table_rows = sorted({(places[at], book, at) for at, book in verdicts if at < len(places)})
    table = pd.DataFrame({"enterprise_id": [row[0] for row in table_rows],
                          "rulebook": [row[1] for row in table_rows],
                          "class": "restricted", "rule_id": "R1", "decided_by": "rule"},
                         dtype="string")
    index = ClassificationIndex(table)
    classified = index.enterprise_ids.to_pylist()
    line_rows = np.array([row % len(lines) for row in rows], dtype=np.int64)
    enterprise = pa.array([lines[row] for row in line_rows], pa.string())
    kept = TextIndex(pa.array(places, pa.string()))
    codes = np.array([classified.index(i) if i in classified else -1 for i in lines])
    placed = place_of_code(index, np.array([row[2] for row in table_rows], dtype=np.int64))
    month = SimpleNamespace(priced=SimpleNamespace(enterprise_codes=codes),
                            place_of_code=placed, places=kept, enterprises=None)
    expected = [places.index(i) if i in places else -1 for i in enterprise.to_pylist()]
    assert _places_of(month, enterprise, line_rows).tolist() == expected


@given(st.lists(st.integers(0, 6), max_size=40))
def test_an_index_told_apart_by_register_rows_is_the_index_by_id(rows: list[int]) -> None:
    """``Classification.rows`` (one register row per enterprise) give the same ids and codes
    as hashing the ids' text."""
    from pricing.billing.price import ClassificationIndex

    ids = [f"9133021200000{row:04d}X" for row in rows]
    table = pd.DataFrame({"enterprise_id": ids, "rulebook": "steel", "class": "restricted",
                          "rule_id": "R1", "decided_by": "rule"}, dtype="string")
    by_row = ClassificationIndex(table, np.array(rows, dtype=np.int64))
    by_id = ClassificationIndex(table)
    assert by_row.enterprise_ids.to_pylist() == by_id.enterprise_ids.to_pylist()
    assert by_row.enterprise_codes.tolist() == by_id.enterprise_codes.tolist()
