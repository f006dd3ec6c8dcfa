"""Rows spilled to disk by part and read back one part at a time (streamed runs).

A streamed run cannot hold all its key fields or all its surcharge lines, so it writes them
to Arrow IPC files, one per part (a hash partition, a sort bucket), and reads each part back
alone: memory follows the largest part, not the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa


class Spill:
    """Files ``<name>-NNNN.arrow`` in ``folder``, appended to by part number and read back in
    part order; each file is deleted once read."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = Path(folder)
        self.name = name
        self._writers: dict[int, pa.RecordBatchStreamWriter] = {}

    def _path(self, number: int) -> Path:
        return self.folder / f"{self.name}-{number:04d}.arrow"

    def add(self, table: pa.Table, parts: np.ndarray) -> None:
        """Append row ``i`` of ``table`` to part ``parts[i]``, keeping the rows' order."""
        small = len(parts) and 0 <= parts.min() and parts.max() < np.iinfo(np.int16).max
        # a stable sort of 16-bit keys is a radix sort in numpy: several times faster
        order = np.argsort(parts.astype(np.int16) if small else parts, kind="stable")
        ordered = parts[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(order) else []
        for start, stop in zip(starts, [*starts[1:], len(order)], strict=True):
            number = int(ordered[start])
            if number not in self._writers:
                self._writers[number] = pa.ipc.new_stream(self._path(number), table.schema)
            self._writers[number].write_table(table.take(pa.array(order[start:stop])))

    def parts(self) -> Iterator[pa.Table]:
        """Each part's rows, in part order (no more can be added)."""
        for writer in self._writers.values():
            writer.close()
        numbers, self._writers = sorted(self._writers), {}
        for number in numbers:
            with pa.ipc.open_stream(self._path(number)) as reader:
                table = reader.read_all()
            self._path(number).unlink()
            yield table
