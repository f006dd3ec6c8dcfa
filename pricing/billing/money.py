"""Exact money: decimal text <-> scaled integers, the amount formula, formatting.

docs/design.md "Numbers and money": quantities are milli-units, base prices micro-yuan, rates
nano-yuan, amounts fen, all integers; the amount of a surcharge line is
``round_half_up(quantity_milli × rate_nano × days / (days_in_month × 10^10))`` (SPEC: 四舍五入 to
0.01 yuan per line). No float ever carries money; floats only bound magnitudes to choose between
the int64 fast path and exact Python integers.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pricing.bytematrix import filled_cells, stripped
from pricing.decimaltext import scaled_text

INT64_MAX = np.iinfo(np.int64).max
_MAX_DIGITS = 18  # any 18-digit integer fits int64
_FAST_PATH_BOUND = 2.0**62  # q·r·d below this fits int64 with room for the rounding term
# q·r·d below 2^94 (so the quotient is below 2^61) with r·d in int64 and days_in_month at most
# 10^5: a float quotient is off by a few thousand at most, so its remainder fits int64.
_WIDE_BOUND = 2.0**94
_WIDE_MONTHS = 100_000
_DECIMAL_TEXT = r"^(?P<whole>[0-9]+)(?:\.(?P<frac>[0-9]+))?$"


def _to_string_array(text: pd.Series) -> pa.Array:
    array = pa.array(text.astype("string"), type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _to_pandas_int(array: pa.Array, index: pd.Index) -> pd.Series:
    values = array.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    return pd.Series(values.array, index=index, dtype=pd.Int64Dtype())


def parse_scaled(text: pd.Series, scale: int) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Decimal text to integers × 10^scale: ``(values, ok, why)``, aligned on ``text.index``.

    Strict, because a misread figure is money (SPEC: decimals ≥ 0): surrounding spaces are
    stripped, but signs, exponents, thousands separators and full-width digits are refused.
    Trailing zeros beyond ``scale`` are accepted (``1.2500`` is exactly ``1.25``); any other
    digit beyond it is "more than N decimal places". Empty or missing → ``<NA>`` with ok True
    (whether a value is required is the caller's rule). ``why`` is ``<NA>`` where ok.
    """
    values, ok, why = parse_scaled_arrow(_to_string_array(text), scale)
    index = text.index
    return (
        _to_pandas_int(values, index),
        pd.Series(ok, index=index, dtype=bool),
        pd.Series(why.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get).array,
                  index=index, dtype=pd.StringDtype()),
    )


def parse_scaled_arrow(text: pa.Array, scale: int) -> tuple[pa.Array, np.ndarray, pa.Array]:
    """:func:`parse_scaled` on an Arrow string array: ``(int64 values, ok, why)``.

    Columns such as ``quota`` or ``base_price`` repeat few distinct texts, so those are parsed
    once each (dictionary encoding); plain digit strings take a cast instead of a regex. A
    column mostly empty (optional figures) parses only its filled cells: an empty cell is
    missing and fine, and needs neither hashing nor a cast.
    """
    cells = filled_cells(text)
    if cells is not None and 2 * int(cells.sum()) < len(text):
        filled = np.flatnonzero(cells)
        return _scattered(len(text), filled, *parse_scaled_arrow(
            text.take(pa.array(filled, type=pa.int64())), scale))
    if _mostly_distinct(text):
        return _parse_distinct(text, scale)
    encoded = pc.dictionary_encode(text)
    if len(encoded.dictionary) * 2 < len(text):
        values, ok, why = _parse_distinct(encoded.dictionary, scale)
        codes = encoded.indices
        missing = pc.is_null(codes).to_numpy(zero_copy_only=False)
        ok_of = np.append(ok, True)
        at = codes.fill_null(len(ok)).to_numpy(zero_copy_only=False)
        return pc.take(values, codes), ok_of[at], pc.if_else(pa.array(missing), pa.scalar(
            None, pa.string()), pc.take(why, codes))
    return _parse_distinct(text, scale)


def _scattered(rows: int, at: np.ndarray, values: pa.Array, ok: np.ndarray, why: pa.Array
               ) -> tuple[pa.Array, np.ndarray, pa.Array]:
    """Results for the cells at ``at`` placed among ``rows`` cells, the others empty:
    missing, fine, no reason."""
    numbers = np.zeros(rows, dtype=np.int64)
    numbers[at] = pc.fill_null(values, 0).to_numpy(zero_copy_only=False)
    present = np.zeros(rows, dtype=bool)
    present[at] = pc.is_valid(values).to_numpy(zero_copy_only=False)
    fine = np.ones(rows, dtype=bool)
    fine[at] = ok
    reasons = pa.nulls(rows, pa.string())
    if not ok.all():
        bad = np.flatnonzero(~ok)
        text = np.full(rows, None, dtype=object)
        text[at[bad]] = why.take(pa.array(bad, type=pa.int64())).to_numpy(zero_copy_only=False)
        reasons = pa.array(text, type=pa.string())
    return pa.array(numbers, type=pa.int64(), mask=~present), fine, reasons


def _mostly_distinct(text: pa.Array, sample: int = 20_000) -> bool:
    """Whether a leading sample already shows more than half distinct texts (quantities):
    then encoding the whole column first would cost more than it saves."""
    if len(text) <= 2 * sample:
        return False
    return len(pc.unique(text.slice(0, sample))) * 2 > sample


def _parse_distinct(text: pa.Array, scale: int) -> tuple[pa.Array, np.ndarray, pa.Array]:
    """Plain digit strings (and empties) by a cast; only the others through the regex."""
    bare = stripped(text)
    plain = _plain_digits(bare, _MAX_DIGITS - scale)
    if pc.all(plain).as_py():  # every cell plain digits (quantities): the cast alone
        return (pc.multiply(pc.cast(bare, pa.int64()), 10**scale),
                np.ones(len(text), dtype=bool), pa.nulls(len(text), pa.string()))
    simple = pc.or_(plain, pc.fill_null(pc.equal(bare, ""), True)).to_numpy(
        zero_copy_only=False)
    values = pc.multiply(pc.cast(pc.if_else(plain, bare, pa.scalar(None, pa.string())),
                                 pa.int64()), 10**scale)
    if simple.all():
        return values, np.ones(len(text), dtype=bool), pa.nulls(len(text), pa.string())
    others = np.flatnonzero(~simple)
    other_values, other_ok, other_why = _parse_general(pc.take(bare, others), scale)
    present = pc.is_valid(values).to_numpy(zero_copy_only=False)
    numbers = pc.fill_null(values, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    present[others] = pc.is_valid(other_values).to_numpy(zero_copy_only=False)
    numbers[others] = pc.fill_null(other_values, 0).to_numpy(zero_copy_only=False)
    ok = np.ones(len(text), dtype=bool)
    ok[others] = other_ok
    why = np.full(len(text), None, dtype=object)
    why[others] = other_why.to_numpy(zero_copy_only=False)
    return (pa.array(numbers, type=pa.int64(), mask=~present), ok,
            pa.array(why, type=pa.string()))


def _plain_digits(text: pa.Array, most: int) -> pa.Array:
    """``^[0-9]{1,most}$`` (missing → False) by two kernels that are cheaper than a regex."""
    digits = pc.and_(pc.ascii_is_decimal(text), pc.less_equal(pc.binary_length(text), most))
    return pc.fill_null(digits, False)


def _parse_general(bare: pa.Array, scale: int) -> tuple[pa.Array, np.ndarray, pa.Array]:
    empty = pc.fill_null(pc.equal(bare, ""), True)
    parts = pc.extract_regex(bare, _DECIMAL_TEXT)
    well_formed = pc.fill_null(pc.is_valid(parts), False)
    whole = pc.utf8_ltrim(pc.struct_field(parts, "whole"), "0")
    whole = pc.if_else(pc.equal(whole, ""), "0", whole)
    frac = pc.utf8_rtrim(pc.struct_field(parts, "frac"), "0")
    too_precise = pc.greater(pc.utf8_length(frac), scale)
    too_large = pc.greater(pc.add(pc.utf8_length(whole), scale), _MAX_DIGITS)
    good = pc.and_(well_formed, pc.invert(pc.or_(too_precise, too_large)))
    good = pc.fill_null(good, False)
    digits = pc.binary_join_element_wise(whole, pc.utf8_rpad(frac, scale, "0"), "")
    digits = pc.if_else(good, digits, pa.scalar(None, pa.string()))
    values = pc.cast(digits, pa.int64())

    why = pc.if_else(
        pc.invert(well_formed), "not a plain decimal number",
        pc.if_else(too_precise, f"more than {scale} decimal places", "too large"))
    why = pc.if_else(pc.or_(good, empty), pa.scalar(None, pa.string()), why)
    ok = pc.or_(good, empty)
    return values, ok.to_numpy(zero_copy_only=False), why


def _int64_values(series: pd.Series | np.ndarray, name: str) -> np.ndarray:
    if isinstance(series, np.ndarray) and series.dtype.kind == "i":
        return series.astype(np.int64, copy=False)  # plain integers: nothing is missing
    values = pd.Series(series)
    if values.isna().any():
        raise ValueError(f"{name} has missing values")
    return values.to_numpy(dtype=np.int64)


def amount_fen(quantity_milli: pd.Series | np.ndarray, rate_nano: pd.Series | np.ndarray,
               days: pd.Series | np.ndarray, days_in_month: pd.Series | np.ndarray) -> pd.Series:
    """Exact ``round_half_up(q × r × d / (D × 10^10))`` per line, in fen (int64).

    Rows whose product provably fits int64 (a float upper bound below 2^62, far beyond float
    error) are computed in int64; products up to 2^94 by a float quotient corrected with the
    exact remainder (:func:`_fen_wide`); any others in exact Python integers. Inputs must be
    non-negative with ``days_in_month`` positive (amounts are never negative); a result that
    does not fit int64 raises OverflowError rather than wrap.
    """
    index = quantity_milli.index if isinstance(quantity_milli, pd.Series) else None
    q = _int64_values(quantity_milli, "quantity_milli")
    r = _int64_values(rate_nano, "rate_nano")
    d = _int64_values(days, "days")
    month = _int64_values(days_in_month, "days_in_month")
    if (q < 0).any() or (r < 0).any() or (d < 0).any() or (month <= 0).any():
        raise ValueError("amount_fen needs non-negative quantities, rates and days, and "
                         "positive days_in_month")
    denominator = month * 10**10
    rate_days = r.astype(np.float64) * d
    bound = q.astype(np.float64) * rate_days
    fast = bound < _FAST_PATH_BOUND
    if fast.all():  # the usual case: no masks, no copies
        fen = (q * r * d + denominator // 2) // denominator
        return pd.Series(fen, index=index, dtype=np.int64)
    wide = (rate_days < _FAST_PATH_BOUND) & (bound < _WIDE_BOUND) & (month <= _WIDE_MONTHS)
    if wide.all():  # exact for the fast rows too: one pass, no masks
        return pd.Series(_fen_wide(q, r * d, denominator, bound), index=index,
                         dtype=np.int64)
    fen = np.empty(len(q), dtype=np.int64)
    fen[fast] = (q[fast] * r[fast] * d[fast] + denominator[fast] // 2) // denominator[fast]
    wide &= ~fast
    fen[wide] = _fen_wide(q[wide], r[wide] * d[wide], denominator[wide], bound[wide])
    slow = ~fast & ~wide
    if slow.any():
        den = denominator[slow].astype(object)
        exact = (q[slow].astype(object) * r[slow].astype(object) * d[slow].astype(object)
                 + den // 2) // den
        if max(exact) > INT64_MAX:
            raise OverflowError("a surcharge amount does not fit a 64-bit integer of fen")
        fen[slow] = np.array(exact, dtype=np.int64)
    return pd.Series(fen, index=index, dtype=np.int64)


def _fen_wide(q: np.ndarray, rate_days: np.ndarray, denominator: np.ndarray,
              product: np.ndarray) -> np.ndarray:
    """``(q·rate_days + den // 2) // den`` exactly where the product may overflow int64.

    The quotient is estimated from ``product`` (``q·rate_days`` in float64, relative error
    below 2^-50), then corrected by the exact remainder ``q·rate_days + den // 2 −
    estimate·den``: each term wraps modulo 2^64, but the remainder itself is small, so the
    wrapped difference is its true value."""
    half = denominator // 2
    estimate = np.floor((product + half) / denominator).astype(np.int64)
    wrapped = (q.astype(np.uint64) * rate_days.astype(np.uint64) + half.astype(np.uint64)
               - estimate.astype(np.uint64) * denominator.astype(np.uint64))
    return estimate + wrapped.view(np.int64) // denominator


def round_half_up_div(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero (四舍五入), exactly."""
    if denominator == 0:
        raise ZeroDivisionError("round_half_up_div by zero")
    negative = (numerator < 0) != (denominator < 0)
    quotient, remainder = divmod(abs(numerator), abs(denominator))
    if 2 * remainder >= abs(denominator):
        quotient += 1
    return -quotient if negative else quotient


def _decimal_parts(value: Decimal, scale: int) -> tuple[int, int]:
    """``value × 10^scale`` as (numerator, denominator) integers, without context rounding."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    sign, digits, exponent = value.as_tuple()
    coefficient = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    shift = int(exponent) + scale
    if shift >= 0:
        return coefficient * 10**shift, 1
    return coefficient, 10**-shift


def decimal_to_scaled(value: Decimal, scale: int) -> int:
    """``value × 10^scale`` as an int; ValueError if that is not a whole number.

    For tariff constants read as Decimal (design: YAML floats are Decimal), so a rate with more
    decimals than its unit holds is an error, not a silent rounding.
    """
    numerator, denominator = _decimal_parts(value, scale)
    whole, remainder = divmod(numerator, denominator)
    if remainder:
        raise ValueError(f"{value} has more than {scale} decimal places")
    return whole


def decimal_round_scaled(value: Decimal, scale: int) -> int:
    """``value × 10^scale`` rounded half away from zero (design: a reduced rate that needs more
    than 9 decimals is rounded half up to the nano-yuan)."""
    numerator, denominator = _decimal_parts(value, scale)
    return round_half_up_div(numerator, denominator)


def format_fixed(values: pd.Series, scale: int) -> pd.Series:
    """Scaled integers as plain decimals with exactly ``scale`` decimals (``1234``, 2 → ``12.34``;
    ``-5`` → ``-0.05``); ``<NA>`` stays ``<NA>``. SPEC outputs: no exponent, no float noise."""
    return _scaled_text(values, scale, trim=False)


def format_trimmed(values: pd.Series, scale: int) -> pd.Series:
    """Like :func:`format_fixed` without trailing zeros (rates: ``100000000`` nano → ``0.1``,
    ``0`` → ``0``)."""
    return _scaled_text(values, scale, trim=True)


def _scaled_text(values: pd.Series, scale: int, *, trim: bool) -> pd.Series:
    """The text of scaled integers (:func:`pricing.decimaltext.scaled_text`), in pandas."""
    integers = pd.Series(values).astype(pd.Int64Dtype())
    text = scaled_text(integers.to_numpy(dtype=np.int64, na_value=0),
                       integers.isna().to_numpy(), scale, trim=trim)
    return pd.Series(pd.arrays.ArrowStringArray(text), index=integers.index)
