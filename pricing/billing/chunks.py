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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pricing.billing.encoding import ENCODINGS, count_byte, parse_header
from pricing.errors import InputError

BLOCK_BYTES = 1 << 24
_NEWLINE, _QUOTE = 10, 34


@dataclass(frozen=True)
class Piece:
    """Whole records of a file as UTF-8, without the header; ``first_line`` is the physical
    line of ``body``'s first byte, ``newlines`` how many ``body`` holds."""

    body: bytes | bytearray
    first_line: int
    newlines: int


@dataclass(frozen=True)
class FileScan:
    """What one cheap read of a file tells: its newlines (at least its records) and encoding."""

    newlines: int
    encoding: str


def scan_file(path: Path, source: str, encoding: str | None = None) -> FileScan:
    """Count newlines and settle the encoding as a whole-file read would: the one given, else
    UTF-8 with a BOM, else UTF-8 when every byte decodes, else GB18030 (checked while read).
    ASCII blocks, the usual extract, are recognised without decoding."""
    name = _checked(encoding, source)
    newlines, decoder = 0, codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as handle:
            for number, block in enumerate(iter(lambda: handle.read(BLOCK_BYTES), b"")):
                newlines += count_byte(block, _NEWLINE)
                if number == 0 and name is None and block.startswith(codecs.BOM_UTF8):
                    name = "utf-8-sig"
                if name is None and not _plain(block, decoder):
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


def _plain(block: bytes, decoder: codecs.IncrementalDecoder) -> bool:
    """ASCII, with no multi-byte character left open by the block before."""
    return block.isascii() and not decoder.getstate()[0]


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
        """Decode block by block; cut a piece whenever enough records have ended. The
        checksum is computed in a second thread (hashlib releases the GIL)."""
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
        with handle, ThreadPoolExecutor(max_workers=1) as hasher:
            first, hashed = True, None
            while True:
                block = handle.read(BLOCK_BYTES)
                final = not block
                if hashed is not None:
                    hashed.result()
                hashed = hasher.submit(digest.update, block)
                if first and encoding != "gb18030" and block.startswith(codecs.BOM_UTF8):
                    block = block[len(codecs.BOM_UTF8):]
                first = False
                try:
                    text = block if not transcode and _plain(block, decoder) \
                        else decoder.decode(block, final)
                except UnicodeDecodeError as error:
                    # 0x0A is never part of a multi-byte character in UTF-8 or GB18030
                    at = line + cutter.newlines + block[: max(0, error.start)].count(b"\n")
                    raise InputError(self.source, at, None, f"cannot decode as {encoding}: "
                                     f"byte {block[error.start]:#04x}") from None
                data = text.encode("utf-8") if transcode else block
                for piece, newlines in cutter.feed(data, final):
                    if line == 1:
                        self.header = parse_header(piece, self.source)
                        cutter.wanted = self.records
                    elif piece[:1] not in (b"", b"\r", b"\n") or piece.lstrip(b"\r\n"):
                        yield Piece(piece, line, newlines)
                    line += newlines
                if final:
                    break
            hashed.result()
        self.sha256 = digest.hexdigest()


class _Cutter:
    """Splits a byte stream into pieces of whole records, at most ``wanted`` records each
    (``wanted`` may change between the pieces it yields); the stream starts at a record start.

    A piece ends at the ``wanted``-th newline, or at the first newline after it when that
    one is inside quotes (RFC 4180 doubles quotes inside values, so a newline ends a record
    exactly when the quotes before it, from the piece start, are even). Only the newlines of a
    block where a piece ends are located; the others are just counted.
    """

    def __init__(self) -> None:
        self.wanted = 1
        self.parts: list[bytes | memoryview] = []
        self.newlines = 0  # in ``parts``
        self.quotes = 0  # in ``parts``

    def feed(self, data: bytes, final: bool) -> Iterator[tuple[bytearray, int]]:
        """Pieces completed by ``data``, each with its number of newlines. Each byte is
        looked at once for newlines, by numpy, which lets the other threads run meanwhile
        (``bytes.count`` holds the interpreter lock); quotes are counted only in blocks
        that hold one."""
        start, at = 0, 0
        raw = np.frombuffer(data, dtype=np.uint8)
        positions = np.flatnonzero(raw == _NEWLINE)
        quoted = b'"' in data
        while True:
            remaining = len(positions) - at
            if self.newlines + remaining < self.wanted or remaining == 0:
                break
            index, cut = at + max(0, self.wanted - self.newlines - 1), -1
            quotes, counted = self.quotes, start
            while index < len(positions):
                end = int(positions[index])
                if quoted:
                    quotes += int(np.count_nonzero(raw[counted:end] == _QUOTE))
                counted = end
                if quotes % 2 == 0:
                    cut = end + 1
                    break
                index += 1
            if cut < 0:  # a quoted value goes on in the next block
                break
            newlines = self.newlines + index - at + 1
            yield _joined([*self.parts, memoryview(data)[start:cut]]), newlines
            self.parts, self.newlines, self.quotes = [], 0, 0
            start, at = cut, index + 1
        if start < len(data):
            self.parts.append(memoryview(data)[start:])  # copied once, into its piece
            self.newlines += len(positions) - at
            self.quotes += int(np.count_nonzero(raw[start:] == _QUOTE)) if quoted else 0
        if final and self.parts:
            yield _joined(self.parts), self.newlines
            self.parts, self.newlines, self.quotes = [], 0, 0


def _joined(parts: list[bytes | memoryview]) -> bytearray:
    """The parts as one buffer, copied by numpy (``bytes.join`` holds the interpreter lock
    for the whole copy of a piece)."""
    joined = bytearray(sum(len(part) for part in parts))
    target = np.frombuffer(joined, dtype=np.uint8)
    at = 0
    for part in parts:
        target[at : at + len(part)] = np.frombuffer(part, dtype=np.uint8)
        at += len(part)
    return joined


def _checked(encoding: str | None, source: str) -> str | None:
    if encoding is None:
        return None
    name = encoding.lower().replace("_", "-")
    if name not in ENCODINGS:
        raise InputError(source, None, None, f"unknown encoding {encoding!r}, expected one "
                         f"of {', '.join(ENCODINGS)}")
    return name
