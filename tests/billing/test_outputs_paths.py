"""The CSV writer's two ways to build lines give the same bytes (SPEC "Outputs of run").

Chunks without a field to quote go through Arrow's CSV writer; the others through the
column-join path. Both must match RFC 4180 as Python's csv module writes it with ``\\r\\n``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.billing import outputs
from pricing.billing.outputs import CsvWriter, write_csv


def _reference(frame: pd.DataFrame) -> bytes:
    """What the file must hold (utf-8, no BOM): minimal quoting, NA empty."""
    sink = io.StringIO(newline="")
    writer = csv.writer(sink, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(frame.columns)
    for row in frame.itertuples(index=False):
        writer.writerow(["" if value is None or value is pd.NA else str(value) for value in row])
    return sink.getvalue().encode("utf-8")


TEXT = st.one_of(st.none(), st.text(alphabet=st.sampled_from(list('ab é,"\r\n1;')), max_size=6))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT, TEXT), min_size=1, max_size=20))
def test_both_paths_match_the_csv_module(tmp_path_factory, rows) -> None:
    frame = pd.DataFrame(rows, columns=["a", "b", "c"], dtype="string")
    path = tmp_path_factory.mktemp("csv") / "out.csv"
    digest, count = write_csv(frame, path, encoding="utf-8")
    data = path.read_bytes()
    assert data == _reference(frame)
    assert count == len(frame) and digest == hashlib.sha256(data).hexdigest()


def test_bare_and_quoting_paths_agree_on_plain_text() -> None:
    columns = [pa.array(["x", None, "", "é"], pa.large_string()),
               pa.array(["1", "2", None, "3"], pa.string())]
    bare = outputs._bare_lines(columns)
    assert bare is not None
    assert bytes(bare) == bytes(outputs._csv_lines(columns)) == "x,1\r\n,2\r\n,\r\né,3\r\n".encode()


@pytest.mark.parametrize("special", [",", '"', "\r", "\n"])
def test_bare_path_refuses_fields_that_need_quotes(special: str) -> None:
    assert outputs._bare_lines([pa.array(["a", f"b{special}"]), pa.array(["1", "2"])]) is None


def test_chunks_with_and_without_quotes_keep_their_order(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outputs, "_CHUNK_ROWS", 4)
    values = [f"v{i}" for i in range(13)]
    values[6] = "needs,quotes"  # only the second chunk takes the quoting path
    frame = pd.DataFrame({"i": [str(i) for i in range(13)], "v": values}, dtype="string")
    path = tmp_path / "out.csv"
    writer = CsvWriter(path, ["i", "v"], encoding="utf-8")
    writer.write(frame)
    writer.write(frame.iloc[:2])
    digest, rows = writer.close()
    data = path.read_bytes()
    assert data == _reference(pd.concat([frame, frame.iloc[:2]], ignore_index=True))
    assert rows == 15 and digest == hashlib.sha256(data).hexdigest()


def test_gb18030_and_integer_columns_take_the_bare_path(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    frame = pd.DataFrame({"名称": ["宁波", "杭州"], "band": [1, 2]})
    write_csv(frame, path, encoding="gb18030")
    assert path.read_bytes() == "名称,band\r\n宁波,1\r\n杭州,2\r\n".encode("gb18030")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT, TEXT), min_size=0, max_size=20), st.randoms(),
       st.sampled_from(["utf-8", "gb18030"]))
def test_rows_made_ahead_and_written_in_any_order_are_the_rows_written(
        tmp_path_factory, rows, shuffle, encoding: str) -> None:
    frame = pd.DataFrame(rows, columns=["a", "b", "c"], dtype="string")
    made = outputs.csv_rows(frame, ["a", "b", "c"])
    assert len(made) == len(frame)
    order = list(range(len(frame)))
    shuffle.shuffle(order)
    moved = pa.chunked_array([made.take(pa.array(order[:3], pa.int64())),
                              made.take(pa.array(order[3:], pa.int64()))], pa.large_string())
    folder = tmp_path_factory.mktemp("rows")
    writer = CsvWriter(folder / "rows.csv", ["a", "b", "c"], encoding=encoding)
    writer.write_rows(moved)
    found = writer.close()
    expected = write_csv(frame.iloc[order], folder / "frame.csv", encoding=encoding)
    assert (folder / "rows.csv").read_bytes() == (folder / "frame.csv").read_bytes()
    assert found == expected


def test_write_back_is_started_for_every_byte_written_and_changes_no_byte(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every few bytes the writer asks the system to start writing the range just written
    to disk (the run directory's sync then has little left); the ranges follow each other
    from the first byte to the last, and the file is the file written without them."""
    advised: list[tuple[int, int, int]] = []
    monkeypatch.setattr(outputs, "_WRITEBACK_BYTES", 100)
    monkeypatch.setattr(outputs, "_CHUNK_ROWS", 50)  # four chunks, emitted by a helper
    monkeypatch.setattr(outputs.os, "posix_fadvise",
                        lambda fd, offset, length, advice: advised.append(
                            (offset, length, advice)))
    frame = pd.DataFrame({"i": [str(i) for i in range(200)],
                          "v": ["a,b" if i % 7 == 0 else "x" for i in range(200)]},
                         dtype="string")
    writer = CsvWriter(tmp_path / "out.csv", ["i", "v"], encoding="utf-8")
    writer.write(frame)
    writer.write_rows(outputs.csv_rows(frame, ["i", "v"]))
    writer.close()
    data = (tmp_path / "out.csv").read_bytes()
    assert data == _reference(frame) + _reference(frame).split(b"\r\n", 1)[1]
    assert len(advised) == 5  # four chunks, then the rows made ahead
    assert {advice for *_, advice in advised} == {outputs.os.POSIX_FADV_DONTNEED}
    starts = [offset for offset, _, _ in advised]
    ends = [offset + length for offset, length, _ in advised]
    assert starts[0] == 0 and starts[1:] == ends[:-1] and ends[-1] == len(data)
