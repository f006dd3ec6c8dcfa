"""Cross-piece checks: the counts of a streamed run equal those of the whole run at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing.billing import crosscheck, extract, hashing
from pricing.billing.crosscheck import CrossCheck, account_hash, partition_of
from pricing.billing.extract import CrossFaults, Keys, line_keys
from pricing.billing.hashing import _edges, _windows, id_hash

ACCOUNTS = st.sampled_from(["", " ", "A1", "A1 ", "a1", "户号7", "0001", "1", "x\x00y", None])


@given(st.lists(ACCOUNTS, max_size=30), st.integers(1, 9), st.integers(0, 5))
def test_partition_depends_on_the_text_only(accounts: list[str | None], parts: int,
                                            skip: int) -> None:
    array = pa.array(["pad"] * skip + accounts, pa.string()).slice(skip)
    utility = pa.array([None] * skip + [("water", None, "electricity")[len(a or "") % 3]
                                        for a in accounts], pa.string()).slice(skip)
    hashes = account_hash(utility, array)
    found = partition_of(hashes, parts)
    assert ((found >= 0) & (found < parts)).all()
    alone = [account_hash(utility.slice(i, 1), pa.array([a], pa.string()))[0]
             for i, a in enumerate(accounts)]
    assert hashes.tolist() == alone


line = st.tuples(st.sampled_from(["electricity", "water", "电", "gas", ""]), ACCOUNTS,
                 st.sampled_from(["91330212MA2H000019", "91330212MA2H00012D", "913302120000",
                                  ""]),
                 st.sampled_from(["2025-03", "202503", "2025-02", "x"]))


def _keys_at(keys: Keys) -> Callable[[np.ndarray], Keys]:
    """What a streamed run's line cache answers: the key fields of some rows, as kept."""
    def at(rows: np.ndarray) -> Keys:
        taken = pa.array(rows, pa.int64())
        return Keys(keys.utility.take(taken), keys.account_id.take(taken),
                    keys.month.take(taken), keys.enterprise_id.take(taken),
                    keys.enterprise_ok[rows], None)
    return at


def _coarse(utility: pa.Array, accounts: pa.Array) -> np.ndarray:
    """A hash that collides for every account of the same length."""
    return pc.utf8_length(pc.fill_null(accounts, "")).to_numpy(
        zero_copy_only=False).astype(np.uint64)


HASHES = {"account": account_hash, "length": _coarse,
          "constant": lambda utility, accounts: np.full(len(accounts), 7, dtype=np.uint64)}


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(line, max_size=40), st.integers(1, 7), st.integers(1, 6),
       st.sampled_from(sorted(HASHES)))
def test_streamed_counts_equal_whole_counts(tmp_path: Path, lines: list[tuple],
                                            parts: int, piece: int, hashing: str) -> None:
    """However coarse the account hash (one that collides for every line included)."""
    columns = [pa.array([row[i] or "" for row in lines], pa.string()) for i in range(4)]
    whole_keys = line_keys(*columns)
    whole = CrossFaults.of(whole_keys)
    spill = tmp_path / f"spill{len(list(tmp_path.iterdir()))}"
    spill.mkdir()
    check = CrossCheck(spill, parts, "2025-03", len(lines), _keys_at(whole_keys))
    with patch.object(crosscheck, "account_hash", HASHES[hashing]):
        for start in range(0, len(lines), piece):
            check.add(start, line_keys(*(c.slice(start, piece) for c in columns)))
    check.finish()
    found = check.faults(0, len(lines))
    assert ((found.lines_per_key > 1) == (whole.lines_per_key > 1)).all()
    assert ((found.owners > 1) == (whole.owners > 1)).all()
    flagged = whole.lines_per_key > 1
    assert np.array_equal(found.lines_per_key[flagged], whole.lines_per_key[flagged])
    flagged = whole.owners > 1
    assert np.array_equal(found.owners[flagged], whole.owners[flagged])


ID_HASHES = {"real": id_hash,
             "length": lambda ids, salt: pc.utf8_length(pc.fill_null(ids, "")).to_numpy(
                 zero_copy_only=False).astype(np.uint64),
             "constant": lambda ids, salt: np.full(len(ids), 7, dtype=np.uint64)}


@settings(max_examples=300)
@given(st.lists(line, max_size=40), st.booleans(), st.sampled_from(sorted(ID_HASHES)))
def test_cross_faults_equal_a_plain_count(lines: list[tuple], known_codes: bool,
                                          hashing: str) -> None:
    """Per line: lines sharing its (utility, account, month), 0 when one is missing; distinct
    valid enterprise ids its (utility, account) is seen with, 0 unless its own is usable.
    Exact whatever the account hash that picks the lines counted on their text."""
    columns = [pa.array([row[i] or "" for row in lines], pa.string()) for i in range(4)]
    keys = line_keys(*columns)
    if not known_codes:  # as a streamed partition gives them: codes found from the text
        keys = Keys(keys.utility, keys.account_id, keys.month, keys.enterprise_id,
                    keys.enterprise_ok, None)
    with patch.object(extract, "id_hash", ID_HASHES[hashing]):
        found = CrossFaults.of(keys)
    utility, account, month, enterprise = (keys.utility.to_pylist(), keys.account_id.to_pylist(),
                                           keys.month.to_pylist(),
                                           keys.enterprise_id.to_pylist())
    key = list(zip(utility, account, month, strict=True))
    usable = [u is not None and a is not None and ok
              for u, a, ok in zip(utility, account, keys.enterprise_ok, strict=True)]
    for i in range(len(lines)):
        expected = 0 if None in key[i] else key.count(key[i])
        assert found.lines_per_key[i] == expected
        owners = {enterprise[j] for j in range(len(lines))
                  if usable[j] and (utility[j], account[j]) == (utility[i], account[i])}
        assert found.owners[i] == (len(owners) if usable[i] else 0)


def test_ids_that_differ_only_far_from_their_end_hash_apart() -> None:
    """Meter suffixes push the serial's leading digits out of the last eight bytes; the
    first eight bytes still tell the ids apart, so the cross-check has nothing to compare."""
    ids = [f"3302{district:02d}{block}{serial:06d}-{meter:02d}" for district in range(20)
           for block in range(10) for serial in range(100) for meter in (1, 3, 11)]
    utility = pa.array(["electricity", "water"] * (len(ids) // 2), pa.string())
    hashes = account_hash(utility, pa.array(ids, pa.string()))
    assert len(np.unique(hashes)) == len(set(zip(utility.to_pylist(), ids, strict=True)))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 30).flatmap(lambda width: st.lists(
    st.text("0123456789AB甲", min_size=width, max_size=width).filter(
        lambda text: len(text.encode()) == width), min_size=1, max_size=30)),
    st.lists(st.sampled_from(["electricity", "water", None]), min_size=30, max_size=30),
    st.sampled_from([1, 7, 1 << 16]))
def test_ids_of_one_width_hash_as_ids_of_many(ids: list[str], utilities: list[str | None],
                                              block: int) -> None:
    """Ids all one byte width are read as a matrix: the same hashes as the byte-by-byte
    gathers that ids of mixed widths take (one longer id sends them there), whatever the
    block of rows hashed at a time."""
    utility = pa.array(utilities[: len(ids)], pa.string())
    saved, hashing._BLOCK_ROWS = hashing._BLOCK_ROWS, block
    try:
        alone = account_hash(utility, pa.array(ids, pa.string()))
        mixed = account_hash(pa.array([*utilities[: len(ids)], "water"], pa.string()),
                             pa.array([*ids, ids[0] + "X"], pa.string()))
    finally:
        hashing._BLOCK_ROWS = saved
    whole = account_hash(utility, pa.array(ids, pa.string()))
    assert alone.tolist() == mixed[:-1].tolist() == whole.tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=20)), min_size=1, max_size=30),
       st.integers(0, 3))
def test_id_edges_are_the_first_and_last_eight_bytes(ids: list[str | None], skip: int
                                                    ) -> None:
    """The two words an id hashes from, against Python's bytes (short, empty, multi-byte
    ids, on an offset array)."""
    array = pc.fill_null(pa.array(["pad"] * skip + ids, pa.string()).slice(skip), "").cast(
        pa.large_string())
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[
        array.offset : array.offset + len(array) + 1]
    first, last = _edges(_windows(array.buffers()[2]), offsets[:-1], offsets[1:],
                         np.diff(offsets))
    for i, value in enumerate(ids):
        raw = (value or "").encode()
        assert int(first[i]) == int.from_bytes(raw[:8].ljust(8, b"\0"), "little")
        assert int(last[i]) == int.from_bytes(raw[::-1][:8].ljust(8, b"\0"), "little")
