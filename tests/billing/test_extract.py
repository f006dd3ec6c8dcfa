"""Billing extracts: every row read is clean or rejected with the right reason."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing.billing.creditcode import check_char
from pricing.billing.encoding import detect_encoding, to_utf8
from pricing.billing.extract import HEADER_ALIASES, _normal_period, read_extracts
from pricing.errors import InputError

GOOD = "91350100M000100Y43"  # check character computed by hand in test_money
BAD = "91350100M000100Y44"
HEADER = "utility,account_id,enterprise_id,period,quantity,production_quantity,quota,base_price"


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_chinese_headers_gbk_and_reasons(tmp_path: Path) -> None:
    text = (
        "类别,户号,统一社会信用代码,计费月份,用量,生产用量,定额,基础单价,备注\n"
        f"电,001,{GOOD},202403,100.5,,,0.6,x\n"          # 2 duplicate of line 10
        f"水,001,{GOOD},2024-03,10,,8,3.5,\n"             # 3 clean
        f"电,002,{BAD},2024-03,1,,,,\n"                    # 4 bad check char
        f"电,003,{GOOD},2024-3,1,,,,\n"                    # 5 period format
        f"电,004,{GOOD},2024-03,1.0001,2,,,\n"             # 6 4 decimals beats production
        f"电,005,{GOOD},2024-03,1,2,,,\n"                  # 7 production 2 > 1
        f"煤,006,{GOOD},2024-03,1,,,,\n"                   # 8 unknown utility
        f"电,,{GOOD},2024-03,,,,,\n"                        # 9 empty account beats empty qty
        f"电,001,{GOOD},2024-03,5,,,,\n"                    # 10 duplicate of line 2
        f"电,007,{GOOD},2024-04,5,,,,\n"                    # 11 not the run's month
    )
    extract = read_extracts([_write(tmp_path, "a.csv", text, "gbk")], period="2024-03")
    assert extract.rejects[["line", "reason_code"]].values.tolist() == [
        [2, "duplicate_line"], [4, "bad_enterprise_id"], [5, "wrong_period"],
        [6, "bad_number"], [7, "production_exceeds_total"], [8, "unknown_utility"],
        [9, "missing_account"], [10, "duplicate_line"], [11, "wrong_period"]]
    assert "'1.0001'" in extract.rejects.loc[3, "detail"]
    assert "quantity" in extract.rejects.loc[3, "detail"]
    assert extract.rejects.loc[5, "utility"] == "煤"  # the line's own raw values
    clean = extract.clean.iloc[0]
    # 10 m³ → 10,000 milli; quota 8 → 8,000; 3.5 yuan → 3,500,000 micro
    assert (clean["line"], clean["utility"], clean["account_id"], clean["period"]) == (
        3, "water", "001", "2024-03")
    assert (clean["quantity_milli"], clean["production_milli"], clean["quota_milli"],
            clean["base_price_micro"]) == (10_000, 10_000, 8_000, 3_500_000)
    assert extract.inputs[0][2] == 10


def test_duplicates_and_conflicts_cross_files(tmp_path: Path) -> None:
    second = "91330212MA2AAAAAA" + check_char("91330212MA2AAAAAA")
    a = _write(tmp_path, "a.csv", f"{HEADER}\nelectricity,0042,{GOOD},2024-03,1,,,\n"
               f"water,9,{GOOD},2024-03,1,,,\n")
    b = _write(tmp_path, "b.csv", f"{HEADER}\r\nElectricity,0042,{GOOD},2024-03,2,,,\r\n"
               f"water,9,{second},2024-02,1,,,\r\nwater,10,{second},2024-02,1,,,\r\n")
    extract = read_extracts([b, a], period=None)
    rejects = extract.rejects
    # b comes first (source order as given), then a
    assert rejects[["source", "line", "reason_code"]].values.tolist() == [
        [b.name, 2, "duplicate_line"], [b.name, 3, "account_conflict"],
        [a.name, 2, "duplicate_line"], [a.name, 3, "account_conflict"]]
    assert extract.clean["account_id"].tolist() == ["10"]


def test_missing_column_and_empty_files_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing required column 'quantity' \\(or 用量\\)"):
        read_extracts([_write(tmp_path, "a.csv", "utility,account_id,enterprise_id,period\n"
                              "electricity,1,x,2024-03\n")], period=None)
    with pytest.raises(InputError, match="empty file"):
        read_extracts([_write(tmp_path, "b.csv", "")], period=None)
    with pytest.raises(InputError, match="no data rows"):
        read_extracts([_write(tmp_path, "c.csv", HEADER + "\n")], period=None)
    undecodable = tmp_path / "d.csv"
    undecodable.write_bytes(HEADER.encode() + b"\n\xff\xfe\xff,1\n")
    with pytest.raises(InputError, match="cannot decode"):
        read_extracts([undecodable], period=None)


def test_line_numbers_count_blank_lines_and_quoted_newlines(tmp_path: Path) -> None:
    text = (f"\ufeff{HEADER}\r\n\r\nelectricity,\"a\r\nb\",{GOOD},2024-03,1,,,\r\n"
            f"electricity,c,{BAD},2024-03,1,,,\r\n")
    extract = read_extracts([_write(tmp_path, "a.csv", text)], period=None)
    assert extract.clean["line"].tolist() == [3]
    assert extract.rejects["line"].tolist() == [5]


def test_line_numbers_of_fully_quoted_files(tmp_path: Path) -> None:
    """Every cell quoted (a typical export): one record per line is known from the counts,
    and a quoted newline without any blank line still shifts the lines after it."""
    def quoted(*cells: str) -> str:
        return ",".join(f'"{cell}"' for cell in cells) + "\r\n"

    header = quoted(*HEADER.split(","))
    good = quoted("electricity", "a", GOOD, "2024-03", "1", "", "", "")
    bad = quoted("electricity", "c", BAD, "2024-03", "1", "", "", "")
    plain = read_extracts([_write(tmp_path, "a.csv", header + good + bad)], period=None)
    assert (plain.clean["line"].tolist(), plain.rejects["line"].tolist()) == ([2], [3])
    spanning = good.replace('"a"', '"a\nb"')
    shifted = read_extracts([_write(tmp_path, "b.csv", header + spanning + bad)], period=None)
    assert (shifted.clean["line"].tolist(), shifted.rejects["line"].tolist()) == ([2], [4])


def test_encodings_detected() -> None:
    assert detect_encoding("类别".encode()) == "utf-8"
    assert detect_encoding("\ufeff类别".encode()) == "utf-8-sig"
    assert detect_encoding("类别".encode("gbk")) == "gb18030"
    assert to_utf8("类别".encode("gbk"), "x", "gbk") == "类别".encode()
    with pytest.raises(InputError, match="cannot decode as utf-8"):
        to_utf8("类别".encode("gbk"), "x", "utf-8")


def test_header_aliases_cover_every_column() -> None:
    assert set(HEADER_ALIASES.values()) == set(HEADER.split(","))


_LINE = st.fixed_dictionaries({
    "utility": st.sampled_from(["electricity", "water", "电", "水", "gas", ""]),
    "account_id": st.sampled_from(["1", "2", "3", "", " 4 "]),
    "enterprise_id": st.sampled_from([GOOD, BAD, ""]),
    "period": st.sampled_from(["2024-03", "202403", "2024-13", "x"]),
    "quantity": st.sampled_from(["1", "2.5", "", "-1", "1.0001", "1e3"]),
    "production_quantity": st.sampled_from(["", "1", "3"]),
    "quota": st.sampled_from(["", "1", "x"]),
    "base_price": st.sampled_from(["", "0.1234567", "3.5"]),
})


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_LINE, min_size=1, max_size=30))
def test_nothing_is_dropped_silently(tmp_path: Path, rows) -> None:
    body = "\n".join(",".join(row.values()) for row in rows)
    path = _write(tmp_path, "h.csv", f"{HEADER}\n{body}\n")
    extract = read_extracts([path], period="2024-03")
    assert len(extract.clean) + len(extract.rejects) == len(rows) == extract.inputs[0][2]
    assert sorted(extract.clean["line"].tolist() + extract.rejects["line"].tolist()) == list(
        range(2, len(rows) + 2))
    assert extract.rejects["reason_code"].notna().all()
    keys = extract.clean[["utility", "account_id", "period"]]
    assert not keys.duplicated().any()
    assert (extract.clean["production_milli"] <= extract.clean["quantity_milli"]).all()
    frame = pd.DataFrame(rows)
    assert set(extract.rejects["line"]) >= {i + 2 for i in frame.index[frame["quantity"] == ""]}


_PERIODS = st.sampled_from(["2025-01", "202501", "2025-13", "2025/01", "2024-12", "abcdefg"])


@settings(max_examples=200)
@given(st.one_of(st.lists(_PERIODS, min_size=1, max_size=8),
                 st.builds(lambda text, n: [text] * n, _PERIODS, st.integers(1, 30))))
def test_periods_normalized_alike_whether_one_or_many(texts: list[str]) -> None:
    """A column of one period (read on its bytes) or of several (hashed): each line gets its
    month (YYYYMM written YYYY-MM; null if unreadable), equal months one code, -1 none."""
    lines, codes, months = _normal_period(pa.array(texts, pa.string()))
    expected = [f"{text[:4]}-{text[4:]}" if text.isdigit() and text[4:] in MONTHS else
                text if text[4:5] == "-" and text[5:] in MONTHS else None for text in texts]
    assert lines.to_pylist() == expected
    distinct = list(dict.fromkeys(month for month in expected if month is not None))
    assert months.to_pylist() == distinct
    assert codes.tolist() == [-1 if month is None else distinct.index(month)
                              for month in expected]


MONTHS = {f"{month:02d}" for month in range(1, 13)}
