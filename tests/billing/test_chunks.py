"""Pieces of a file parse to exactly the rows and physical lines of the whole file."""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.billing import chunks, encoding
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


@st.composite
def quoted_records(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """Fully quoted files of 1-4 columns (as exports write them), some values spanning
    lines, without blank lines: what the faster parse is tried on."""
    columns = draw(st.integers(1, 4))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    # no CR LF inside a value: Arrow's own spanning parse drops the LF when a block ends
    # between the two (pyarrow 26), which is no reference to compare against
    cells = st.sampled_from(["a", "", "电", "x,y", 'q""z', "two\nlines", "\n", "1.5"])
    rows = draw(st.lists(st.lists(cells, min_size=columns, max_size=columns), min_size=1,
                         max_size=14))
    header = [f"h{i}" for i in range(columns)]
    lines = [",".join(f'"{cell}"' for cell in row) for row in [header, *rows]]
    text = newline.join(lines) + (newline if draw(st.booleans()) else "")
    return text.encode(), header


@settings(max_examples=300)
@given(quoted_records(), st.integers(64, 160))  # a record fits one block
def test_records_a_line_parse_as_spanning_values_do(file: tuple[bytes, list[str]],
                                                    block: int) -> None:
    """Quoted files are first read as one record a line (blocks cut at any newline); a
    value spanning lines, wherever the blocks fall, must still give Arrow's own reading of
    the file and the lines of ``_record_lines``."""
    body, header = file
    import pyarrow.csv as pacsv

    expected = pacsv.read_csv(
        pa.py_buffer(body), read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={name: pa.string()
                                                           for name in header},
                                             strings_can_be_null=False,
                                             quoted_strings_can_be_null=False))
    old, encoding.BLOCK_BYTES = encoding.BLOCK_BYTES, block
    try:
        table, lines = parse_records(body, header, "x.csv", first_line=1, has_header=True)
    finally:
        encoding.BLOCK_BYTES = old
    assert table.equals(expected)
    assert lines.tolist() == encoding._record_lines(body)[1:].tolist()


def test_a_one_column_piece_is_never_read_a_record_a_line() -> None:
    """Cut at a block's end, ``"two`` and ``lines"`` would each pass for a one-column
    record: such a file is read with values spanning lines from the start."""
    body = b'"1.5"\n""\n"a"\n""\n"1.5"\n"a"\n"two\nlines"\n"x,y"'
    old, encoding.BLOCK_BYTES = encoding.BLOCK_BYTES, 27  # a block ends inside "two\nlines"
    try:
        table, lines = parse_records(body, ["h0"], "x.csv", first_line=5, has_header=False)
    finally:
        encoding.BLOCK_BYTES = old
    assert table["h0"].to_pylist() == ["1.5", "", "a", "", "1.5", "a", "two\nlines", "x,y"]
    assert lines.tolist() == [5, 6, 7, 8, 9, 10, 11, 13]
