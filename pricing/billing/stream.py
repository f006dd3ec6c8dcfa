"""Streamed runs: extracts longer than ``--chunk-lines``, read in pieces of at most that
many lines (half as many when the option is not given:
:func:`pricing.billing.prefetch.default_piece_lines`).

Two passes. The first, run while the register is read and classified, parses each piece
once: its key fields go to the cross-piece checks
(:mod:`pricing.billing.crosscheck`, duplicate keys and account conflicts anywhere in the run),
its parsed lines to a spill file. The second checks and prices each piece with the same
functions as an in-memory run, appends its rejects to rejects.csv (pieces come in file order),
adds up counts, totals and summary parts, and spills its surcharge lines into buckets of
sort-key ranges; the buckets are then sorted one at a time and appended to surcharges.csv.
Memory follows the piece size, not the file, and the bytes are those of an in-memory run,
which is the one-piece case. Spill files live in the run's temporary directory and are gone
when it is published.

Each loop works one piece ahead in a second thread (:mod:`pricing.billing.overlap`): the
next piece is parsed while this one's keys are spilled and checked while this one is priced;
in the second pass two pieces are priced at a time (a piece's prices depend on its lines
and the classification only; one alone kept 1.6 of 2 cores busy), and another thread writes
the rejects, adds the summary parts and spills the surcharge lines of each priced piece, in
piece order. Two buckets are sorted at a time while the one before is written, and the
partitions of the cross-piece check are checked two at a time. At most three more pieces,
partitions or buckets are held (in the second pass, the next piece checked, a second one
priced and the last one's rejects and surcharge lines).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import math
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pricing.billing.batch import (
    ENCODINGS,
    PART_COLUMNS,
    REJECT_COLUMNS,
    SURCHARGE_COLUMNS,
    Classified,
    MonthResult,
    RunOptions,
    all_rejects,
    classify_month,
    counts_of,
    fen_by_utility,
    input_entry,
    kept_index,
    manifest,
    place_index,
    price_clean,
    raise_reject_rate,
    reject_rate_exceeded,
    sum_parts,
    summary_from_parts,
    summary_parts,
    surcharge_order,
    surcharge_table,
)
from pricing.billing.chunks import FileScan, PieceReader, scan_file
from pricing.billing.components import InForce, in_force
from pricing.billing.crosscheck import CrossCheck, sort_key
from pricing.billing.encoding import empty_file, parse_records
from pricing.billing.extract import (
    COLUMNS,
    Keys,
    account_key,
    arrow_text,
    check_lines,
    enterprise_key,
    extract_columns,
    file_columns,
    line_keys,
    no_data_rows,
    raw_lines,
    raw_text,
    utility_text,
)
from pricing.billing.outputs import CsvWriter, RunDirectory, csv_rows, write_csv, write_manifest
from pricing.billing.overlap import ahead, mapped
from pricing.billing.prefetch import Prefetch, unscanned
from pricing.billing.price import ClassificationIndex, facts_read
from pricing.billing.spill import Spill
from pricing.billing.textindex import TextIndex

if TYPE_CHECKING:
    from pricing.billing.distributed import ClusterPricer

KEY_COLUMNS = ("utility", "account_id", "enterprise_id", "period")
_ACCOUNT = ["period", "utility", "account_id"]
_COMPONENT = ["component_id", "band", "_order"]  # the order last


def needs_streaming(paths: list[Path], chunk_lines: int, encoding: str | None,
                    prefetched: Prefetch | None = None) -> list[FileScan] | None:
    """The scans of the extracts when they hold more lines than one piece, else None.

    Files of at most ``BYTES_PER_LINE`` bytes a line in all are not read for this
    (:func:`pricing.billing.prefetch.unscanned`); larger ones are scanned: a file's data
    lines are at most its newlines, and the header takes one. A typical extract line is
    70–100 bytes and the shortest valid one 34 (``电,1,`` an 18-character id ``,202501,0``),
    so an unscanned month holds at most three times ``chunk_lines`` lines: memory still
    follows the piece size, never the file. A piece may hold 5 % more lines than asked when
    that saves a stream.
    """
    try:
        if unscanned(paths, chunk_lines):
            return None
    except OSError:
        return None  # the in-memory reader reports the file it cannot read
    scans = [(prefetched.scan(Path(path)) if prefetched is not None else None)
             or scan_file(Path(path), str(path), encoding) for path in paths]
    leeway = chunk_lines // 20  # blank lines, a stray trailing newline: not worth a stream
    if sum(scan.newlines for scan in scans) <= chunk_lines + leeway + len(paths):
        return None
    return scans


@dataclass
class _Piece:
    """Raw lines of one piece, their place among the run's lines and their keys."""

    lines: pa.Table
    first_row: int
    keys: Keys | None = None


@dataclass
class _Tally:
    """What the pieces add up to: counts, fen per utility, summary parts.

    The pieces' summary parts wait in a list and are summed per group and enterprise once
    they hold more rows than the sums so far (or :data:`PENDING_PARTS`): a province's
    million enterprises are regrouped every few pieces, not after each, and the parts held
    stay within twice the sums, however many pieces come. The sums are made by ``summing``
    (one thread), beside the next pieces: a province's took a second, during which the
    pieces waited."""

    summing: Executor
    counts: dict[str, int] = field(default_factory=dict)
    fen: dict[str, int] = field(default_factory=dict)
    _summed: Future[pd.DataFrame] | None = None
    _summed_rows: int = 0
    _pending: list[pd.DataFrame] = field(default_factory=list)
    _summary: Future[pd.DataFrame] | None = None

    def count(self, month: MonthResult) -> None:
        for name, value in counts_of(month).items():
            self.counts[name] = self.counts.get(name, 0) + value
        for name, value in fen_by_utility(month).items():
            self.fen[name] = self.fen.get(name, 0) + value

    def add(self, surcharges: pd.DataFrame) -> None:
        self._pending.append(summary_parts(surcharges))
        if self._summed is not None and self._summed.done():
            self._summed_rows = len(self._summed.result())  # else the rows sent to be summed
        if sum(len(part) for part in self._pending) > max(self._summed_rows, PENDING_PARTS):
            self._regroup()

    def finish(self) -> None:
        """The last piece is in: summary.csv's rows are made, by ``summing``, from the sums
        so far and the waiting parts as they are (:func:`summary_from_parts` adds up rows
        of one group and enterprise itself, so a last regrouping would be wasted work)."""
        frames, self._pending = self._pending, []
        self._summary = self.summing.submit(_summary_of, self._summed, frames)

    @property
    def summary(self) -> pd.DataFrame:
        """summary.csv's rows (after :meth:`finish`)."""
        assert self._summary is not None, "finish() first"
        return self._summary.result()

    def _regroup(self) -> None:
        frames, self._pending = self._pending, []
        self._summed_rows += sum(len(frame) for frame in frames)
        self._summed = self.summing.submit(_summed_with, self._summed, frames)


def _summary_of(before: Future[pd.DataFrame] | None, frames: list[pd.DataFrame]
                ) -> pd.DataFrame:
    """summary.csv's rows from the sums so far and the parts not summed yet."""
    parts = [*([] if before is None else [before.result()]), *frames]
    if not parts:
        return summary_from_parts(pd.DataFrame(columns=PART_COLUMNS))
    return summary_from_parts(parts[0] if len(parts) == 1 else
                              pd.concat(parts, ignore_index=True))


def _summed_with(before: Future[pd.DataFrame] | None, frames: list[pd.DataFrame]
                 ) -> pd.DataFrame:
    """The sums so far and the waiting parts, summed per group and enterprise (``before``
    is done: the sums are made one after the other, in one thread)."""
    parts = [*([] if before is None else [before.result()]), *frames]
    return parts[0] if len(parts) == 1 else sum_parts(pd.concat(parts, ignore_index=True))


PENDING_PARTS = 250_000  # summary part rows that may wait to be summed


def run_streamed(opts: RunOptions, out: Path, scans: list[FileScan]) -> dict:
    """``diffprice run`` over extracts in pieces; the same files as :func:`run_month`."""
    # The register as read is not needed again: the pieces reuse its memory. Freed memory
    # stays with the allocator for the next piece rather than going back to the system:
    # the peak is the same, and fresh pages, zeroed by the system on first touch, are a
    # sixth of a streamed run's time (returning them after each piece cost 10-15 %).
    expected = sum(scan.newlines for scan in scans)
    pieces = max(1, math.ceil(expected / opts.lines_per_piece))
    encoding = ENCODINGS[opts.encoding]
    with RunDirectory(out) as run_dir, tempfile.TemporaryDirectory(
            prefix=".spill-", dir=run_dir.path("")) as spill, \
            ThreadPoolExecutor(max_workers=1) as beside:
        cache = _LineCache(Path(spill))
        check = CrossCheck(Path(spill), pieces, opts.period, expected, cache.keys_at)
        opts.progress.step(f"first pass: reading about {expected} lines in {pieces} pieces")
        # The first pass needs nothing of the policy: it runs beside the register's reading
        # and classification, which keep one core busy for most of their time. Errors keep
        # their order: the register's and the rulebooks' are raised first.
        stop = threading.Event()
        first = beside.submit(_first_pass_checked, opts, scans, check, cache, stop)
        components = in_force(opts.catalog.tariffs, opts.period)
        try:  # the register, the rule outcomes and unread facts go before the pieces come
            classified = dataclasses.replace(
                classify_month(opts, opts.catalog, facts_read(components)), register=None)
        except BaseException:
            stop.set()
            with contextlib.suppress(BaseException):
                first.result()
            raise
        inputs = list(classified.inputs)
        read, checked_pieces = first.result()
        for path, sha, rows in read:
            inputs.append(input_entry("billing", path, sha, rows))
        buckets = _Buckets(Path(spill), check.boundaries(pieces))
        tally = _Tally(summing=beside)  # the first pass's thread, free again
        coming = ahead(checked_pieces)
        # the first piece is checked here, and the next while the verdicts are indexed below
        ready = list(itertools.islice(coming, 1))
        rejects = CsvWriter(run_dir.path("rejects.csv"), REJECT_COLUMNS, encoding)
        pricer = _cluster_pricer(opts, classified, components)
        # each classified id's place, once: a piece's rows take theirs from pricing's codes
        index, placed = kept_index(opts, classified)
        places = place_index(classified.enterprises)  # hashed once if ever looked up
        def priced(checked: _Checked) -> tuple[MonthResult, pd.DataFrame]:
            month = _price_piece(opts, checked, classified, components, pricer, index,
                                 places, placed)
            return month, surcharge_table(month, ordered=False)  # the buckets sort

        with contextlib.closing(rejects), pricer or contextlib.nullcontext(), \
                ThreadPoolExecutor(max_workers=1) as keeper:
            kept: Future[None] | None = None
            for number, (month, surcharges) in enumerate(
                    mapped(priced, _taken(ready, coming), workers=1 if pricer else 2)):
                opts.progress.step(f"second pass: piece {number + 1}, "
                                   f"{month.billing_rows} lines priced")
                tally.count(month)
                if kept is not None:
                    kept.result()  # one piece kept at a time, in piece order
                kept = keeper.submit(_keep, month.rejects, surcharges, rejects, tally, buckets)
                del month, surcharges  # before the piece after next is read
            if kept is not None:
                kept.result()
        sha, rows = rejects.close()
        outputs = [{"name": "rejects.csv", "sha256": sha, "rows": rows}]
        counts = tally.counts
        failed = reject_rate_exceeded(opts, counts)
        if not failed:
            tally.finish()  # the summary is made while classification.csv is written
            opts.progress.step("sorting the surcharge lines and writing the outputs")
            outputs += _write_priced(run_dir, encoding, buckets, classified, tally)
        written = manifest(opts, inputs, counts, tally.fen, outputs,
                           "failed" if failed else "ok")
        write_manifest(run_dir.path("manifest.json"), written)
    if failed:
        raise_reject_rate(opts, counts, out)
    return written


def _keep(piece_rejects: pd.DataFrame, surcharges: pd.DataFrame, rejects: CsvWriter,
          tally: _Tally, buckets: _Buckets) -> None:
    """What a priced piece leaves behind: its rejects written, its summary parts added, its
    surcharge lines spilled. Done in a third thread while the next piece is priced."""
    rejects.write(piece_rejects)
    tally.add(surcharges)
    buckets.add(surcharges)


def _cluster_pricer(opts: RunOptions, classified: Classified, components: list[InForce]
                    ) -> ClusterPricer | None:
    if not opts.cluster:
        return None
    from pricing.billing.distributed import ClusterPricer

    table = classified.classification
    return ClusterPricer(opts.cluster, table.table, table.facts, components)


@dataclass
class _Checked:
    """One piece's lines split into clean lines and rejects, and their text as read."""

    clean: pd.DataFrame
    rejects: pd.DataFrame
    raw: pa.Table

    @property
    def rows(self) -> int:
        return len(self.clean) + len(self.rejects)


def _checked(opts: RunOptions, pieces: Iterator[_Piece], check: CrossCheck
             ) -> Iterator[_Checked]:
    for piece in pieces:
        crossed = check.faults(piece.first_row, piece.lines.num_rows)
        clean, rejects = check_lines(piece.lines, opts.period, crossed, piece.keys)
        raw = raw_text(piece.lines)
        del piece
        yield _Checked(clean, rejects, raw)


def _price_piece(opts: RunOptions, checked: _Checked, classified: Classified,
                 components: list[InForce], pricer: ClusterPricer | None,
                 index: ClassificationIndex | None, places: TextIndex,
                 placed: np.ndarray | None) -> MonthResult:
    lines = checked.clean.reset_index(drop=True)
    priced = price_clean(opts, lines, classified, components, pricer, index)
    rejects = all_rejects(checked.rejects, lines, priced, checked.raw)
    return MonthResult(classified.classification, lines, priced, rejects, checked.rows, [],
                       classified.enterprises, places=places, place_of_code=placed)


def _write_priced(run_dir: RunDirectory, encoding: str, buckets: _Buckets,
                  classified: Classified, tally: _Tally) -> list[dict]:
    """surcharges.csv bucket by bucket; classification.csv and summary.csv (a province's
    are a million rows) are written meanwhile by another thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        others = pool.submit(_write_policy_outputs, run_dir, encoding, classified, tally)
        writer = CsvWriter(run_dir.path("surcharges.csv"), SURCHARGE_COLUMNS, encoding)
        for rows in buckets.sorted_rows():
            writer.write_rows(rows)
        sha, rows = writer.close()
        return [{"name": "surcharges.csv", "sha256": sha, "rows": rows}, *others.result()]


def _write_policy_outputs(run_dir: RunDirectory, encoding: str, classified: Classified,
                          tally: _Tally) -> list[dict]:
    outputs = []
    for name, frame in (("classification.csv", lambda: classified.classification.table),
                        ("summary.csv", lambda: tally.summary)):  # made meanwhile
        sha, rows = write_csv(frame(), run_dir.path(name), encoding)
        outputs.append({"name": name, "sha256": sha, "rows": rows})
    return outputs


def _first_pass_checked(opts: RunOptions, scans: list[FileScan], check: CrossCheck,
                        cache: _LineCache, stop: threading.Event
                        ) -> tuple[list[tuple[Path, str, int]], Iterator[_Checked]]:
    """:func:`_first_pass`, then the duplicate keys and account conflicts over all pieces:
    work for this thread while the register is still classified. Returns each file's
    checksum and rows, and the pieces to check and price (none once ``stop`` is set)."""
    read = _first_pass(opts, scans, check, cache, stop)
    if stop.is_set():
        return read, iter(())
    opts.progress.step("first pass: duplicate keys and account conflicts over all pieces")
    check.finish()
    return read, _checked(opts, cache.pieces(), check)


def _taken(ready: list[_Checked], rest: Iterator[_Checked]) -> Iterator[_Checked]:
    """The pieces in ``ready``, each taken out of the list as it is passed on (the list
    holds none of them for longer), then those of ``rest``."""
    while ready:
        yield ready.pop(0)
    yield from rest


def _first_pass(opts: RunOptions, scans: list[FileScan], check: CrossCheck,
                cache: _LineCache, stop: threading.Event) -> list[tuple[Path, str, int]]:
    """Parse every piece once: its keys go to ``check``, its lines to ``cache`` for the
    second pass. Returns the checksum and data rows of each file; stops early, with what it
    has, once ``stop`` is set (the run has failed already)."""
    inputs = []
    first_row = 0
    for order, (path, scan) in enumerate(zip(opts.billing, scans, strict=True)):
        reader = PieceReader(Path(path), str(path), opts.lines_per_piece, scan.encoding)
        rows = 0
        for raw, keys in ahead(_parsed(reader, Path(path), order)):
            if stop.is_set():
                return inputs
            check.add(first_row, keys)
            cache.add(_Piece(raw, first_row, keys), Path(path).name, order)
            first_row += raw.num_rows
            rows += raw.num_rows
        inputs.append((Path(path), reader.sha256, rows))
    return inputs


def _parsed(reader: PieceReader, path: Path, order: int) -> Iterator[tuple[pa.Table, Keys]]:
    """The raw lines of each piece of one file and their keys; the errors of an in-memory
    read for a file without data rows."""
    source = str(path)
    found: dict[str, str] | None = None
    for piece in ahead(reader):  # the file is read and cut while the piece before is parsed
        if found is None:
            found = extract_columns(reader.header, source)
        table, lines = parse_records(piece.body, reader.header, source,
                                     first_line=piece.first_line, has_header=False,
                                     newlines=piece.newlines)
        del piece
        raw = raw_lines(table, lines, found, path.name, order)
        del table
        yield raw, line_keys(*(raw[f"raw_{name}"].combine_chunks() for name in KEY_COLUMNS))
    if found is None:
        _no_rows(reader, source)


class _LineCache:
    """The parsed lines of each piece and their keys, kept on disk between the two passes
    (Arrow IPC, read back memory-mapped): the CSV is parsed and the keys found once.

    What the stored text gives back in a few milliseconds is not stored: the file name and
    order (one per piece), the trimmed account and enterprise ids; utilities and months are
    stored as codes. A piece then takes about half the bytes of its lines and keys."""

    def __init__(self, spill: Path) -> None:
        self.spill = spill
        self.starts: list[int] = []
        self._files: list[tuple[str, int]] = []  # per piece: its file's name and order

    def add(self, piece: _Piece, name: str, order: int) -> None:
        keys = piece.keys
        assert keys is not None and keys.utility_codes is not None
        assert keys.month_codes is not None and keys.month_values is not None
        month = pa.DictionaryArray.from_arrays(
            pa.array(keys.month_codes, type=pa.int32(), mask=keys.month_codes < 0),
            keys.month_values)
        table = piece.lines.drop_columns(["source", "file_order"])
        for column_name, column in (
                ("key_utility", pa.array(keys.utility_codes, type=pa.int8())),
                ("key_month", month), ("key_enterprise_ok", pa.array(keys.enterprise_ok))):
            table = table.append_column(column_name, column)
        path = self.spill / f"lines-{len(self.starts):05d}.arrow"
        with pa.ipc.new_file(path, table.schema) as writer:
            writer.write_table(table)
        self.starts.append(piece.first_row)
        self._files.append((name, order))

    def _read(self, number: int, columns: list[str] | None = None) -> pa.Table:
        path = self.spill / f"lines-{number:05d}.arrow"
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_file(source).read_all()
        return (table if columns is None else table.select(columns)).combine_chunks()

    def pieces(self) -> Iterator[_Piece]:
        for number, first_row in enumerate(self.starts):
            table = self._read(number)
            keys = _keys_of(_key_table(table))
            name, order = self._files[number]
            lines = pa.table({**file_columns(name, order, table.num_rows),
                              **{column: table[column] for column in _LINE_COLUMNS}})
            del table
            yield _Piece(lines, first_row, keys)
            (self.spill / f"lines-{number:05d}.arrow").unlink()

    def keys_at(self, rows: np.ndarray) -> Keys:
        """The key fields of the run rows ``rows`` (ascending), read from the pieces that
        hold them (memory-mapped: only the pages of those rows are read)."""
        bounds = np.searchsorted(rows, [*self.starts[1:], np.iinfo(np.int64).max])
        tables, low = [], 0
        for number, high in enumerate(bounds):
            if high > low:
                local = rows[low:high] - self.starts[number]
                tables.append(_key_table(self._read(number, _STORED_KEYS)
                                         .take(pa.array(local))))
            low = high
        return _keys_of(pa.concat_tables(tables).combine_chunks())


_LINE_COLUMNS = ["line", *(f"raw_{name}" for name in COLUMNS)]
_STORED_KEYS = ["raw_account_id", "raw_enterprise_id", "key_utility", "key_month",
                "key_enterprise_ok"]


def _key_table(table: pa.Table) -> pa.Table:
    """The key fields of stored lines (``_STORED_KEYS``) as text, as :func:`line_keys`
    found them."""
    one = functools.partial(_only_chunk, table)
    codes = one("key_utility").to_numpy(zero_copy_only=False).astype(np.int64)
    month = one("key_month")
    return pa.table({"utility": utility_text(codes),
                     "account_id": account_key(one("raw_account_id")),
                     "month": month.dictionary_decode() if len(month)
                     else pa.array([], pa.string()),
                     "enterprise_id": enterprise_key(one("raw_enterprise_id")),
                     "enterprise_ok": one("key_enterprise_ok")})


def _only_chunk(table: pa.Table, name: str) -> pa.Array:
    """A column of a combined table as one array (empty when the table has no rows)."""
    column = table[name]
    return column.chunk(0) if column.num_chunks else pa.array([], column.type)


def _keys_of(table: pa.Table) -> Keys:
    """The :class:`Keys` of a table of :func:`_key_table`."""
    column = {name: _only_chunk(table, name) for name in table.column_names}
    return Keys(column["utility"], column["account_id"], column["month"],
                column["enterprise_id"], column["enterprise_ok"].to_numpy(zero_copy_only=False),
                None)


def _no_rows(reader: PieceReader, source: str) -> None:
    """The errors an in-memory read gives for a file without data rows."""
    if not reader.header:
        raise empty_file(source)
    extract_columns(reader.header, source)
    raise no_data_rows(source)


class _Buckets:
    """Surcharge lines spilled by sort-key range, read back one sorted bucket at a time.

    A line is spilled as its finished CSV text (:func:`csv_rows`) beside its sort keys: a
    bucket is sorted on the keys and its text taken once, instead of every column.
    """

    def __init__(self, spill: Path, boundaries: pa.Array) -> None:
        self.boundaries = boundaries
        self._spill = Spill(spill, "surcharges")

    def add(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        keys = {name: arrow_text(frame[name]) for name in [*_ACCOUNT, *_COMPONENT[:-1]]}
        table = pa.table({**keys, "_order": frame["_order"].to_numpy(dtype=np.int64),
                          "csv": csv_rows(frame, SURCHARGE_COLUMNS)})
        key = sort_key(keys["utility"], keys["account_id"])
        bucket = np.zeros(len(frame), dtype=np.int64)
        for bound in self.boundaries:
            bucket += pc.greater_equal(key, bound).to_numpy(zero_copy_only=False)
        self._spill.add(table, bucket)

    def sorted_rows(self) -> Iterator[pa.ChunkedArray]:
        """The CSV text of the buckets in order, each sorted; two are sorted at a time."""
        return mapped(_sorted, self._spill.parts())


def _sorted(table: pa.Table) -> pa.ChunkedArray:
    order = surcharge_order(table.select(_ACCOUNT), table.select(_COMPONENT))
    return table["csv"].take(pa.array(order))
