"""Writers for the files of a run: CSV, manifest, checksums and the atomic run directory.

SPEC "Outputs of run": CSV files have a header row, RFC 4180 quoting, ``\\r\\n`` line ends and
are UTF-8 with BOM unless ``utf-8`` or ``gb18030`` is asked for; the same inputs give
byte-identical files; the run directory is written atomically, so a crash leaves no
half-written run. Utilities load these files into billing systems, hence the exactness.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from types import TracebackType

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from pricing.bytematrix import text_offsets

ENCODINGS = ("utf-8-sig", "utf-8", "gb18030")
_SPECIAL = np.zeros(256, dtype=bool)
_SPECIAL[list(b'",\r\n')] = True
_CHUNK_ROWS = 131_072
_WRITEBACK_BYTES = 32 << 20
_BARE = pa_csv.WriteOptions(include_header=False, quoting_style="none", eol="\r\n")


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, type=pa.large_string())


def _text_array(series: pd.Series, column: str) -> pa.Array:
    """One column as Arrow text (``string`` or ``large_string``); NA stays null.

    Callers format decimals themselves (docs/design.md "Numbers and money"): a float column
    would print float noise, so it is refused rather than guessed at.
    """
    array = pa.array(series, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    kind = array.type
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        raise TypeError(f"column {column!r} is {kind}: pass amounts as formatted text")
    if pa.types.is_dictionary(kind):
        array = array.dictionary_decode()
        kind = array.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        if not (pa.types.is_integer(kind) or pa.types.is_null(kind)):
            raise TypeError(f"column {column!r} is {kind}: pass text")
        array = array.cast(pa.string())
    return array


def _needs_quotes(array: pa.Array) -> np.ndarray | None:
    """Rows holding a comma, quote, CR or LF, found by scanning the UTF-8 bytes at once.

    Those four are ASCII and UTF-8 never uses ASCII bytes inside a multi-byte character, so
    a byte scan reduced over each row's span of bytes tells which rows hold one; None when
    no row does.
    """
    data = array.buffers()[2]
    if data is None or len(array) == 0:
        return None
    bounds = text_offsets(array)
    text = np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]]
    special = np.zeros(len(text) + 1, dtype=bool)  # a False past the end for empty last rows
    np.take(_SPECIAL, text, out=special[:-1])
    if not special.any():
        return None
    # An empty row's span would read its neighbour's first byte: such rows never need quotes.
    return np.logical_or.reduceat(special, bounds[:-1] - bounds[0]) & (np.diff(bounds) > 0)


def _quote(array: pa.Array) -> pa.Array:
    """RFC 4180: quote only fields holding a comma, quote, CR or LF; double inner quotes."""
    needs = _needs_quotes(array)
    if needs is None:
        return array
    quoted = pc.binary_join_element_wise(
        _text('"'), pc.replace_substring(array, '"', '""'), _text('"'), _text("")
    )
    return quoted if needs.all() else pc.if_else(pa.array(needs), quoted, array)


def _bare_lines(columns: list[pa.Array]) -> memoryview | None:
    """The lines by Arrow's CSV writer when no field needs quotes, else None.

    Arrow's ``none`` quoting style writes every field bare (null as the empty field) and
    refuses, with ArrowInvalid, a field holding a comma, quote, CR or LF: exactly the fields
    RFC 4180 quotes. A refused chunk takes :func:`_csv_lines`, which writes the same bytes.
    """
    table = pa.Table.from_arrays(columns, names=[str(i) for i in range(len(columns))])
    sink = pa.BufferOutputStream()
    try:
        pa_csv.write_csv(table, sink, _BARE)
    except pa.ArrowInvalid:
        return None
    return memoryview(sink.getvalue())


def _csv_line_array(columns: list[pa.Array]) -> pa.LargeStringArray:
    """Join quoted columns into one ``\\r\\n``-terminated line per row, without a per-row
    loop."""
    fields = [_quote(pc.fill_null(column.cast(pa.large_string()), "")) for column in columns]
    if len(fields) == 1:
        # A lone empty field would be a blank line, which CSV readers skip: write it as "".
        fields[0] = pc.if_else(pc.equal(fields[0], ""), _text('""'), fields[0])
    fields[-1] = pc.binary_join_element_wise(fields[-1], _text(""), _text("\r\n"))
    lines = pc.binary_join_element_wise(*fields, _text(","))
    return lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines


def _csv_lines(columns: list[pa.Array]) -> memoryview:
    """The UTF-8 bytes of :func:`_csv_line_array`."""
    if len(columns[0]) == 0:
        return memoryview(b"")
    return _text_bytes(_csv_line_array(columns))


def _text_bytes(lines: pa.Array) -> memoryview:
    """The UTF-8 bytes of a non-empty text array's values, back to back (no copy)."""
    lines = lines.cast(pa.large_string())
    data = lines.buffers()[2]
    bounds = text_offsets(lines)
    first, last = int(bounds[0]), int(bounds[-1])
    return memoryview(data.slice(first, last - first))


def csv_rows(frame: pd.DataFrame, columns: list[str]) -> pa.LargeStringArray:
    """The CSV text of each row of ``frame`` (``columns`` in that order), one string per row
    ending in ``\\r\\n``: row for row the UTF-8 bytes :meth:`CsvWriter.write` writes.

    For rows to be sorted before they are written (a streamed run's surcharge lines): the
    text is made once, and moving a row is moving one string instead of a field per column.
    Arrow's writer makes the bytes when no field needs quotes; each row then ends at its LF,
    since a bare field never holds one.
    """
    fields = [_text_array(frame[name], name) for name in columns]
    rows = len(frame)
    if rows == 0:
        return pa.array([], pa.large_string())
    lines = _bare_lines(fields) if len(fields) > 1 else None
    if lines is None:
        return _csv_line_array(fields)
    ends = np.flatnonzero(np.frombuffer(lines, dtype=np.uint8) == ord("\n"))
    offsets = np.zeros(rows + 1, dtype=np.int64)
    offsets[1:] = ends + 1
    return pa.LargeStringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(lines))


def _encode(text_utf8: memoryview, encoding: str) -> bytes | memoryview:
    if encoding == "gb18030":
        return bytes(text_utf8).decode("utf-8").encode("gb18030")
    return text_utf8


class CsvWriter:
    """SPEC CSV written frame by frame, hashed as it goes: the header first, then rows.

    ``write_csv`` writes one frame; a streamed run writes its rows chunk by chunk and gets
    the same bytes, because a row's text never depends on the rows around it.
    """

    def __init__(self, path: Path, columns: list[str], encoding: str = "utf-8-sig") -> None:
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding {encoding!r}: expected one of {', '.join(ENCODINGS)}")
        self.columns = [str(name) for name in columns]
        self.encoding = encoding
        self.rows = 0
        self._digest = hashlib.sha256()
        self._handle = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._unsynced = 0  # bytes written since the write-back was last started
        if encoding == "utf-8-sig":
            self._emit(b"\xef\xbb\xbf")
        header = pd.DataFrame([self.columns], dtype="string")
        self._emit(_encode(_csv_lines([_text_array(header[c], str(c)) for c in header]),
                           encoding))

    def _emit(self, chunk: bytes | memoryview) -> None:
        self._handle.write(chunk)
        self._digest.update(chunk)
        self._unsynced += len(chunk)
        if self._unsynced >= _WRITEBACK_BYTES:
            self._write_back()

    def _write_back(self) -> None:
        """Have the system start writing what is written so far to disk, without waiting:
        the run directory is synced before it is published (:class:`RunDirectory`), and a
        province's 300 MB surcharges.csv left all to that sync kept the run waiting on the
        disk at its end."""
        self._handle.flush()
        end = self._handle.tell()
        with contextlib.suppress(OSError, AttributeError):  # advice only; not everywhere
            os.posix_fadvise(self._handle.fileno(), end - self._unsynced, self._unsynced,
                             os.POSIX_FADV_DONTNEED)  # Linux: starts the write-back
        self._unsynced = 0

    def write(self, frame: pd.DataFrame) -> None:
        """Append the rows of ``frame`` (its columns in the writer's order).

        A chunk is hashed and written by a helper thread while the next one is built (both
        release the GIL); one chunk at a time, so the bytes keep their order."""
        whole = [_text_array(frame[name], name) for name in self.columns]
        chunks = (self._chunk([column.slice(start, _CHUNK_ROWS) for column in whole])
                  for start in range(0, len(frame), _CHUNK_ROWS))
        if len(frame) <= _CHUNK_ROWS:
            for chunk in chunks:
                self._emit(chunk)
        else:
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending: Future[None] | None = None
                for chunk in chunks:
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(self._emit, chunk)
                if pending is not None:
                    pending.result()
        self.rows += len(frame)

    def _chunk(self, columns: list[pa.Array]) -> bytes | memoryview:
        """The encoded lines of one chunk: Arrow's writer when no field needs quotes."""
        lines = _bare_lines(columns) if len(columns) > 1 else None
        return _encode(_csv_lines(columns) if lines is None else lines, self.encoding)

    def write_rows(self, rows: pa.Array | pa.ChunkedArray) -> None:
        """Append rows made by :func:`csv_rows` (in any order, taken or sliced)."""
        for chunk in rows.chunks if isinstance(rows, pa.ChunkedArray) else [rows]:
            if len(chunk):
                self._emit(_encode(_text_bytes(chunk), self.encoding))
                self.rows += len(chunk)

    def close(self) -> tuple[str, int]:
        """Close the file; ``(sha256_hex, data_rows)`` of what was written."""
        if self._unsynced:
            self._write_back()
        self._handle.close()
        return self._digest.hexdigest(), self.rows


def write_csv(frame: pd.DataFrame, path: Path, encoding: str = "utf-8-sig") -> tuple[str, int]:
    """Write ``frame`` as SPEC CSV and return ``(sha256_hex, data_rows)`` of the written bytes.

    Every value is written as the exact text it holds (ids, formatted decimals); NA is empty.
    Rows are built column-wise with Arrow string kernels in chunks, so a million lines take
    seconds, not minutes.
    """
    writer = CsvWriter(path, list(map(str, frame.columns)), encoding)
    try:
        writer.write(frame.set_axis(writer.columns, axis=1))
    finally:
        result = writer.close()
    return result


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in blocks (inputs can be hundreds of megabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Path):
        return value.as_posix()
    raise TypeError(f"manifest value {value!r} of type {type(value).__name__} is not JSON")


def manifest_bytes(manifest: dict) -> bytes:
    """Canonical manifest text: sorted keys, 2-space indent, UTF-8, ``\\n``, final newline."""
    text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False, default=_json_default)
    return (text + "\n").encode("utf-8")


def write_manifest(path: Path, manifest: dict) -> str:
    """Write ``manifest.json`` deterministically (SPEC: the audit trail); return its sha256."""
    data = manifest_bytes(manifest)
    Path(path).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def run_id(parts: list[str]) -> str:
    """A short id derived from the inputs' checksums and options (SPEC manifest ``run id``).

    The parts are joined as a JSON array, so ``["a,b"]`` and ``["a", "b"]`` differ.
    """
    canonical = json.dumps(list(parts), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _fsync_tree(root: Path) -> None:
    """Flush every file so the rename publishes complete files even after a power cut."""
    for entry in sorted(root.rglob("*")):
        if entry.is_file():
            with open(entry, "rb") as handle:
                os.fsync(handle.fileno())


class RunDirectory:
    """An output directory that appears whole or not at all (SPEC: written atomically).

    Files go to ``.<name>.tmp-<random>`` beside ``out``; on success it is renamed to ``out``
    (an existing run is moved aside first and deleted after); on an exception the temporary
    directory is removed and any previous run is left as it was.
    """

    def __init__(self, out: Path) -> None:
        self.out = Path(out).absolute()
        self.tmp: Path | None = None

    def __enter__(self) -> RunDirectory:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self._sibling("tmp")
        os.mkdir(self.tmp)
        return self

    def path(self, name: str) -> Path:
        """Where to write ``name`` while the run is in progress."""
        if self.tmp is None:
            raise RuntimeError("RunDirectory.path() is only valid inside the 'with' block")
        return self.tmp / name

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tmp, self.tmp = self.tmp, None
        assert tmp is not None
        if exc_type is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        try:
            _fsync_tree(tmp)
            self._publish(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _sibling(self, label: str) -> Path:
        return self.out.parent / f".{self.out.name}.{label}-{secrets.token_hex(6)}"

    def _publish(self, tmp: Path) -> None:
        if not self.out.exists():
            os.rename(tmp, self.out)
            return
        old = self._sibling("old")
        os.rename(self.out, old)
        try:
            os.rename(tmp, self.out)
        except BaseException:
            os.rename(old, self.out)
            raise
        shutil.rmtree(old, ignore_errors=True)
