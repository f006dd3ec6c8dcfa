"""Decoding CSV inputs and reading them as text tables (SPEC "Inputs": accepted encodings).

Utilities and district offices send UTF-8, UTF-8 with a BOM, or GB18030/GBK (Excel on a Chinese
Windows). The encoding is detected from the bytes, or forced with ``--input-encoding``. Every
cell is read as text, so ids keep their leading zeros; each row carries its physical line number
(header = line 1) so rejects and errors point at the line a person sees in an editor.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from pricing.errors import InputError

if TYPE_CHECKING:  # pandas is imported where rows become a frame: the raw read needs none
    import pandas as pd

ENCODINGS = ("utf-8", "utf-8-sig", "gb18030", "gbk")
_NEWLINE, _QUOTE, _CR = 10, 34, 13
BLOCK_BYTES = 1 << 24  # Arrow's CSV blocks (a test makes them small)
_SCAN_BYTES = 1 << 18
_TEXT = pa.string()  # the columns' type, unless a caller asks for large_string


def count_byte(data: bytes | bytearray | memoryview, value: int) -> int:
    """How many bytes of ``data`` equal ``value``.

    Compared a block at a time into one small reused buffer: a comparison of the whole
    buffer at once would first touch a fresh mask as large as the file (80 MB for a
    million lines), and fresh pages cost more than the comparison. numpy lets the other
    threads run meanwhile (``bytes.count`` holds the interpreter lock).
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    mask = np.empty(min(len(raw), _SCAN_BYTES), dtype=bool)
    found = 0
    for start in range(0, len(raw), _SCAN_BYTES):
        block = raw[start : start + _SCAN_BYTES]
        np.equal(block, value, out=mask[: len(block)])
        found += int(np.count_nonzero(mask[: len(block)]))
    return found


def detect_encoding(data: bytes) -> str | None:
    """``utf-8-sig`` with a BOM, ``utf-8`` when valid, else ``gb18030``; None if neither fits."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for candidate in ("utf-8", "gb18030"):
        try:
            data.decode(candidate)
        except UnicodeDecodeError:
            continue
        return candidate
    return None


def to_utf8(data: bytes, source: str, encoding: str | None = None) -> bytes:
    """The file's bytes as UTF-8 without a BOM, or InputError naming the file.

    A forced ``utf-8`` still drops a leading BOM: it is a marker, not data.
    """
    if encoding is not None:
        name = encoding.lower().replace("_", "-")
        if name not in ENCODINGS:
            raise InputError(source, None, None, f"unknown encoding {encoding!r}, expected one "
                             f"of {', '.join(ENCODINGS)}")
    else:
        name = detect_encoding(data)
        if name is None:
            raise _undecodable(data, source)
        if name == "utf-8":
            return data  # detection decoded it already: valid UTF-8 without a BOM
    try:
        if name in ("utf-8", "utf-8-sig"):
            body = data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data
            body.decode("utf-8")  # validates; the bytes are already what pyarrow reads
            return body
        return data.decode(name).encode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(source, line, None, f"cannot decode as {name}: byte "
                         f"{data[error.start]:#04x} at offset {error.start}") from None


def _undecodable(data: bytes, source: str) -> InputError:
    """Neither UTF-8 nor GB18030 reads the file: name the line where the one that reads
    further stops, since that is most likely the file's encoding and the byte its fault."""
    stops = []
    for name in ("utf-8", "gb18030"):
        try:
            data.decode(name)
        except UnicodeDecodeError as error:
            stops.append((error.start, name))
    at, name = max(stops)
    line = data[:at].count(b"\n") + 1
    return InputError(source, line, None, f"cannot decode the file, expected UTF-8 or "
                      f"GB18030: as {name}, byte {data[at]:#04x} at offset {at} is invalid")


def _blank_before_end(body: bytes) -> bool:
    return (body.startswith((b"\n", b"\r\n")) or b"\n\n" in body
            or b"\n\r\n" in body)


@dataclass(frozen=True)
class CsvText:
    """A CSV file read as text: ``header`` as written, ``rows`` one ``string`` column per header
    name (in header order; empty cells are ``""``), ``lines`` the physical line of each row,
    ``sha256`` of the file's bytes for the manifest."""

    source: str
    header: list[str]
    rows: pd.DataFrame
    lines: np.ndarray
    sha256: str


def _record_lines(body: bytes) -> np.ndarray:
    """Physical line numbers of the non-blank CSV records (the header first).

    A newline ends a record only outside quotes: RFC 4180 escapes a quote by doubling it, so
    the parity of the quotes before a newline tells. Blank records are skipped, as pyarrow does.
    Without quotes and blank lines (the usual extract) record k is simply on line k.
    """
    if b'"' not in body and not _blank_before_end(body):
        return np.arange(1, _physical_records(body) + 1, dtype=np.int64)
    raw = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(raw == _NEWLINE)
    quoted = b'"' in body
    if quoted:
        quotes = np.flatnonzero(raw == _QUOTE)
        ends = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    else:
        ends = newlines
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(raw)]))
    length = stops - starts
    nonempty = length > 0
    last = np.zeros(len(starts), dtype=np.uint8)
    last[nonempty] = raw[stops[nonempty] - 1]
    blank = (length == 0) | ((length == 1) & (last == _CR))
    if quoted:
        line_of_start = np.searchsorted(newlines, starts) + 1
    else:  # every newline ends a record: record k starts on line k + 1
        line_of_start = np.arange(1, len(starts) + 1)
    return line_of_start[~blank].astype(np.int64)


def _physical_records(body: bytes, newlines: int | None = None) -> int:
    """Records when each is one line: newlines (counted unless known), plus an unterminated
    last line."""
    if newlines is None:
        newlines = count_byte(body, _NEWLINE)
    records = newlines + 1
    if body[body.rfind(b"\n") + 1:] in (b"", b"\r"):
        records -= 1  # the newline after the last record, or a lone CR, ends nothing
    return records


def _one_line_each(body: bytes) -> bool:
    """Whether the record count alone can tell that every record is one physical line.

    With a first line that is not blank and no lone CR (which Arrow would count as a newline),
    Arrow parses at most one record per non-blank line, so as many records as lines means no
    blank line and no quoted value spanning a newline: record k is on line k, found without
    scanning a quoted file's quotes (every cell of a typical export is quoted).
    """
    if body in (b"", b"\r") or body.startswith((b"\n", b"\r\n")):
        return False
    if b"\r" not in body:
        return True
    raw = np.frombuffer(body, dtype=np.uint8)
    after = np.flatnonzero(raw == _CR) + 1
    return bool(after[-1] < len(raw) and (raw[after] == _NEWLINE).all())


@dataclass(frozen=True)
class CsvTable:
    """:class:`CsvText` with the rows still an Arrow table (the billing path stays in Arrow)."""

    source: str
    header: list[str]
    table: pa.Table
    lines: np.ndarray
    sha256: str


def read_csv_table(path: Path, *, encoding: str | None = None,
                   source: str | None = None, large_text: bool = False) -> CsvTable:
    """Read a CSV file with every column as Arrow text; InputError if it cannot be read.

    ``large_text`` reads ``large_string`` columns: what pandas holds, for a table that
    becomes a pandas frame whole (the register), so no column's offsets are rewritten.

    The checksum is computed in a second thread while Arrow parses (both release the GIL).
    A file that may be UTF-8 is handed to Arrow as it is, since Arrow checks every text cell
    is UTF-8 anyway; only when it finds a cell that is not does the file go through
    :func:`to_utf8` (GB18030 detection, or the error naming the line).
    """
    source = source if source is not None else str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise InputError(source, None, None, f"cannot read the file: {error.strerror}") from None
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(lambda: hashlib.sha256(data).hexdigest())
        body = _maybe_utf8(data, encoding)
        found = None
        if body is not None:
            with contextlib.suppress(_NotUtf8):
                found = _table(body, source, unchecked=True, large_text=large_text)
        if found is None:
            found = _table(to_utf8(data, source, encoding), source, unchecked=False,
                           large_text=large_text)
        header, table, row_lines = found
        return CsvTable(source, header, table, row_lines, digest.result())


class _NotUtf8(Exception):
    """Arrow could not read bytes that were not checked to be UTF-8."""


def _maybe_utf8(data: bytes, encoding: str | None) -> bytes | None:
    """The bytes Arrow may read unchecked: UTF-8 (detected or asked for) without a BOM, with
    a header record that is one valid UTF-8 line (Arrow skips the header unchecked)."""
    if encoding is not None and encoding.lower().replace("_", "-") not in ("utf-8",
                                                                           "utf-8-sig"):
        return None
    body = data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data
    first = body[: body.find(b"\n") + 1 or len(body)]
    if first.count(b'"') % 2:  # a quoted header name goes on past the line
        return None
    try:
        first.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return body


def _table(body: bytes, source: str, unchecked: bool, large_text: bool = False
           ) -> tuple[list[str], pa.Table, np.ndarray]:
    quick = _one_line_each(body)
    if not quick and len(_record_lines(body)) == 0:
        raise empty_file(source)
    header = parse_header(body[: 1 << 16], source)
    table, row_lines = parse_records(body, header, source, first_line=1, has_header=True,
                                     quick=quick, utf8_errors=unchecked,
                                     text=pa.large_string() if large_text else _TEXT)
    return header, table, row_lines


def empty_file(source: str) -> InputError:
    return InputError(source, None, None, "empty file, expected a header row")


def parse_header(text: bytes, source: str) -> list[str]:
    """The header row's names, trimmed; InputError when a name appears twice."""
    header = next(csv.reader(io.StringIO(text.decode("utf-8", "ignore"))), [])
    header = [name.strip() for name in header]
    if len(set(header)) != len(header):
        twice = sorted({name for name in header if header.count(name) > 1})
        raise InputError(source, 1, None, f"duplicate column names {twice}")
    return header


def parse_records(body: bytes, header: list[str], source: str, *, first_line: int,
                  has_header: bool, quick: bool | None = None,
                  columns: list[str] | None = None,
                  utf8_errors: bool = False,
                  newlines: int | None = None,
                  text: pa.DataType = _TEXT) -> tuple[pa.Table, np.ndarray]:
    """Arrow text columns of the records in ``body`` and the physical line of each.

    ``body`` is UTF-8 and holds whole records: a file (``has_header``) or a piece of one
    that starts on line ``first_line``. ``columns`` reads only those. InputError when Arrow
    cannot parse it; with ``utf8_errors``, ``_NotUtf8`` instead (the caller then decodes the
    file itself, so an undecodable byte is reported before a malformed record). ``newlines``,
    when the caller counted them, spares counting them again. ``text``: the columns' type.
    """
    quick = _one_line_each(body) if quick is None else quick
    physical = _physical_records(body, newlines) if quick else -1
    quoted = b'"' in body
    table = None
    if quick and quoted and len(header) > 1:  # a record a line, as usual: the faster parse
        try:
            table = _arrow_records(body, header, has_header, columns, text, spanning=False)
        except pa.ArrowInvalid as error:
            if utf8_errors and "UTF8" in str(error):  # decoded first, as below: no retry
                raise _NotUtf8 from None
        if table is not None and table.num_rows + int(has_header) != physical:
            table = None  # a value spans lines (or a line is blank): parsed again below
    if table is None:
        try:
            table = _arrow_records(body, header, has_header, columns, text, spanning=quoted)
        except pa.ArrowInvalid as error:
            if utf8_errors:  # not UTF-8, or not CSV: decoding first tells which comes first
                raise _NotUtf8 from None
            where = "" if has_header else f" (in the records from line {first_line})"
            raise InputError(source, None, None,
                             f"not a valid CSV file{where}: {error}") from None
    records = table.num_rows + int(has_header)
    if quick and records == physical:
        lines = np.arange(1, records + 1, dtype=np.int64)
    else:
        lines = _record_lines(body)
    if len(lines) == records:
        row_lines = lines[int(has_header):]
    else:  # records pyarrow counts differently (lone CR newlines): fall back to row order
        row_lines = np.arange(1 + int(has_header), records + 1, dtype=np.int64)
    return table, row_lines + (first_line - 1)


def _arrow_records(body: bytes, header: list[str], has_header: bool,
                   columns: list[str] | None, text: pa.DataType, spanning: bool) -> pa.Table:
    """Arrow's parse of ``body``; ``spanning=False`` cuts blocks at any newline, as if no
    quoted value held one (a third faster on a quoted extract).

    Cut that way, a value that does span lines is either read across them by the parser
    (fewer records than lines, which :func:`parse_records` checks) or cut at a block's end,
    where Arrow refuses the pieces ("parser got out of sync", or a wrong number of fields);
    either way the records are read again with ``spanning=True``. Only a one-column file
    could be cut into lines that each look like a record (``"a`` and ``b"``), so it is
    never read this way; with more columns, as many records as lines is the same table.
    """
    return pacsv.read_csv(
        pa.py_buffer(body),
        read_options=pacsv.ReadOptions(column_names=header, skip_rows=int(has_header),
                                       use_threads=True, block_size=BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(newlines_in_values=spanning),
        convert_options=pacsv.ConvertOptions(
            column_types={name: text for name in header},
            include_columns=columns,
            strings_can_be_null=False, quoted_strings_can_be_null=False),
    )


def read_csv_strings(path: Path, *, encoding: str | None = None,
                     source: str | None = None) -> CsvText:
    """Read a CSV file with every column as text; InputError if it cannot be read or parsed."""
    import pandas as pd

    found = read_csv_table(path, encoding=encoding, source=source)
    rows = found.table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
    return CsvText(found.source, found.header, rows, found.lines, found.sha256)


def canonical_columns(csv_text: CsvText | CsvTable, aliases: dict[str, str],
                      known: tuple[str, ...]) -> dict[str, str]:
    """Map canonical column names to the header names used in the file.

    A header matches a canonical name through ``aliases`` (Chinese headers, SPEC "Inputs") or
    by itself, case-insensitively and trimmed; other columns are left for the caller. Two
    headers meaning the same column are an InputError: which one to trust is not ours to guess.
    """
    found: dict[str, str] = {}
    for name in csv_text.header:
        canonical = aliases.get(name) or (name.lower() if name.lower() in known else None)
        if canonical is None:
            continue
        if canonical in found:
            raise InputError(csv_text.source, 1, name, f"means the same column as "
                             f"'{found[canonical]}' ({canonical}); keep one of them")
        found[canonical] = name
    return found


def require_columns(csv_text: CsvText | CsvTable, found: dict[str, str], required: tuple[str, ...],
                    aliases: dict[str, str]) -> None:
    """InputError naming the missing required columns and the names that would be accepted."""
    missing = [name for name in required if name not in found]
    if missing:
        accepted = {name: [alias for alias, target in aliases.items() if target == name]
                    for name in missing}
        names = ", ".join(f"'{name}'" + (f" (or {', '.join(accepted[name])})"
                                          if accepted[name] else "") for name in missing)
        raise InputError(csv_text.source, 1, None, f"missing required column {names}; "
                         f"found {csv_text.header}")
