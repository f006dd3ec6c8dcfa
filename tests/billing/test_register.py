"""Register and overrides: typed frames, and every fault reported with file:line and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.billing import register as register_module
from pricing.billing.overrides import read_overrides
from pricing.billing.register import _cells, _repeated_years, read_register
from pricing.errors import ErrorList

GOOD = "91350100M000100Y43"
BAD = "91350100M000100Y44"


def _write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "in.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_register_reads_chinese_headers_and_keeps_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "统一社会信用代码,企业名称,行政区划代码,行业代码,年度,output_t\n"
                  f"{GOOD},铸造厂,330212,C3391,2023,0800\n"
                  f"{GOOD},铸造厂,330212,C3391,2024,\n", "gb18030")
    register = read_register(path)
    frame = register.frame
    assert register.rows == 2 and len(register.sha256) == 64
    assert frame["line"].tolist() == [2, 3] and str(frame["line"].dtype) == "int64"
    assert frame["year"].tolist() == [2023, 2024] and str(frame["year"].dtype) == "int64"
    assert frame["output_t"].iloc[0] == "0800"  # text: leading zeros survive
    assert frame["output_t"].isna().iloc[1]      # empty is missing, never zero
    assert str(frame["district"].dtype) == "string"


def test_register_collects_every_fault(tmp_path: Path) -> None:
    path = _write(tmp_path, "enterprise_id,name,district,industry_code,year\n"
                  f"{BAD},a,330212,C3391,2023\n"         # 2 check character
                  f"{GOOD},b,33021,C3391,2023\n"          # 3 district 5 digits
                  f"{GOOD},,330212,Z3391,2022\n"          # 4 empty name, bad section letter
                  f"{GOOD},d,330212,C3391,2023\n")        # 5 same enterprise-year as line 3
    with pytest.raises(ErrorList) as caught:
        read_register(path)
    found = [(e.row, e.column) for e in caught.value.errors]
    assert found == [(2, "enterprise_id"), (3, "district"), (4, "name"),
                     (4, "industry_code"), (5, "year")]
    assert f"{path}:3: column 'district': expected a 6-digit division code" in str(caught.value)


def test_overrides_read_and_checked(tmp_path: Path) -> None:
    header = "enterprise_id,rulebook,class,valid_from,valid_to,reference,reason\n"
    good = _write(tmp_path, header + f"{GOOD},foundry,permitted,2024-01,,甬发改〔2024〕1号,整改\n"
                  f"{GOOD},steel,restricted,2024-01,2024-06,ref,\n")
    frame = read_overrides(good)
    assert frame["line"].tolist() == [2, 3]
    assert frame["valid_to"].isna().tolist() == [True, False]
    bad = _write(tmp_path, header + f"{GOOD},foundry,permitted,2024-05,2024-02,r,\n"
                 f"{GOOD},steel,restricted,2024-1,,r,\n"
                 f"{GOOD},steel,,2024-01,2024-12,,\n")
    with pytest.raises(ErrorList) as caught:
        read_overrides(bad)
    assert [(e.row, e.column) for e in caught.value.errors] == [
        (2, "valid_to"), (3, "valid_from"), (4, "class"), (4, "reference")]


def test_overrides_refuse_overlapping_months(tmp_path: Path) -> None:
    header = "enterprise_id,rulebook,class,valid_from,valid_to,reference,reason\n"
    path = _write(tmp_path, header + f"{GOOD},foundry,permitted,2024-01,,r1,\n"
                  f"{GOOD},foundry,restricted,2023-01,2023-12,r2,\n"
                  f"{GOOD},foundry,restricted,2025-03,2025-04,r3,\n")
    with pytest.raises(ErrorList) as caught:
        read_overrides(path)
    # 2023-01..2023-12 then 2024-01..open: the open one swallows 2025-03 (line 4)
    assert [(e.row, e.column) for e in caught.value.errors] == [(4, "valid_from")]


CELLS = st.sampled_from(["", " ", "0800", " 12.5 ", "\u3000", "铸造", "a b", "x"])


@given(st.lists(st.lists(CELLS, max_size=6), min_size=1, max_size=4),
       st.sampled_from([pa.string(), pa.large_string()]), st.booleans())
@settings(max_examples=120, deadline=None)
def test_cells_are_stripped_and_empty_is_missing_in_every_chunk(
        chunks: list[list[str]], text: pa.DataType, whole: bool) -> None:
    """Masking empty cells by their offsets, chunk by chunk or joined, equals stripping
    the joined column and turning "" into a missing value."""
    column = pa.chunked_array([pa.array(chunk, text) for chunk in chunks], text)
    expected = [value.strip() or None for chunk in chunks for value in chunk]
    found = _cells(column, whole=whole)
    assert [None if pd.isna(value) else value for value in found] == expected
    assert found.dtype == "string"
    if whole:
        assert found.array._pa_array.num_chunks <= 1  # none when there are no cells


PAIRS = st.lists(st.tuples(st.sampled_from([GOOD, BAD, "91350100M000100Y4", None]),
                           st.sampled_from(["2023", "2024", None])), max_size=30)


@pytest.mark.parametrize("hash_kind", ["real", "constant"])
@given(pairs=PAIRS)
@settings(max_examples=80, deadline=None)
def test_repeated_years_match_pandas_duplicated(hash_kind: str,
                                                pairs: list[tuple]) -> None:
    """Rows repeating an earlier (enterprise_id, year) are those pandas' ``duplicated``
    finds among rows holding both, also when every hash collides."""
    frame = pd.DataFrame({"enterprise_id": pd.array([p[0] for p in pairs], dtype="string"),
                          "year": pd.array([p[1] for p in pairs], dtype="string")})
    keyed = frame["enterprise_id"].notna() & frame["year"].notna()
    expected = frame[keyed].duplicated(["enterprise_id", "year"], keep="first").reindex(
        frame.index, fill_value=False).to_numpy(dtype=bool)
    ids = pa.array(frame["enterprise_id"], from_pandas=True)
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    original = register_module.id_hash
    if hash_kind == "constant":
        register_module.id_hash = lambda values, salt: np.zeros(len(values), np.uint64)
    try:
        found = _repeated_years(frame, ids)
    finally:
        register_module.id_hash = original
    assert found.tolist() == expected.tolist()
    assert not (found & ~keyed.to_numpy()).any()


SHAPED = st.one_of(st.text(alphabet="0123456789ACTUZ c-", max_size=7),
                   st.from_regex(r"[ACTU0-9]?[0-9]{1,6}", fullmatch=True))


@settings(max_examples=300, deadline=None)
@given(st.lists(SHAPED, min_size=1, max_size=6),
       st.sampled_from([(None, 6, 6), (b"AT", 2, 4), (None, 4, 4)]),
       st.sampled_from(["string", "large_string"]))
def test_a_shape_told_by_bytes_is_the_regular_expression(cells: list[str], shape: tuple,
                                                         kind: str) -> None:
    """``surely_of_shape`` says yes only when every cell matches the column's pattern, and
    says yes to any column of valid cells (its cells rebuilt to match, when they do not)."""
    letters, fewest, most = shape
    pattern = (f"[{chr(letters[0])}-{chr(letters[1])}]" if letters else "") + \
        f"[0-9]{{{fewest},{most}}}"
    text = pa.array(cells, pa.string()).cast(kind)
    matches = pd.Series(cells, dtype="string").str.fullmatch(pattern).all()
    assert not register_module.surely_of_shape(text, *shape) or matches
    valid = [("C" if letters else "") + "0123456789"[:fewest + len(cell) % (most - fewest + 1)]
             for cell in cells]
    assert register_module.surely_of_shape(pa.array(valid, pa.string()).cast(kind), *shape)
