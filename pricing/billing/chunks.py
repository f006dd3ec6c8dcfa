"""A CSV file read in record-aligned pieces, for extracts larger than memory.

A piece ends after a newline outside quotes (RFC 4180 doubles a quote inside a value, so the
parity of the quotes before a newline tells), so Arrow parses each piece alone. Each piece
knows the physical line it starts on, so rejects still point at the line an editor shows, and
its place among the file's data rows. The bytes are hashed and decoded as they pass: one read
gives the checksum, the encoding check and the pieces, in memory bounded by the piece size.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pricing.billing.encoding import ENCODINGS, parse_header
from pricing.errors import InputError

BLOCK_BYTES = 1 << 24
_NEWLINE, _QUOTE = 10, 34


@dataclass(frozen=True)
class Piece:
    """Whole records of a file as UTF-8, without the header; ``first_line`` is the physical
    line of ``body``'s first byte."""

    body: bytes
    first_line: int


def count_newlines(path: Path, source: str) -> int:
    """Newline bytes in the file, read block by block (an upper bound of its records)."""
    total = 0
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(BLOCK_BYTES), b""):
                total += block.count(b"\n")
    except OSError as error:
        raise InputError(source, None, None, f"cannot read the file: {error.strerror}") from None
    return total


@dataclass(frozen=True)
class FileScan:
    """What one cheap read of a file tells: its newlines (at least its records) and encoding."""

    newlines: int
    encoding: str


def scan_file(path: Path, source: str, encoding: str | None = None) -> FileScan:
    """Count newlines and settle the encoding as a whole-file read would: the one given, else
    UTF-8 with a BOM, else UTF-8 when every byte decodes, else GB18030 (checked while read)."""
    name = _checked(encoding, source)
    newlines, decoder = 0, codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as handle:
            for number, block in enumerate(iter(lambda: handle.read(BLOCK_BYTES), b"")):
                newlines += block.count(b"\n")
                if number == 0 and name is None and block.startswith(codecs.BOM_UTF8):
                    name = "utf-8-sig"
                if name is None:
                    try:
                        decoder.decode(block)
                    except UnicodeDecodeError:
                        name = "gb18030"
    except OSError as error:
        raise InputError(source, None, None, f"cannot read the file: {error.strerror}") from None
    if name is None:
        try:
            decoder.decode(b"", True)
            name = "utf-8"
        except UnicodeDecodeError:
            name = "gb18030"
    return FileScan(newlines, name)


class PieceReader:
    """Iterate over a file's pieces of at most ``records`` records each, in ``encoding``
    (from :func:`scan_file`). After a complete iteration ``header`` and ``sha256`` describe
    the file."""

    def __init__(self, path: Path, source: str, records: int, encoding: str) -> None:
        self.path = Path(path)
        self.source = source
        self.records = max(1, records)
        self.encoding = _checked(encoding, source) or "utf-8"
        self.header: list[str] = []
        self.sha256 = ""

    def __iter__(self) -> Iterator[Piece]:
        return self._pieces(self.encoding)

    def _pieces(self, encoding: str) -> Iterator[Piece]:
        """Decode block by block; cut a piece whenever enough records have ended."""
        digest = hashlib.sha256()
        decoder = codecs.getincrementaldecoder("utf-8" if encoding == "utf-8-sig"
                                               else encoding)()
        transcode = encoding not in ("utf-8", "utf-8-sig")
        cutter = _Cutter()  # the header is the first "piece", of one record
        line = 1
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as error:
            raise InputError(self.source, None, None,
                             f"cannot read the file: {error.strerror}") from None
        with handle:
            first = True
            while True:
                block = handle.read(BLOCK_BYTES)
                final = not block
                digest.update(block)
                if first and encoding != "gb18030" and block.startswith(codecs.BOM_UTF8):
                    block = block[len(codecs.BOM_UTF8):]
                first = False
                try:
                    text = decoder.decode(block, final)
                except UnicodeDecodeError as error:
                    # 0x0A is never part of a multi-byte character in UTF-8 or GB18030
                    at = line + sum(part.count(b"\n") for part in cutter.parts) \
                        + block[: max(0, error.start)].count(b"\n")
                    raise InputError(self.source, at, None, f"cannot decode as {encoding}: "
                                     f"byte {block[error.start]:#04x}") from None
                for piece in cutter.feed(text.encode("utf-8") if transcode else block, final):
                    if line == 1:
                        self.header = parse_header(piece, self.source)
                        cutter.wanted = self.records
                    elif piece.strip(b"\r\n"):
                        yield Piece(piece, line)
                    line += piece.count(b"\n")
                if final:
                    break
        self.sha256 = digest.hexdigest()


class _Cutter:
    """Splits a byte stream after every ``wanted``-th record end, keeping the quote parity
    across blocks (the stream starts at a record start). ``wanted`` may change between the
    pieces it yields."""

    def __init__(self) -> None:
        self.wanted = 1
        self.parts: list[bytes] = []
        self.ends = 0  # record ends in ``parts``
        self.odd = False  # an odd number of quotes seen so far

    def feed(self, data: bytes, final: bool) -> Iterator[bytes]:
        if not self.odd and b'"' not in data:  # every newline ends a record: count them
            ends_here = data.count(b"\n")
            if self.ends + ends_here < self.wanted:
                if data:
                    self.parts.append(data)
                    self.ends += ends_here
                if final and self.parts:
                    yield b"".join(self.parts)
                    self.parts, self.ends = [], 0
                return
        raw = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(raw == _NEWLINE)
        if self.odd or b'"' in data:
            quotes = np.flatnonzero(raw == _QUOTE)
            before = np.searchsorted(quotes, ends) + int(self.odd)
            ends = ends[before % 2 == 0]
            self.odd ^= bool(len(quotes) % 2)
        start, used = 0, 0
        while self.ends + len(ends) - used >= self.wanted:
            take = self.wanted - self.ends
            cut = int(ends[used + take - 1]) + 1
            used += take
            yield b"".join([*self.parts, data[start:cut]])
            self.parts, self.ends, start = [], 0, cut
        if start < len(data):
            self.parts.append(data[start:])
            self.ends += len(ends) - used
        if final and self.parts:
            yield b"".join(self.parts)
            self.parts, self.ends = [], 0


def _checked(encoding: str | None, source: str) -> str | None:
    if encoding is None:
        return None
    name = encoding.lower().replace("_", "-")
    if name not in ENCODINGS:
        raise InputError(source, None, None, f"unknown encoding {encoding!r}, expected one "
                         f"of {', '.join(ENCODINGS)}")
    return name
