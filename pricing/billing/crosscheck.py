"""Duplicate keys and account conflicts over a streamed run, in memory bounded by a partition.

A streamed run sees its lines piece by piece, but ``duplicate_line`` and ``account_conflict``
compare lines anywhere in the run. The first pass writes each line's key fields to one of
several partition files, chosen by a hash of the account id, so every line of an account lands
in the same partition; each partition is then checked alone with the same counting as an
in-memory run (:meth:`CrossFaults.of`); the hash travels with the keys, so only the lines
whose hash repeats in a partition are compared as text. What is kept is only the lines at
fault (their run row and count) and a sample of the keys that sets the output's sort buckets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pricing.billing.extract import UTILITY_VALUES, CrossFaults, Keys
from pricing.billing.overlap import mapped
from pricing.billing.spill import Spill

SAMPLE_SIZE = 100_000
_SCHEMA = pa.schema([("row", pa.int64()), ("account_hash", pa.uint64()),
                     ("utility", pa.string()), ("account_id", pa.string()), ("month", pa.string()),
                     ("enterprise_id", pa.string()), ("enterprise_ok", pa.bool_())])
_UTILITIES = pa.array(list(dict.fromkeys(UTILITY_VALUES.values())), pa.string())
_MULTIPLIERS = np.array([0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1,
                         0xD3A2646C, 0xFD7046C5, 0xB55A4F09], dtype=np.uint64)


def partition_of(hashes: np.ndarray, parts: int) -> np.ndarray:
    """A partition number per :func:`account_hash`."""
    return ((hashes >> np.uint64(32)) % np.uint64(parts)).astype(np.int64)


def account_hash(utility: pa.Array, accounts: pa.Array) -> np.ndarray:
    """A 64-bit hash per account ``(utility, account_id)`` (missing parts hash as empty),
    from the utility and the id's length and last bytes.

    Only determinism matters for correctness (the same account, the same hash, in every
    piece); the last bytes are where account numbers differ, and reading a fixed number of
    them per id costs the same however long the ids are. The utility is mixed in because
    one id often names both an electricity and a water account.
    """
    utility_code = pc.fill_null(pc.index_in(utility, value_set=_UTILITIES), -1).to_numpy(
        zero_copy_only=False).astype(np.int64)
    mixed = (utility_code + 2).astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)
    accounts = pc.fill_null(accounts, "").cast(pa.large_string())
    offsets = np.frombuffer(accounts.buffers()[1], dtype=np.int64)[
        accounts.offset : accounts.offset + len(accounts) + 1]
    data = accounts.buffers()[2]
    # every id empty: no bytes to read, and the one path below still hashes them alike
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None and len(data) else \
        np.zeros(1, dtype=np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    mixed += (ends - starts).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    for back, multiplier in enumerate(_MULTIPLIERS, start=1):
        at = ends - back
        present = at >= starts
        byte = raw[np.where(present, at, 0)].astype(np.uint64) + np.uint64(1)
        mixed += np.where(present, byte, np.uint64(0)) * multiplier
        mixed ^= mixed >> np.uint64(29)
    mixed *= np.uint64(0xBF58476D1CE4E5B9)
    return mixed


class CrossCheck:
    """Collects the key fields of every line (``add``), then finds the lines at fault
    (``finish``) and hands them out per piece (``faults``)."""

    def __init__(self, spill: Path, partitions: int, period: str, expected_rows: int) -> None:
        self.partitions = max(1, partitions)
        self.period = period
        self.every = max(1, expected_rows // SAMPLE_SIZE)
        self._keys = Spill(spill, "keys")
        self._sample: list[pa.Array] = []
        self._flagged: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def add(self, first_row: int, keys: Keys) -> None:
        """The keys of the lines ``first_row, first_row + 1, …`` of the run."""
        rows = len(keys.enterprise_ok)
        hashes = account_hash(keys.utility, keys.account_id)
        table = pa.Table.from_arrays([
            pa.array(np.arange(first_row, first_row + rows, dtype=np.int64)), pa.array(hashes),
            keys.utility, keys.account_id, keys.month, keys.enterprise_id,
            pa.array(keys.enterprise_ok)], schema=_SCHEMA)
        self._keys.add(table, partition_of(hashes, self.partitions))
        self._take_sample(first_row, keys)

    def _take_sample(self, first_row: int, keys: Keys) -> None:
        """Every ``every``-th line (by run row) that could be priced: its sort key."""
        rows = np.arange(first_row, first_row + len(keys.enterprise_ok))
        candidate = pc.and_(pc.and_(pc.is_valid(keys.utility), pc.is_valid(keys.account_id)),
                            pc.fill_null(pc.equal(keys.month, self.period), False))
        chosen = (rows % self.every == 0) & pc.fill_null(candidate, False).to_numpy(
            zero_copy_only=False)
        where = pa.array(np.flatnonzero(chosen))
        self._sample.append(sort_key(keys.utility.take(where), keys.account_id.take(where)))

    def finish(self) -> None:
        """Check each partition alone, two at a time; keep the rows at fault, sorted."""
        rows, dup, owners = [], [], []
        for at, lines_per_key, owner_counts in mapped(_flagged, self._keys.parts()):
            rows.append(at)
            dup.append(lines_per_key)
            owners.append(owner_counts)
        if rows:
            all_rows = np.concatenate(rows)
            order = np.argsort(all_rows, kind="stable")
            self._flagged = (all_rows[order], np.concatenate(dup)[order],
                             np.concatenate(owners)[order])
        else:
            empty = np.zeros(0, dtype=np.int64)
            self._flagged = (empty, empty, empty)

    def faults(self, first_row: int, rows: int) -> CrossFaults:
        """The counts of the lines ``first_row … first_row + rows - 1``."""
        assert self._flagged is not None, "finish() first"
        flagged, dup, owners = self._flagged
        lo, hi = np.searchsorted(flagged, [first_row, first_row + rows])
        lines_per_key = np.ones(rows, dtype=np.int64)
        owner_counts = np.ones(rows, dtype=np.int64)
        at = flagged[lo:hi] - first_row
        lines_per_key[at] = dup[lo:hi]
        owner_counts[at] = owners[lo:hi]
        return CrossFaults(lines_per_key, owner_counts)

    def boundaries(self, buckets: int) -> pa.Array:
        """``buckets - 1`` sort keys that split the sampled lines into even buckets."""
        sample = pa.concat_arrays(self._sample) if self._sample else pa.array([], pa.string())
        if buckets <= 1 or len(sample) == 0:
            return pa.array([], pa.string())
        ordered = sample.take(pc.sort_indices(sample))
        picks = (np.arange(1, buckets) * len(ordered)) // buckets
        return pc.unique(ordered.take(pa.array(picks)))


def _flagged(part: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run rows of one partition at fault, with their key and owner counts."""
    table = part.combine_chunks()
    keys = Keys(table["utility"].chunk(0), table["account_id"].chunk(0),
                table["month"].chunk(0), table["enterprise_id"].chunk(0),
                table["enterprise_ok"].to_numpy(), None)
    found = CrossFaults.of(keys, table["account_hash"].to_numpy())
    flagged = (found.lines_per_key > 1) | (found.owners > 1)
    return table["row"].to_numpy()[flagged], found.lines_per_key[flagged], \
        found.owners[flagged]


def sort_key(utility: pa.Array, account_id: pa.Array) -> pa.Array:
    """``utility NUL account_id``: ordered as the pair, since the utility names are fixed
    and neither is a prefix of the other."""
    return pc.binary_join_element_wise(utility, account_id, "\x00")
