"""Reading the register and the billing extracts while the program is still being imported.

A ``diffprice run`` process spends its first second importing pandas and loading the policy.
Arrow's CSV parse of the register and the extracts needs neither and releases the GIL, so the
CLI starts it first, in a background thread: the register first (it is needed first), then
the extracts. When the batch has its modules loaded it asks for the checked
lines (:meth:`Prefetch.extract`), and the same thread goes on to validate them while the
register is classified. Only extracts a run holds in memory anyway are read early; a
streamed run reads in pieces, so its extracts are only scanned (lines, encoding: what it
asks first), in a second thread while the register is parsed. The results are what
:func:`scan_file`, :func:`read_csv_table` and :func:`read_extracts` would return, and a
file that cannot be read raises its error where the batch would have raised it.

The thread imports nothing heavy before the batch asks: two threads importing pandas at once
could meet on the import locks of its modules.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from pricing.billing.chunks import FileScan, scan_file
from pricing.billing.encoding import CsvTable, read_csv_table

if TYPE_CHECKING:
    from pricing.billing.extract import Extract

BYTES_PER_LINE = 100  # fewer bytes than this per line in all: surely held in memory
CHUNK_LINES = 1_000_000
LARGE_REGISTER_BYTES = 64 << 20  # about 450,000 enterprise-years


def default_chunk_lines(register: Path) -> int:
    """``--chunk-lines`` when not given, the longest month held in memory whole (longer ones
    are streamed in pieces of :func:`default_piece_lines`): a million lines, or half that
    with a province's register, whose classification stays in memory beside the lines. The
    pieces change how a run uses memory, never what it writes."""
    try:
        large = Path(register).stat().st_size > LARGE_REGISTER_BYTES
    except OSError:
        large = False  # the batch reports the register it cannot read
    return CHUNK_LINES // 2 if large else CHUNK_LINES


def default_piece_lines(register: Path, cluster: bool = False) -> int:
    """Lines per streamed piece when ``--chunk-lines`` is not given: half of
    :func:`default_chunk_lines`, which stays the length up to which a month is held in
    memory whole. Two pieces are priced at a time; pieces of a million lines made a 20M-line
    month peak at 2.75 GB and half a million at 1.5, and a province's register with pieces
    of 250,000 peaked 0.3 GB lower than with 500,000, in the same time. With a ``cluster``
    each piece is a round trip to the workers: pieces of the whole limit, as before (a
    province's month took 40 s in pieces of 250,000 and 25.5 s in pieces of 500,000)."""
    return default_chunk_lines(register) // (1 if cluster else 2)


class Prefetch:
    """Files being read in a daemon thread (an early error never keeps the process up).

    ``extracts=False`` reads only the ``register`` early: the extracts are then read by
    :meth:`extract`, or not at all by a streamed run, which never asks for them.
    """

    def __init__(self, paths: list[Path], encoding: str | None, register: Path | None = None,
                 extracts: bool = True) -> None:
        self._paths = [Path(path) for path in paths]
        self._futures: dict[str, Future[CsvTable]] = (
            {str(path): Future() for path in paths} if extracts else {})
        # extracts too long to hold are only scanned here (lines, encoding): what a streamed
        # run asks first (:func:`pricing.billing.stream.needs_streaming`)
        self._scans: dict[str, Future[FileScan]] = (
            {} if extracts else {str(path): Future() for path in paths})
        self.reads_extracts = extracts
        self._register: tuple[str, Future[CsvTable]] | None = (
            None if register is None else (str(register), Future()))
        self._encoding = encoding
        self._period: str | None = None
        self._asked = threading.Event()
        self._extract: Future[Extract] = Future()
        # (file, its table, read as large_string): the register as read_register reads it,
        # the text pandas holds; take() pops from the dict while this runs
        pending = [(source, future, False) for source, future in self._futures.items()]
        if self._register is not None:
            pending.insert(0, (*self._register, True))
        if self._scans:  # a streamed run: the scans and the register's parse side by side
            threading.Thread(target=self._scan, name="prefetch-scan", daemon=True).start()
        threading.Thread(target=self._run, args=(pending,), name="prefetch", daemon=True).start()

    def _scan(self) -> None:
        for source, scanning in list(self._scans.items()):
            if scanning.set_running_or_notify_cancel():
                try:
                    scanning.set_result(scan_file(Path(source), source, self._encoding))
                except BaseException as error:  # raised where the batch scans the file
                    scanning.set_exception(error)

    def _run(self, pending: list[tuple[str, Future[CsvTable], bool]]) -> None:
        for source, future, large_text in pending:
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(read_csv_table(Path(source), encoding=self._encoding,
                                                 source=source, large_text=large_text))
            except BaseException as error:  # handed over to whoever takes the table
                future.set_exception(error)
        if not self.reads_extracts:
            return
        self._asked.wait()
        if not self._extract.set_running_or_notify_cancel():
            return
        try:
            from pricing.billing.extract import read_extracts

            self._extract.set_result(read_extracts(self._paths, period=self._period,
                                                   encoding=self._encoding, prefetched=self))
        except BaseException as error:
            self._extract.set_exception(error)

    def extract(self, period: str | None) -> Future[Extract]:
        """``read_extracts(paths, period=period)``, computed in the reading thread; asking
        again for the same period gives the same future.

        Ask once pandas is imported (the module docstring says why), and only of a prefetch
        that reads the extracts.
        """
        if not self.reads_extracts:
            raise ValueError("the extracts are not read here, only the register")
        if self._asked.is_set():
            if period != self._period:
                raise ValueError(f"the extracts are checked for {self._period}, not {period}")
            return self._extract
        self._period = period
        self._asked.set()
        return self._extract

    def take(self, path: Path) -> CsvTable | None:
        """The table of ``path`` (once: the reference is dropped), or None if not read here."""
        future = self._futures.pop(str(path), None)
        return None if future is None else future.result()

    def scan(self, path: Path) -> FileScan | None:
        """The scan of ``path`` (once), or None if it is not scanned here."""
        future = self._scans.pop(str(path), None)
        return None if future is None else future.result()

    def take_register(self, path: Path) -> CsvTable | None:
        """The register's table if ``path`` is the register read here (once), else None."""
        if self._register is None or self._register[0] != str(path):
            return None
        future, self._register = self._register[1], None
        return future.result()


def unscanned(paths: list[Path], chunk_lines: int) -> bool:
    """Whether the extracts, at most ``BYTES_PER_LINE`` bytes a line of one piece in all, are
    held in memory without counting their lines (:func:`pricing.billing.stream.needs_streaming`
    scans only larger ones). OSError when a file cannot be read."""
    return sum(Path(path).stat().st_size for path in paths) <= chunk_lines * BYTES_PER_LINE


def held_in_memory(paths: list[Path], chunk_lines: int) -> bool:
    """Whether the extracts are small enough that a run surely reads them whole."""
    try:
        return unscanned(paths, chunk_lines)
    except OSError:
        return False  # the batch reports the file it cannot read, in its order


def prefetch(paths: list[Path], chunk_lines: int, encoding: str | None,
             register: Path | None = None) -> Prefetch | None:
    """Start reading the register, and the extracts when a run will hold them in memory."""
    extracts = held_in_memory(paths, chunk_lines)
    if not extracts and register is None:
        return None
    return Prefetch(paths, encoding, register, extracts)
