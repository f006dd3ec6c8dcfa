"""Where texts are in one fixed array of distinct texts, asked piece after piece.

A streamed month looks up every piece's enterprise ids in the same classification table.
Arrow's ``index_in`` builds a hash set of its value set on every call, so with a province's
million enterprises each piece of half a million lines hashed the million again (twice, one
per half). :class:`TextIndex` hashes the values once. The fast path is for keys of one byte
width up to 32 (credit codes are 18 ASCII bytes): their bytes are read as a matrix straight
from Arrow's buffer, hashed to 64 bits, found in a pandas index of the hashes of the values
of that width (its hash table is built once and kept), and every hit is confirmed by
comparing the bytes, so a hash collision can never join a line to another enterprise.
Anything else (mixed widths, nulls, two values with one hash) takes Arrow's exact lookup,
with the same result, as do keys more than twice as many as the values, which Arrow hashes
as fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pricing.billing.hashing import mix
from pricing.bytematrix import byte_matrix, word_matrix

MAX_WIDTH = 32
_PHI = np.uint64(0x9E3779B97F4A7C15)


def index_in(keys: pa.Array, values: pa.Array) -> np.ndarray:
    """Position of each key in ``values`` (int64), -1 where absent (Arrow's ``index_in``)."""
    found = pc.index_in(keys, value_set=values)
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def lookup(keys: pa.Array, values: pa.Array) -> np.ndarray:
    """:func:`index_in` of distinct ``keys`` in distinct ``values``, hashing the smaller.

    ``index_in`` hashes its value set on every call: a piece of a streamed month looking up
    its 250,000 distinct ids in a province's million would hash the million again each time.
    Both sides are distinct, so a lookup the other way round inverts exactly."""
    if len(values) <= len(keys):
        return index_in(keys, values)
    found = index_in(values, keys)
    hit = np.flatnonzero(found >= 0)
    at = np.full(len(keys), -1, dtype=np.int64)
    at[found[hit]] = hit
    return at


def encoded_lookup(keys: pa.Array, values: pa.Array) -> np.ndarray:
    """:func:`lookup` of keys that repeat: each distinct key is looked up once."""
    encoded = pc.dictionary_encode(keys, null_encoding="encode")
    return lookup(encoded.dictionary, values)[encoded.indices.to_numpy(zero_copy_only=False)]


@dataclass
class _Width:
    """The values of one byte width: an index of their hashes, each one's position in the
    values, and their bytes as columns of 64-bit words."""

    hashes: pd.Index
    at: np.ndarray
    words: list[np.ndarray]


class TextIndex:
    """:func:`encoded_lookup` of many ``keys`` arrays in one ``values`` array."""

    def __init__(self, values: pa.Array) -> None:
        self.values = values
        self._widths: dict[int, _Width | None] = {}

    def positions(self, keys: pa.Array) -> np.ndarray:
        """Position of each key in the values (int64), -1 where absent."""
        matrix = byte_matrix(keys) if len(keys) <= 2 * len(self.values) else None
        table = (self._of_width(matrix.shape[1])
                 if matrix is not None and matrix.shape[1] <= MAX_WIDTH else None)
        if matrix is None or table is None:
            return encoded_lookup(keys, self.values)
        words = word_matrix(matrix)
        found = table.hashes.get_indexer(_hash(words))
        hit = np.flatnonzero(found >= 0)
        row = found[hit]
        same = np.ones(len(hit), dtype=bool)
        for column, values in enumerate(table.words):
            same &= words[hit, column] == values[row]
        result = np.full(len(keys), -1, dtype=np.int64)
        result[hit[same]] = table.at[row[same]]
        return result

    def _of_width(self, width: int) -> _Width | None:
        if width not in self._widths:
            self._widths[width] = _hashed(self.values, width)
        return self._widths[width]


def _hashed(values: pa.Array, width: int) -> _Width | None:
    """The values ``width`` bytes long, hashed; None when Arrow should look up instead (a
    null value, or two values with one hash)."""
    if values.null_count:
        return None
    lengths = pc.binary_length(values).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(lengths == width)
    matrix = byte_matrix(values.take(pa.array(rows, type=pa.int64())))
    words = (word_matrix(matrix) if matrix is not None
             else np.zeros((0, -(-width // 8)), dtype=np.uint64))
    hashes = pd.Index(_hash(words))
    if not hashes.is_unique:
        return None
    return _Width(hashes, rows, [np.ascontiguousarray(words[:, k])
                                 for k in range(words.shape[1])])


def _hash(words: np.ndarray) -> np.ndarray:
    """A 64-bit hash per row of words (SplitMix64's finalizer after each word)."""
    value = np.full(len(words), _PHI, dtype=np.uint64)
    for column in range(words.shape[1]):
        value = mix(value ^ words[:, column])
    return value
