"""64-bit hashes of ids (accounts) read straight from Arrow's buffers.

Equal ids hash equal, so the lines whose hash is unique in a set cannot share an id with
another line: the duplicate and conflict checks count exactly, with text, only the others.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.lib.stride_tricks import as_strided

from pricing.bytematrix import byte_matrix, text_offsets

_BLOCK_ROWS = 1 << 16


def id_hash(ids: pa.Array, salt: np.ndarray) -> np.ndarray:
    """A 64-bit hash per id (missing as empty) and per row's ``salt`` (an int64 code, -1 at
    least), from the id's length and its first and last eight bytes.

    Ids of up to sixteen bytes are hashed whole, and longer ones differ in their first or
    last bytes in practice (a district prefix, a serial, a suffix per meter); reading a fixed
    number of bytes per id costs the same however long the ids are. Hashed a block of rows
    at a time: the temporaries stay small and warm instead of each as large as the column.
    """
    ids = pc.fill_null(ids, "").cast(pa.large_string())
    offsets = text_offsets(ids)
    matrix = byte_matrix(ids)
    windows = None if matrix is not None else _windows(ids.buffers()[2])
    result = np.empty(len(ids), dtype=np.uint64)
    for start in range(0, len(ids), _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, len(ids))
        rows = slice(start, stop)
        starts, ends = offsets[start:stop], offsets[start + 1 : stop + 1]
        lengths = ends - starts
        first, last = (_edges_of_one_width(matrix[rows]) if windows is None
                       else _edges(windows, starts, ends, lengths))
        mixed = (last ^ lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
                 ^ (salt[rows] + 2).astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93))
        result[rows] = mix(mix(mixed) ^ first)
    return result


def _windows(data: pa.Buffer | None) -> np.ndarray:
    """Every 8-byte window of the text buffer, zero-padded at both ends (a strided view)."""
    text = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    padded = np.concatenate([np.zeros(8, np.uint8), text, np.zeros(8, np.uint8)])
    return as_strided(padded, shape=(len(padded) - 7, 8), strides=(1, 1), writeable=False)


def _edges(windows: np.ndarray, starts: np.ndarray, ends: np.ndarray, lengths: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Each id's first eight bytes and its last eight, last byte first, as little-endian
    words (zero bytes past a short id's end): two gathers of 8-byte windows over the
    buffer (:func:`_windows`), bytes past a short id masked off."""
    first = windows[starts + 8].view(np.uint64).ravel()  # bytes [start, start + 8)
    last = windows[ends].view(np.uint64).ravel().byteswap()  # bytes [end - 8, end), reversed
    kept = np.minimum(lengths, 7).astype(np.uint64) * np.uint64(8)
    mask = np.where(lengths >= 8, np.uint64(0xFFFFFFFFFFFFFFFF),
                    (np.uint64(1) << kept) - np.uint64(1))
    return first & mask, last & mask


def _edges_of_one_width(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_edges` of ids all one width (an account numbering scheme's), from their
    (n, width) byte matrix: two slices copied instead of two gathers."""
    edges = np.zeros((len(matrix), 16), dtype=np.uint8)
    kept = min(8, matrix.shape[1])
    edges[:, :kept] = matrix[:, :kept]
    edges[:, 8 : 8 + kept] = matrix[:, ::-1][:, :kept]
    first, last = edges.view(np.uint64).T
    return first, last


def mix(value: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer (every input bit reaches every output bit), in place."""
    value ^= value >> np.uint64(30)
    value *= np.uint64(0xBF58476D1CE4E5B9)
    value ^= value >> np.uint64(27)
    value *= np.uint64(0x94D049BB133111EB)
    value ^= value >> np.uint64(31)
    return value
