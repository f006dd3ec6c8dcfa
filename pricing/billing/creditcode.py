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

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CODE_PATTERN = f"^[{ALPHABET}]{{18}}$"

# byte -> alphabet value; bytes outside the alphabet never reach the lookup (checked first)
_VALUE_OF_BYTE = np.zeros(256, dtype=np.int64)
for _value, _char in enumerate(ALPHABET):
    _VALUE_OF_BYTE[ord(_char)] = _value
_CODE_OF_BYTE = np.full(256, 255, dtype=np.uint8)  # 255: not in the alphabet
_CODE_OF_BYTE[[ord(char) for char in ALPHABET]] = np.arange(len(ALPHABET))
_WEIGHT_VECTOR = np.array(WEIGHTS, dtype=np.int64)


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

    Vectorized: the well-formed codes, 18 ASCII bytes each, are laid out as an (n, 18) byte
    matrix straight from Arrow's buffer, and the weighted sum is one matrix product. When
    every text is 18 bytes (an extract's or a register's ids, nearly always) the regex is
    skipped: each byte's alphabet value is looked up once (255 outside the alphabet) and the
    sum taken a character at a time, three times faster. Missing values and wrong shapes are
    False, never an error.
    """
    matrix = _byte_matrix(text)
    if matrix is not None:  # every id 18 bytes (as nearly always): one lookup per byte
        values = np.ascontiguousarray(_CODE_OF_BYTE[matrix].T)  # a row per character
        total = np.zeros(len(text), dtype=np.int32)
        for place, weight in enumerate(WEIGHTS):
            total += values[place] * np.int32(weight)
        return (values.max(axis=0) < len(ALPHABET)) & ((31 - total % 31) % 31 == values[17])
    well_formed = pc.fill_null(pc.match_substring_regex(text, _CODE_PATTERN), False).to_numpy(
        zero_copy_only=False)
    result = np.zeros(len(text), dtype=bool)
    if well_formed.any():
        codes = text.filter(pa.array(well_formed)).cast(pa.large_string())
        _, offsets, data = codes.buffers()
        first = int(np.frombuffer(offsets, dtype=np.int64)[codes.offset])
        raw = np.frombuffer(data, dtype=np.uint8)[first : first + 18 * len(codes)]
        values = _VALUE_OF_BYTE[raw.reshape(-1, 18)]
        expected = (31 - (values[:, :17] @ _WEIGHT_VECTOR) % 31) % 31
        result[well_formed] = expected == values[:, 17]
    return result


def all_eighteen_bytes(text: pa.Array) -> bool:
    """Whether every text is 18 bytes long, none missing (the fast case of
    :func:`valid_codes`)."""
    return _byte_matrix(text) is not None


def _byte_matrix(text: pa.Array) -> np.ndarray | None:
    """The ids' bytes as an (n, 18) matrix straight from Arrow's buffer when every id is 18
    bytes long (none missing), else None."""
    if len(text) == 0 or text.null_count or not pa.types.is_string(text.type):
        return None
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[
        text.offset : text.offset + len(text) + 1]
    if int(offsets[-1] - offsets[0]) != 18 * len(text) or not (np.diff(offsets) == 18).all():
        return None
    first = int(offsets[0])
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)
    return data[first : first + 18 * len(text)].reshape(len(text), 18)
