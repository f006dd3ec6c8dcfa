"""Exact money: golden values by hand, and properties against Python's Decimal."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.billing import creditcode
from pricing.billing.creditcode import check_char, valid_codes, valid_credit_code
from pricing.billing.money import (
    amount_fen,
    decimal_round_scaled,
    decimal_to_scaled,
    format_fixed,
    format_trimmed,
    parse_scaled,
    parse_scaled_arrow,
    round_half_up_div,
)


def _decimal_amount_fen(q: int, r: int, d: int, month: int) -> int:
    """The reference: yuan = (q/1000)·(r/10^9)·d/month, quantized half up to 0.01."""
    yuan = Decimal(q) / 1000 * Decimal(r) / 10**9 * d / month
    exact = Decimal(q * r * d) / Decimal(month * 10**12)  # same value without context limits
    assert abs(yuan - exact) < Decimal("1e-15") * max(1, exact)
    return int((exact * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_parse_scaled_golden() -> None:
    text = pd.Series([" 1.5 ", "007", "1.2345", "1.23400", "-1", "1e3", "", None, "1,000",
                      "１", "0.001", "9" * 20], index=range(10, 22))
    values, ok, why = parse_scaled(text, 3)
    assert list(values.index) == list(range(10, 22))
    # 1.5 kWh = 1500 milli; 007 = 7000; 1.23400 is exactly 1.234 = 1234; 0.001 = 1 milli
    assert values.tolist() == [1500, 7000, pd.NA, 1234, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA,
                               pd.NA, 1, pd.NA]
    assert ok.tolist() == [True, True, False, True, False, False, True, True, False, False,
                           True, False]
    assert why[12] == "more than 3 decimal places"
    assert why[14] == why[15] == why[18] == why[19] == "not a plain decimal number"
    assert why[21] == "too large"
    assert why[[10, 11, 16, 17]].isna().all()


def test_amount_fen_golden() -> None:
    # 1 kWh × 0.10 yuan = 0.10 yuan = 10 fen
    # 1e9 kWh × 0.30 × 20/31 = 193,548,387.0967… yuan → 19,354,838,710 fen (overflow path)
    # 0.005 kWh × 1 yuan × 1/2 = 0.0025 yuan = 0.25 fen → 0
    # 0.05 kWh × 0.1 yuan = 0.005 yuan = 0.5 fen, a tie → 1 fen (half up)
    fen = amount_fen(pd.Series([1000, 10**12, 5, 50]),
                     pd.Series([10**8, 3 * 10**8, 10**9, 10**8]),
                     pd.Series([31, 20, 1, 30]), pd.Series([31, 31, 2, 30]))
    assert fen.dtype == "int64"
    assert fen.tolist() == [10, 19_354_838_710, 0, 1]


def test_amount_fen_refuses_missing_and_negative_and_overflow() -> None:
    one = pd.Series([1])
    with pytest.raises(ValueError):
        amount_fen(pd.Series([-1]), one, one, one)
    with pytest.raises(ValueError):
        amount_fen(pd.Series([1], dtype="Int64").where([False]), one, one, one)
    big = pd.Series([2**62])
    with pytest.raises(OverflowError):
        amount_fen(big, big, pd.Series([31]), pd.Series([31]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(
    st.one_of(st.integers(0, 10**7), st.integers(0, 10**13)),   # milli kWh, up to 1e10 kWh
    st.one_of(st.integers(0, 10**9), st.integers(0, 5 * 10**10)),  # nano-yuan, up to 50 yuan
    st.integers(1, 31)), min_size=1, max_size=40), st.integers(28, 31), st.data())
def test_amount_fen_matches_decimal_half_up(rows, month, data) -> None:
    days = [min(d, month) for _, _, d in rows]
    fen = amount_fen(pd.Series([q for q, _, _ in rows]), pd.Series([r for _, r, _ in rows]),
                     pd.Series(days), pd.Series([month] * len(rows)))
    expected = [_decimal_amount_fen(q, r, d, month)
                for (q, r, _), d in zip(rows, days, strict=True)]
    assert fen.tolist() == expected


@given(st.integers(0, 10**6), st.integers(1, 31))
def test_amount_fen_rounds_exact_half_fen_ties_up(fen_whole, month) -> None:
    # choose q·r·d = (fen_whole + 0.5) × month × 10^10 exactly: q = (2·fen+1)·month·5, r = 10^9
    q = (2 * fen_whole + 1) * month * 5
    fen = amount_fen(pd.Series([q]), pd.Series([10**9]), pd.Series([1]), pd.Series([month]))
    assert fen.tolist() == [fen_whole + 1]


@given(st.lists(st.one_of(st.none(), st.integers(-(10**18), 10**18)), max_size=30),
       st.integers(0, 9))
def test_format_then_parse_round_trips(values, scale) -> None:
    series = pd.Series(values, dtype="Int64")
    text = format_fixed(series, scale)
    for value, shown in zip(values, text, strict=True):
        if value is None:
            assert shown is pd.NA
        else:
            assert Decimal(shown) == Decimal(value).scaleb(-scale)
            assert "e" not in shown.lower()
            assert (len(shown.partition(".")[2]) == scale)
    non_negative = series.where(series >= 0)
    back, ok, _ = parse_scaled(format_fixed(non_negative, scale), scale)
    fits = non_negative.isna() | (non_negative.abs() < 10**18)
    assert ok[fits].all()
    assert back[fits].equals(non_negative[fits])
    trimmed = format_trimmed(series, scale)
    for shown_fixed, shown_trim in zip(text, trimmed, strict=True):
        if shown_fixed is not pd.NA:
            assert Decimal(shown_fixed) == Decimal(shown_trim)
            assert not shown_trim.endswith(".")
            assert "." not in shown_trim or not shown_trim.endswith("0")


def test_format_golden() -> None:
    assert format_fixed(pd.Series([1234, 5, -5, 0]), 2).tolist() == ["12.34", "0.05", "-0.05",
                                                                     "0.00"]
    assert format_trimmed(pd.Series([100_000_000, 0, 123, 10]), 9).tolist() == [
        "0.1", "0", "0.000000123", "0.00000001"]
    assert format_trimmed(pd.Series([100]), 0).tolist() == ["100"]


def test_decimal_helpers() -> None:
    assert decimal_to_scaled(Decimal("0.10"), 9) == 100_000_000
    assert decimal_to_scaled(Decimal("3E+2"), 0) == 300
    with pytest.raises(ValueError):
        decimal_to_scaled(Decimal("0.0000000001"), 9)
    # 0.0000000025 yuan → 2.5 nano → 3 (half up); negative mirrors it
    assert decimal_round_scaled(Decimal("0.0000000025"), 9) == 3
    assert decimal_round_scaled(Decimal("-0.0000000025"), 9) == -3
    assert round_half_up_div(7, 2) == 4 and round_half_up_div(-7, 2) == -4
    assert round_half_up_div(5, 3) == 2 and round_half_up_div(4, 3) == 1


@given(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=17, max_size=17),
       st.sampled_from("0123456789ABCDEFGHJKLMNPQRTUWXY"))
def test_credit_code_accepts_exactly_its_check_char(first17, last) -> None:
    right = check_char(first17)
    result = valid_credit_code(pd.Series([first17 + right, first17 + last]))
    assert result.tolist() == [True, last == right]


def test_credit_code_golden() -> None:
    # 91350100M000100Y4: Σ value×weight = 1640 (M=21, Y=30), 1640 mod 31 = 28, 31 − 28 = 3
    assert check_char("91350100M000100Y4") == "3"
    codes = pd.Series(["91350100M000100Y43", "91350100M000100Y44", "91350100m000100Y43",
                       "91350100M000100Y4", None, "91350100I000100Y43"])
    assert valid_credit_code(codes).tolist() == [True, False, False, False, False, False]


_CODE_TEXT = st.one_of(
    st.none(),
    st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=17, max_size=17).map(
        lambda first17: first17 + check_char(first17)),
    st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXYIOZa统 ", min_size=16, max_size=19))


@given(st.lists(_CODE_TEXT, max_size=30), st.integers(min_value=0, max_value=3))
def test_credit_codes_on_arrow_text_match_a_plain_check(values: list[str | None],
                                                        skip: int) -> None:
    def plain(value: str | None) -> bool:
        return (value is not None and len(value) == 18
                and all(c in "0123456789ABCDEFGHJKLMNPQRTUWXY" for c in value)
                and check_char(value[:17]) == value[17])

    text = pa.array(["skipped"] * skip + values, pa.string()).slice(skip)  # an offset array
    assert valid_codes(text).tolist() == [plain(value) for value in values]


_EIGHTEEN_BYTES = st.one_of(
    st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=17, max_size=17).map(
        lambda first17: first17 + check_char(first17)),
    st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXYIOZa ", min_size=18, max_size=18),
    st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=15, max_size=15).map(
        lambda first15: first15 + "统"))  # 18 bytes, 16 characters


@given(st.lists(_EIGHTEEN_BYTES, min_size=1, max_size=30), st.integers(0, 3),
       st.sampled_from([1, 4, 1 << 15]))
def test_credit_codes_all_eighteen_bytes_match_a_plain_check(values: list[str],
                                                             skip: int, block: int) -> None:
    """Ids all 18 bytes long are checked on a byte matrix, a block of rows at a time: the
    same answers, whatever the block."""
    def plain(value: str) -> bool:
        return (len(value) == 18 and all(c in "0123456789ABCDEFGHJKLMNPQRTUWXY" for c in value)
                and check_char(value[:17]) == value[17])

    text = pa.array(["x" * 18] * skip + values, pa.string()).slice(skip)
    saved, creditcode._BLOCK_ROWS = creditcode._BLOCK_ROWS, block
    try:
        assert valid_codes(text).tolist() == [plain(value) for value in values]
    finally:
        creditcode._BLOCK_ROWS = saved


def _reference_scaled(text: str | None, scale: int) -> tuple[int | None, bool]:
    """SPEC decimals by hand: trimmed, ASCII digits with an optional fraction, at most
    ``scale`` significant decimals, at most 18 digits once scaled; empty is missing and fine."""
    if text is None or not text.strip():
        return None, True
    found = re.fullmatch(r"([0-9]+)(?:\.([0-9]+))?", text.strip())
    if found is None:
        return None, False
    whole, fraction = found.group(1).lstrip("0") or "0", (found.group(2) or "").rstrip("0")
    if len(fraction) > scale or len(whole) + scale > 18:
        return None, False
    return int(whole) * 10**scale + int(fraction.ljust(scale, "0") or "0"), True


_CELLS = st.one_of(
    st.none(), st.just(""), st.just("  "), st.from_regex(r"[0-9]{1,20}", fullmatch=True),
    st.from_regex(r"[0-9]{1,12}\.[0-9]{1,9}", fullmatch=True),
    st.from_regex(r"[ \t]{0,2}[0-9]{1,6}(\.[0-9]{1,4})?[ \t]{0,2}", fullmatch=True),
    st.sampled_from(["1e3", "-1", "1,000", ".5", "5.", "abc", "１", "0", "000"]))


@settings(max_examples=300)
@given(st.lists(_CELLS, max_size=60), st.sampled_from([0, 3, 6]))
def test_parse_scaled_arrow_matches_the_decimal_reference(cells: list[str | None],
                                                         scale: int) -> None:
    """Every path (a mostly empty column, few distinct texts, all plain digits, the general
    regex) gives the reference's value and verdict, and a reason exactly where refused."""
    values, ok, why = parse_scaled_arrow(pa.array(cells, pa.string()), scale)
    expected = [_reference_scaled(cell, scale) for cell in cells]
    assert values.to_pylist() == [value for value, _ in expected]
    assert ok.tolist() == [fine for _, fine in expected]
    assert [reason is None for reason in why.to_pylist()] == ok.tolist()


def test_parse_scaled_arrow_on_a_long_column_of_distinct_quantities() -> None:
    """A column long enough to be parsed without dictionary encoding, plain digits except a
    few cells, and one mostly empty: the reference's results again."""
    quantities = [str(7919 * row % 1_000_003) for row in range(45_000)]
    quantities[10], quantities[20_000], quantities[44_999] = "1.25", " 12 ", "x"
    sparse = ["" if row % 7 else "2.5" for row in range(45_000)]
    sparse[14] = "bad"
    for cells in (quantities, sparse):
        values, ok, why = parse_scaled_arrow(pa.array(cells, pa.string()), 3)
        expected = [_reference_scaled(cell, 3) for cell in cells]
        assert values.to_pylist() == [value for value, _ in expected]
        assert ok.tolist() == [fine for _, fine in expected]
        assert [reason is None for reason in why.to_pylist()] == ok.tolist()
