"""Cross-piece checks: the counts of a streamed run equal those of the whole run at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing.billing.crosscheck import CrossCheck, account_hash, partition_of
from pricing.billing.extract import CrossFaults, Keys, line_keys

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


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(line, max_size=40), st.integers(1, 7), st.integers(1, 6))
def test_streamed_counts_equal_whole_counts(tmp_path: Path, lines: list[tuple],
                                            parts: int, piece: int) -> None:
    columns = [pa.array([row[i] or "" for row in lines], pa.string()) for i in range(4)]
    whole = CrossFaults.of(line_keys(*columns))
    spill = tmp_path / f"spill{len(list(tmp_path.iterdir()))}"
    spill.mkdir()
    check = CrossCheck(spill, parts, "2025-03", len(lines))
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


@settings(max_examples=300)
@given(st.lists(line, max_size=40), st.booleans(),
       st.sampled_from(["none", "account", "constant", "length"]))
def test_cross_faults_equal_a_plain_count(lines: list[tuple], known_codes: bool,
                                          hashing: str) -> None:
    """Per line: lines sharing its (utility, account, month), 0 when one is missing; distinct
    valid enterprise ids its (utility, account) is seen with, 0 unless its own is usable.
    However coarse the account hash (one that collides for every line included)."""
    columns = [pa.array([row[i] or "" for row in lines], pa.string()) for i in range(4)]
    keys = line_keys(*columns)
    if not known_codes:  # as a streamed partition gives them: codes found from the text
        keys = Keys(keys.utility, keys.account_id, keys.month, keys.enterprise_id,
                    keys.enterprise_ok, None)
    hashes = {"none": None, "account": account_hash(keys.utility, keys.account_id),
              "constant": np.full(len(lines), 7, dtype=np.uint64),
              "length": pc.utf8_length(pc.fill_null(keys.account_id, "")).to_numpy(
                  zero_copy_only=False).astype(np.uint64)}[hashing]
    found = CrossFaults.of(keys, hashes)
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
