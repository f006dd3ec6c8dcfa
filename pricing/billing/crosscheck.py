"""Duplicate keys and account conflicts over a streamed run, in memory bounded by a partition.

A streamed run sees its lines piece by piece, but ``duplicate_line`` and ``account_conflict``
compare lines anywhere in the run. The first pass writes each line's run row and a hash of its
account (utility and id) to one of several partition files, chosen by the hash, so every line
of an account lands in the same partition. Only lines whose hash repeats in their partition
can share an account with another line (equal accounts hash equal); each partition's such
lines are looked up (their key fields, kept by the caller with the parsed lines) and counted
with the same counting as an in-memory run (:meth:`CrossFaults.of`). What is kept is only
the lines at fault (their run row and count) and a sample of the keys that sets the output's
sort buckets.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pricing.billing.extract import UTILITY_NAMES, CrossFaults, Keys, repeated
from pricing.billing.hashing import id_hash
from pricing.billing.overlap import mapped
from pricing.billing.spill import Spill

SAMPLE_SIZE = 100_000
_SCHEMA = pa.schema([("row", pa.int64()), ("account_hash", pa.uint64())])
_UTILITIES = pa.array(UTILITY_NAMES, pa.string())


def partition_of(hashes: np.ndarray, parts: int) -> np.ndarray:
    """A partition number per :func:`account_hash`."""
    return ((hashes >> np.uint64(32)) % np.uint64(parts)).astype(np.int64)


def account_hash(utility: pa.Array, accounts: pa.Array) -> np.ndarray:
    """A 64-bit hash per account ``(utility, account_id)`` (missing parts hash as empty):
    :func:`id_hash` of the id, salted with the utility.

    Only determinism matters for correctness (the same account, the same hash, in every
    piece); the cross-check is exact whatever collides, but each collision costs a text
    comparison. The utility is mixed in because one id often names both an electricity and
    a water account.
    """
    utility_code = pc.fill_null(pc.index_in(utility, value_set=_UTILITIES), -1).to_numpy(
        zero_copy_only=False).astype(np.int64)
    return id_hash(accounts, utility_code)


KeysAt = Callable[[np.ndarray], Keys]  # the key fields of some run rows (ascending)


class CrossCheck:
    """Collects an account hash of every line (``add``), then finds the lines at fault
    (``finish``, looking up the key fields of the few lines whose hash repeats with
    ``keys_at``) and hands them out per piece (``faults``)."""

    def __init__(self, spill: Path, partitions: int, period: str, expected_rows: int,
                 keys_at: KeysAt) -> None:
        self.keys_at = keys_at
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
            pa.array(np.arange(first_row, first_row + rows, dtype=np.int64)), pa.array(hashes)],
            schema=_SCHEMA)
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
        flagged = functools.partial(_flagged, keys_at=self.keys_at)
        for at, lines_per_key, owner_counts in mapped(flagged, self._keys.parts()):
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


def _flagged(part: pa.Table, keys_at: KeysAt) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run rows of one partition at fault, with their key and owner counts: counted
    among the lines whose account hash repeats, which hold every line sharing an account."""
    table = part.combine_chunks()
    rows = np.sort(table["row"].to_numpy()[repeated(table["account_hash"].to_numpy())])
    if len(rows) == 0:
        return rows, rows, rows
    found = CrossFaults.of(keys_at(rows))
    flagged = (found.lines_per_key > 1) | (found.owners > 1)
    return rows[flagged], found.lines_per_key[flagged], found.owners[flagged]


def sort_key(utility: pa.Array, account_id: pa.Array) -> pa.Array:
    """``utility NUL account_id``: ordered as the pair, since the utility names are fixed
    and neither is a prefix of the other."""
    return pc.binary_join_element_wise(utility, account_id.cast(utility.type),
                                       pa.scalar("\x00", utility.type))
