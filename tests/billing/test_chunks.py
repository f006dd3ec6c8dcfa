"""Pieces of a file parse to exactly the rows and physical lines of the whole file."""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.billing import chunks
from pricing.billing.chunks import PieceReader, scan_file
from pricing.billing.encoding import parse_records, read_csv_table
from pricing.errors import InputError

FIELDS = st.sampled_from(["a", "", "电", "水费", "1.5", '"q,""x"""', '"two\nlines"',
                          '"crlf\r\nin"', "  spaced ", '""""', '""'])


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, str]:
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    rows = draw(st.lists(st.lists(FIELDS, min_size=3, max_size=3), max_size=12))
    lines = ["h1,h2,h3"]
    for row in rows:
        lines.append(",".join(row))
        if draw(st.booleans()) and draw(st.booleans()):
            lines.append("")  # a blank line: not a record
    text = newline.join(lines) + (newline if draw(st.booleans()) else "")
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    return text.encode(encoding), encoding


def _pieces(path: Path, records: int, encoding: str | None = None
            ) -> tuple[PieceReader, pa.Table, np.ndarray]:
    found = scan_file(path, path.name, encoding)
    reader = PieceReader(path, path.name, records, found.encoding)
    pieces = list(reader)
    assert all(p.newlines == p.body.count(b"\n") for p in pieces)
    parsed = [parse_records(p.body, reader.header, path.name, first_line=p.first_line,
                            has_header=False, newlines=p.newlines) for p in pieces]
    assert all(table.num_rows <= records for table, _ in parsed)  # a piece's bound holds
    if not parsed:
        return reader, pa.table({}), np.zeros(0, dtype=np.int64)
    return (reader, pa.concat_tables([t for t, _ in parsed]),
            np.concatenate([lines for _, lines in parsed]))


@settings(max_examples=150)
@given(csv_files(), st.integers(1, 5), st.sampled_from([3, 7, 64, 1 << 20]))
def test_pieces_equal_the_whole_file(tmp_path_factory: pytest.TempPathFactory,
                                     file: tuple[bytes, str], records: int,
                                     block: int) -> None:
    data, _ = file
    path = tmp_path_factory.mktemp("pieces") / "x.csv"
    path.write_bytes(data)
    old, chunks.BLOCK_BYTES = chunks.BLOCK_BYTES, block
    try:
        reader, table, lines = _pieces(path, records)
    finally:
        chunks.BLOCK_BYTES = old
    try:
        whole = read_csv_table(path)
    except InputError:  # a lone header without a newline: no rows either way
        assert table.num_rows == 0 and reader.header == ["h1", "h2", "h3"]
        return
    assert reader.header == whole.header
    assert reader.sha256 == whole.sha256
    assert table.to_pylist() == whole.table.to_pylist()
    assert lines.tolist() == whole.lines.tolist()


def test_gb18030_is_detected_and_reported_lines_follow_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("类别,户号\n电,1\n\n水,\"2\n3\"\n电,4\n".encode("gb18030"))
    reader, table, lines = _pieces(path, 1)
    assert reader.encoding == "gb18030" and scan_file(path, path.name).newlines == 6
    assert reader.header == ["类别", "户号"]
    assert table.column("类别").to_pylist() == ["电", "水", "电"]
    assert lines.tolist() == [2, 4, 6]


def test_undecodable_bytes_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"a,b\n1,2\n3,\xff\n")
    with pytest.raises(InputError) as caught:
        _pieces(path, 1)
    assert caught.value.row == 3 and "utf-8" in str(caught.value)


@pytest.mark.parametrize(("encoding", "name"), [("gb18030", "gb18030"), ("utf-8", "utf-8")])
def test_a_whole_file_read_names_the_line_it_cannot_decode(tmp_path: Path, encoding: str,
                                                           name: str) -> None:
    """Neither encoding reads it: the one that reads further tells the line and byte."""
    path = tmp_path / "bad.csv"
    text = "类别,户号\n电,宁波一号\n水,宁波二号\n电,三号\n"
    path.write_bytes(text.encode(encoding) + b"\xff\xff,1\n")
    with pytest.raises(InputError) as caught:
        read_csv_table(path)
    assert caught.value.row == 5
    assert f"as {name}, byte 0xff" in str(caught.value)


@given(st.binary(max_size=3000), st.sampled_from([10, 34, 0, 255]),
       st.sampled_from([1, 7, 64, 1 << 18]))
@settings(max_examples=150, deadline=None)
def test_count_byte_counts_across_block_edges(data: bytes, value: int, block: int) -> None:
    """The blocked count equals ``bytes.count``, whatever the block size (edges included)."""
    from pricing.billing import encoding

    saved = encoding._SCAN_BYTES
    encoding._SCAN_BYTES = block
    try:
        assert encoding.count_byte(data, value) == data.count(bytes([value]))
        assert encoding.count_byte(bytearray(data), value) == data.count(bytes([value]))
    finally:
        encoding._SCAN_BYTES = saved
