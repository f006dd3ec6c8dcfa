"""Scaled integers as decimal text (``1234``, scale 2 → ``12.34``), made in numpy.

Money (:mod:`pricing.billing.money`) and the classification's evidence numbers write their
decimals through it: exact integers in, plain text out, no float formatting.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

# "0000" … "9999" as 4-byte words: a value's digits are looked up four at a time.
_FOUR_DIGITS = np.frombuffer("".join(f"{v:04d}" for v in range(10_000)).encode(),
                             dtype=np.uint32)


def scaled_text(raw: np.ndarray, missing: np.ndarray, scale: int, *, trim: bool
                ) -> pa.LargeStringArray:
    """The text of int64 values scaled by ``10**scale`` (``missing`` null), built as bytes in
    numpy: amount columns have half a million rows, and Arrow's integer-to-text cast and
    joins cost several times more. ``trim`` drops trailing zeros of the fraction (and a
    point left alone).

    Each value becomes a row of zero-padded ASCII digits, four at a time from a table, with
    a slot for the sign and one for the point; the kept bytes of each row are contiguous
    (sign, whole digits, point, fraction less any trimmed zeros) and, read row by row,
    are the UTF-8 data of an Arrow string array.
    """
    magnitude = np.abs(raw).astype(np.uint64)  # |−2^63| wraps to 2^63, still exact
    digits = _ascii_digits(magnitude, scale + 1)
    whole_width = digits.shape[1] - scale
    point = 1 + whole_width  # column of the point; column 0 is a spare sign slot
    width = point + (1 + scale if scale else 0)
    body = np.empty((len(raw), width), dtype=np.uint8)
    body[:, 0] = ord("0")
    body[:, 1:point] = digits[:, :whole_width]
    if scale:
        body[:, point] = ord(".")
        body[:, point + 1:] = digits[:, whole_width:]
    negative = raw < 0
    start = point - _digit_count(magnitude // np.uint64(10**scale), whole_width) - negative
    body[np.flatnonzero(negative), start[negative]] = ord("-")
    end = np.full(len(raw), width, dtype=np.int64)
    if trim and scale:
        fraction = magnitude % np.uint64(10**scale)
        zeros = sum((fraction % np.uint64(10**k) == 0).astype(np.int64)
                    for k in range(1, scale + 1))
        end -= zeros + (zeros == scale)  # a fraction of zeros takes its point along
    start[missing] = end[missing] = 0
    spans = np.arange(width + 1)
    kept = ((spans[:-1] >= spans[:, None, None]) & (spans[:-1] < spans[None, :, None]))
    data = body[kept.reshape(-1, width).take(start * (width + 1) + end, axis=0)]
    offsets = np.zeros(len(raw) + 1, dtype=np.int64)
    np.cumsum(end - start, out=offsets[1:])
    validity = (pa.py_buffer(np.packbits(~missing, bitorder="little")) if missing.any()
                else None)
    return pa.LargeStringArray.from_buffers(len(raw), pa.py_buffer(offsets),
                                            pa.py_buffer(data), validity)


def _ascii_digits(magnitude: np.ndarray, least: int) -> np.ndarray:
    """Rows of ASCII digits, zero-padded on the left to a multiple of 4 and at least
    ``least``, one row per value."""
    widest = max(len(str(int(magnitude.max(initial=0)))), least)
    groups = -(-widest // 4)
    quads = np.empty((len(magnitude), groups), dtype=np.uint32)
    rest = magnitude
    for group in range(groups - 1, -1, -1):
        rest, low = np.divmod(rest, np.uint64(10_000))
        quads[:, group] = _FOUR_DIGITS.take(low)
    return quads.view(np.uint8).reshape(len(magnitude), 4 * groups)


def _digit_count(values: np.ndarray, most: int) -> np.ndarray:
    """How many digits each value has (0 has one), for values of at most ``most`` digits."""
    count = np.ones(len(values), dtype=np.int64)
    for power in range(1, most):
        count += values >= np.uint64(10**power)
    return count
