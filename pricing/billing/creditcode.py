"""Unified social credit code check (统一社会信用代码, GB 32100-2015; SPEC "Words").

The 18th character is a check character over the first 17: each character's value in the
alphabet ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (I, O, S, V, Z excluded) is weighted by
``3^i mod 31`` and ``check = (31 - sum mod 31) mod 31``. An id that fails is rejected.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pricing.bytematrix import byte_matrix

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CODE_PATTERN = f"^[{ALPHABET}]{{18}}$"

_CODE_OF_BYTE = np.full(256, 255, dtype=np.uint8)  # byte -> alphabet value, 255 outside
_CODE_OF_BYTE[[ord(char) for char in ALPHABET]] = np.arange(len(ALPHABET))


def check_char(first17: str) -> str:
    """The check character for the first 17 characters of a credit code."""
    if len(first17) != 17 or any(c not in ALPHABET for c in first17):
        raise ValueError(f"expected 17 characters of {ALPHABET}, found {first17!r}")
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def valid_credit_code(series: pd.Series) -> pd.Series:
    """True where the text is an 18-character code whose check character is right
    (:func:`valid_codes` of a pandas column)."""
    text = pa.array(series.astype("string"), type=pa.string(), from_pandas=True)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    return pd.Series(valid_codes(text), index=series.index, dtype=bool)


def valid_codes(text: pa.Array) -> np.ndarray:
    """True where the text is an 18-character code whose check character is right.

    Vectorized on an (n, 18) byte matrix straight from Arrow's buffer: each byte's alphabet
    value is looked up once (255 outside the alphabet) and the weighted sum taken a
    character at a time. When every text is 18 bytes (an extract's or a register's ids,
    nearly always) that is all; otherwise the well-formed ones are found by a regex first.
    Missing values and wrong shapes are False, never an error.
    """
    matrix = _eighteen_bytes(text)
    if matrix is not None:
        return _checked(matrix)
    well_formed = pc.fill_null(pc.match_substring_regex(text, _CODE_PATTERN), False).to_numpy(
        zero_copy_only=False)
    result = np.zeros(len(text), dtype=bool)
    if well_formed.any():
        codes = _eighteen_bytes(text.filter(pa.array(well_formed)))
        assert codes is not None  # the regex admits 18 ASCII characters only
        result[well_formed] = _checked(codes)
    return result


def all_eighteen_bytes(text: pa.Array) -> bool:
    """Whether every text is 18 bytes long, none missing (the fast case of
    :func:`valid_codes`)."""
    return _eighteen_bytes(text) is not None


def _eighteen_bytes(text: pa.Array) -> np.ndarray | None:
    matrix = byte_matrix(text)
    return matrix if matrix is not None and matrix.shape[1] == 18 else None


_BLOCK_ROWS = 1 << 15


def _checked(matrix: np.ndarray) -> np.ndarray:
    """Per row of an (n, 18) byte matrix: all in the alphabet, and the check character right.

    A block of rows at a time, so the temporaries (alphabet values a row per character,
    weighted sums) stay small and warm instead of each as large as the column."""
    result = np.empty(len(matrix), dtype=bool)
    for start in range(0, len(matrix), _BLOCK_ROWS):
        block = slice(start, start + _BLOCK_ROWS)
        values = np.ascontiguousarray(_CODE_OF_BYTE[matrix[block]].T)  # a row per character
        total = np.zeros(values.shape[1], dtype=np.int32)
        for place, weight in enumerate(WEIGHTS):
            total += values[place] * np.int32(weight)
        result[block] = ((values.max(axis=0) < len(ALPHABET))
                         & ((31 - total % 31) % 31 == values[17]))
    return result
