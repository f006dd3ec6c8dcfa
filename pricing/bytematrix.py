"""Texts read straight from an Arrow array's buffers: their offsets, and texts of one byte
width as a matrix.

Credit codes (18 ASCII bytes) and most account numbering schemes are one width: their bytes
laid out as an (n, width) matrix let numpy check, hash and compare them without a per-text
step or a regular expression.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def text_offsets(text: pa.Array) -> np.ndarray | None:
    """The ``len(text) + 1`` offsets of a ``string`` or ``large_string`` array, as a view of
    its buffer (int32 or int64); None for other types."""
    if pa.types.is_string(text.type):
        offset_type = np.int32
    elif pa.types.is_large_string(text.type):
        offset_type = np.int64
    else:
        return None
    return np.frombuffer(text.buffers()[1], dtype=offset_type)[
        text.offset : text.offset + len(text) + 1]


def filled_cells(text: pa.Array) -> np.ndarray | None:
    """Which cells hold at least one byte (a missing one holds none), from the offsets
    alone; None for an array that is not text."""
    offsets = text_offsets(text)
    if offsets is None:
        return None
    filled = offsets[1:] != offsets[:-1]
    if text.null_count:
        filled &= pc.is_valid(text).to_numpy(zero_copy_only=False)
    return filled


def byte_matrix(text: pa.Array) -> np.ndarray | None:
    """The texts' bytes as an (n, width) ``uint8`` view when every text is ``width`` bytes
    long (``width`` > 0, none missing), else None."""
    if len(text) == 0 or text.null_count:
        return None
    offsets = text_offsets(text)
    if offsets is None:
        return None
    first, width = int(offsets[0]), int(offsets[1] - offsets[0])
    if width <= 0 or int(offsets[-1]) - first != width * len(text) \
            or not (np.diff(offsets) == width).all():
        return None
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)
    return data[first : first + width * len(text)].reshape(len(text), width)


def word_matrix(matrix: np.ndarray, big_endian: bool = False) -> np.ndarray:
    """An (n, width) byte matrix as an (n, ⌈width/8⌉) ``uint64`` matrix, zero-padded.

    ``big_endian`` words compare as the bytes do (byte order = text order for texts of one
    width); native words are cheaper and serve hashing and equality."""
    padded = np.zeros((len(matrix), -(-matrix.shape[1] // 8) * 8), dtype=np.uint8)
    padded[:, : matrix.shape[1]] = matrix
    return padded.view(">u8").astype(np.uint64) if big_endian else padded.view(np.uint64)


def stripped(text: pa.Array) -> pa.Array:
    """``str.strip()``: skipped when the characters hold no ASCII whitespace and no non-ASCII
    byte (where Unicode spaces such as U+3000 would be), as in ids and numbers."""
    data = text.buffers()[2]
    if data is not None and text.offset == 0 and text.null_count == 0:
        raw = np.frombuffer(data, dtype=np.uint8)
        if not len(raw) or (raw.min() > 32 and raw.max() < 128):  # no temporary mask
            return text
    return pc.utf8_trim_whitespace(text)


def take_text(text: pa.Array, rows: np.ndarray) -> pa.Array:
    """``text.take(rows)`` for in-range positions: texts of one width (ids, codes, months)
    are gathered as rows of their byte matrix, a quarter to a half of Arrow's time, and keep
    their type; any others are taken by Arrow."""
    matrix = byte_matrix(text)
    large = pa.types.is_large_string(text.type)
    if matrix is None or (not large and len(rows) * matrix.shape[1] >= 2**31):
        return text.take(pa.array(rows, type=pa.int64()))
    width = matrix.shape[1]
    taken = np.take(matrix, rows, axis=0)
    offsets = np.arange(0, (len(rows) + 1) * width, width, dtype=np.int64 if large else np.int32)
    return pa.Array.from_buffers(text.type, len(rows),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(taken)])
