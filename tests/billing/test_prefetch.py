"""The register and extracts read early by the CLI: the same tables, the same errors, in the
same order."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from pricing.billing.chunks import scan_file
from pricing.billing.encoding import read_csv_table
from pricing.billing.extract import read_extracts
from pricing.billing.prefetch import (
    BYTES_PER_LINE,
    CHUNK_LINES,
    LARGE_REGISTER_BYTES,
    Prefetch,
    default_chunk_lines,
    default_piece_lines,
    held_in_memory,
    prefetch,
)
from pricing.billing.register import read_register
from pricing.billing.stream import needs_streaming
from pricing.errors import ErrorList, InputError

GOLDEN = Path(__file__).parents[1] / "e2e" / "golden"


def test_a_prefetched_table_is_the_table_read_directly(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes((GOLDEN / "billing.csv").read_text(encoding="utf-8").encode("gb18030"))
    early = Prefetch([path, GOLDEN / "billing.csv"], None)
    for source in (path, GOLDEN / "billing.csv"):
        found, direct = early.take(source), read_csv_table(source, source=str(source))
        assert found.table.equals(direct.table)
        assert found.header == direct.header and found.sha256 == direct.sha256
        assert (found.lines == direct.lines).all()
        assert early.take(source) is None  # handed over once, then dropped


def test_extracts_from_a_prefetch_equal_extracts_read_directly() -> None:
    paths = [GOLDEN / "billing.csv"]
    direct = read_extracts(paths, period="2025-03")
    early = read_extracts(paths, period="2025-03", prefetched=Prefetch(paths, None))
    assert early.clean.equals(direct.clean) and early.rejects.equals(direct.rejects)
    assert early.inputs == direct.inputs


def test_a_read_error_is_raised_when_the_table_is_taken(tmp_path: Path) -> None:
    missing, junk = tmp_path / "missing.csv", tmp_path / "junk.csv"
    junk.write_bytes(b"\x00\x01\x02garbage\xff\xfe")
    early = Prefetch([missing, junk], None)  # starting never raises
    with pytest.raises(InputError, match="cannot read the file"):
        early.take(missing)
    with pytest.raises(InputError, match="junk.csv"):
        early.take(junk)


def test_only_extracts_held_in_memory_are_read_early(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"x" * (10 * BYTES_PER_LINE))
    assert held_in_memory([path], chunk_lines=10)
    assert not held_in_memory([path, path], chunk_lines=10)
    assert not held_in_memory([tmp_path / "missing.csv"], chunk_lines=10)
    assert prefetch([path, path], chunk_lines=10, encoding=None) is None
    assert isinstance(prefetch([path], chunk_lines=10, encoding=None), Prefetch)
    register_only = prefetch([path, path], chunk_lines=10, encoding=None, register=path)
    assert register_only is not None and not register_only.reads_extracts
    assert register_only.take(path) is None  # the extracts are left to the streamed reader
    with pytest.raises(ValueError, match="only the register"):
        register_only.extract("2025-03")


def test_a_prefetched_register_is_the_register_read_directly() -> None:
    register = GOLDEN / "register.csv"
    early = Prefetch([GOLDEN / "billing.csv"], None, register=register, extracts=False)
    assert early.take_register(GOLDEN / "billing.csv") is None  # not the register read here
    found, direct = read_register(register, prefetched=early), read_register(register)
    assert found.frame.equals(direct.frame)
    assert (found.sha256, found.rows) == (direct.sha256, direct.rows)
    assert early.take_register(register) is None  # handed over once


def test_a_prefetched_register_raises_the_errors_of_a_direct_read(tmp_path: Path) -> None:
    register = tmp_path / "register.csv"
    register.write_text("enterprise_id,name,district,industry_code,year\n"
                        "BAD,x,330212,C3391,2024\n", encoding="utf-8")
    early = Prefetch([], None, register=register, extracts=False)
    with pytest.raises(ErrorList) as found:
        read_register(register, prefetched=early)
    with pytest.raises(ErrorList) as direct:
        read_register(register)
    assert str(found.value) == str(direct.value) and "register.csv:2" in str(found.value)


def test_register_errors_still_come_before_extract_errors(tmp_path: Path) -> None:
    register, junk = tmp_path / "register.csv", tmp_path / "junk.csv"
    register.write_text("enterprise_id,name,district,industry_code,year\n"
                        "BAD,x,330212,C3391,2024\n", encoding="utf-8")
    junk.write_bytes(b"\x00\x01\x02garbage\xff\xfe")
    result = CliRunner().invoke(main, [
        "run", "--period", "2025-03", "--register", str(register), "--billing", str(junk),
        "--rules", str(GOLDEN / "rules"), "--tariffs", str(GOLDEN / "tariffs"),
        "--out", str(tmp_path / "run")])
    assert result.exit_code != 0
    assert "register.csv:2" in result.output and "junk.csv" not in result.output
    assert "Traceback" not in result.output


def test_the_reading_thread_checks_the_lines_when_asked() -> None:
    paths = [GOLDEN / "billing.csv"]
    direct = read_extracts(paths, period="2025-03")
    early = Prefetch(paths, None)
    checked = early.extract("2025-03")
    assert early.extract("2025-03") is checked  # asked again: the same work
    found = checked.result(timeout=60)
    assert found.clean.equals(direct.clean) and found.rejects.equals(direct.rejects)
    assert found.inputs == direct.inputs
    with pytest.raises(ValueError, match="checked for 2025-03"):
        early.extract("2025-04")


def test_a_file_that_cannot_be_read_fails_the_checked_lines(tmp_path: Path) -> None:
    early = Prefetch([GOLDEN / "billing.csv", tmp_path / "missing.csv"], None)
    with pytest.raises(InputError, match="missing.csv.*cannot read the file"):
        early.extract("2025-03").result(timeout=60)


def test_a_province_register_halves_the_default_piece(tmp_path: Path) -> None:
    city, province = tmp_path / "city.csv", tmp_path / "province.csv"
    city.write_bytes(b"x" * 1000)
    with open(province, "wb") as handle:  # sparse: the size is what counts
        handle.truncate(LARGE_REGISTER_BYTES + 1)
    assert default_chunk_lines(city) == CHUNK_LINES
    assert default_chunk_lines(province) == CHUNK_LINES // 2
    assert default_chunk_lines(tmp_path / "missing.csv") == CHUNK_LINES
    # a month longer than that streams in pieces of half as many lines
    assert default_piece_lines(city) == CHUNK_LINES // 2
    assert default_piece_lines(province) == CHUNK_LINES // 4
    # a cluster run's pieces are round trips to the workers: the whole limit each
    assert default_piece_lines(city, cluster=True) == CHUNK_LINES
    assert default_piece_lines(province, cluster=True) == CHUNK_LINES // 2


def test_register_errors_come_first_in_a_streamed_run_too(tmp_path: Path) -> None:
    """The register is classified beside the first pass, whose own error comes later."""
    register, extract = tmp_path / "register.csv", tmp_path / "extract.csv"
    register.write_text("enterprise_id,name,district,industry_code,year\n"
                        "BAD,x,330212,C3391,2024\n", encoding="utf-8")
    extract.write_text("a,b\n" + "1,2\n" * 400, encoding="utf-8")  # streams; no billing columns
    arguments = ["run", "--period", "2025-03", "--billing", str(extract),
                 "--rules", str(GOLDEN / "rules"), "--tariffs", str(GOLDEN / "tariffs"),
                 "--chunk-lines", "10"]
    result = CliRunner().invoke(main, [*arguments, "--register", str(register),
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "register.csv:2" in result.output
    assert "extract.csv" not in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
    result = CliRunner().invoke(main, [*arguments, "--register", str(GOLDEN / "register.csv"),
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "extract.csv" in result.output  # then the extract's


def test_extracts_too_long_to_hold_are_scanned_early(tmp_path: Path) -> None:
    """A streamed run's extracts are scanned (lines, encoding) by the reading thread: the
    same scans as the batch makes, handed over once; an unreadable file raises there."""
    gb = tmp_path / "gb.csv"
    gb.write_bytes((GOLDEN / "billing.csv").read_text(encoding="utf-8").replace(
        "electricity", "电").encode("gb18030"))
    paths = [GOLDEN / "billing.csv", gb]
    early = Prefetch(paths, None, register=GOLDEN / "register.csv", extracts=False)
    assert needs_streaming(paths, 2, None, early) == [scan_file(p, str(p)) for p in paths]
    assert [scan.encoding for scan in needs_streaming(paths, 2, None)] == ["utf-8", "gb18030"]
    assert early.scan(paths[0]) is None  # handed over once
    missing = tmp_path / "missing.csv"
    early = Prefetch([missing], None, extracts=False)
    with pytest.raises(InputError, match="missing.csv: cannot read the file"):
        early.scan(missing)
