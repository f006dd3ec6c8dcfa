"""A streamed run (extract longer than --chunk-lines) writes the bytes of an in-memory run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import main
from pricing.billing import stream
from pricing.billing.batch import RunOptions, run_month
from tests.e2e.test_run_properties import CATALOG, extract_text, line

GOLDEN = Path(__file__).parent / "golden"
OUTPUTS = ("surcharges.csv", "rejects.csv", "summary.csv", "classification.csv",
           "manifest.json")


def run(out: Path, *extra: str, billing: list[Path] | None = None, rate: str = "1"):
    args = ["run", "--period", "2025-03", "--register", str(GOLDEN / "register.csv"),
            "--overrides", str(GOLDEN / "overrides.csv"), "--rules", str(GOLDEN / "rules"),
            "--tariffs", str(GOLDEN / "tariffs"), "--out", str(out),
            "--max-reject-rate", rate, *extra]
    for path in billing or [GOLDEN / "billing.csv"]:
        args += ["--billing", str(path)]
    return CliRunner().invoke(main, args)


def same_files(first: Path, second: Path) -> list[str]:
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    return [name for name in names if (first / name).read_bytes() != (second / name).read_bytes()]


@pytest.fixture(scope="module")
def in_memory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("memory") / "run"
    assert run(out).exit_code == 0
    return out


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8])
def test_golden_run_in_pieces_is_byte_identical(in_memory: Path, tmp_path: Path,
                                               chunk: int) -> None:
    result = run(tmp_path / "run", "--chunk-lines", str(chunk))
    assert result.exit_code == 0, result.output
    assert same_files(in_memory, tmp_path / "run") == []
    assert not list((tmp_path / "run").glob(".spill*"))  # spill files are gone
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["billing_rows"] == 24


def test_without_chunk_lines_a_long_month_streams_in_pieces_of_half(
        in_memory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --chunk-lines, a month longer than the default is streamed in pieces of half
    that many lines (here the default is 10 lines: the golden month's 24 stream in 5s)."""
    monkeypatch.setattr("pricing.billing.prefetch.CHUNK_LINES", 10)
    asked = []
    reader = stream.PieceReader

    def piece_reader(path: Path, source: str, lines: int, *args: object) -> object:
        asked.append(lines)
        return reader(path, source, lines, *args)

    monkeypatch.setattr(stream, "PieceReader", piece_reader)
    assert run(tmp_path / "run").exit_code == 0
    assert asked == [5]
    assert same_files(in_memory, tmp_path / "run") == []
    asked.clear()
    assert run(tmp_path / "given", "--chunk-lines", "10").exit_code == 0
    assert asked == [10]  # a number given is the piece too, as documented


@pytest.mark.parametrize("pending", [1, 3])
def test_summary_parts_summed_every_few_pieces(in_memory: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              pending: int) -> None:
    """Summary parts wait and are summed when they outgrow the sums (after every piece or
    every few): the summary is the in-memory run's either way."""
    monkeypatch.setattr("pricing.billing.stream.PENDING_PARTS", pending)
    assert run(tmp_path / "run", "--chunk-lines", "2").exit_code == 0
    assert same_files(in_memory, tmp_path / "run") == []


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_output_encodings_in_pieces(tmp_path: Path, encoding: str) -> None:
    whole = run(tmp_path / "whole", "--encoding", encoding)
    pieces = run(tmp_path / "pieces", "--encoding", encoding, "--chunk-lines", "4")
    assert whole.exit_code == pieces.exit_code == 0, pieces.output
    assert same_files(tmp_path / "whole", tmp_path / "pieces") == []


def test_several_files_encodings_and_headers_in_pieces(tmp_path: Path) -> None:
    """Duplicates and account conflicts across files and pieces; GB18030 with Chinese
    headers in the second file; lines named by their own file and line."""
    text = (GOLDEN / "billing.csv").read_text(encoding="utf-8").splitlines()
    first = tmp_path / "a.csv"
    first.write_text("\n".join(text[:13]) + "\n", encoding="utf-8")
    second = tmp_path / "b.csv"
    header = "类别,户号,统一社会信用代码,计费月份,用量,生产用量,定额,基础单价"
    second.write_bytes(("\r\n".join([header, *text[13:]]) + "\r\n").encode("gb18030"))
    whole = run(tmp_path / "whole", billing=[first, second])
    pieces = run(tmp_path / "pieces", "--chunk-lines", "4", billing=[first, second])
    assert whole.exit_code == pieces.exit_code == 0, pieces.output
    assert same_files(tmp_path / "whole", tmp_path / "pieces") == []


def test_reject_rate_exceeded_in_pieces_writes_only_rejects_and_manifest(
        tmp_path: Path) -> None:
    whole = run(tmp_path / "whole", rate="0.01")
    pieces = run(tmp_path / "pieces", "--chunk-lines", "3", rate="0.01")
    assert whole.exit_code == pieces.exit_code == 3
    assert sorted(p.name for p in (tmp_path / "pieces").iterdir()) == ["manifest.json",
                                                                       "rejects.csv"]
    assert same_files(tmp_path / "whole", tmp_path / "pieces") == []


GOOD_LINE = "electricity,{n},91330212MA2H000019,2025-03,1\n"
GOOD_LINES = ("utility,account_id,enterprise_id,period,quantity\n"
              + "".join(GOOD_LINE.format(n=n) for n in range(400))).encode()
LAST_LINE = GOOD_LINE.format(n=999).encode()


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty file, expected a header row"),
    (b"utility,account_id,enterprise_id,period,quantity\n" + b"\n" * 400, "no data rows"),
    (b"utility,account_id,period,quantity\n" + b"electricity,1,2025-03,1\n" * 300,
     "missing required column 'enterprise_id'"),
    # a fault late in the file, while pieces are read ahead in other threads
    (GOOD_LINES + b"\xff\xfe,1,2,3,4\n" + LAST_LINE, "cannot decode"),
    (GOOD_LINES + b'electricity,"unclosed,91330212MA2H000019,2025-03,1\n' + LAST_LINE,
     "not a valid CSV file"),
])
def test_bad_files_in_pieces_fail_like_in_memory(tmp_path: Path, content: bytes,
                                                  message: str) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    whole = run(tmp_path / "whole", billing=[path])
    pieces = run(tmp_path / "pieces", "--chunk-lines", "2", billing=[path])
    assert whole.exit_code == pieces.exit_code == 1
    assert message in whole.output and message in pieces.output
    assert "Traceback" not in pieces.output
    assert not (tmp_path / "pieces").exists()


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(line, min_size=1, max_size=40), st.integers(1, 12))
def test_random_extracts_in_pieces_equal_in_memory(tmp_path: Path, lines: list[dict],
                                                   chunk: int) -> None:
    assert whole_and_in_pieces(tmp_path, extract_text(lines), chunk) == []


def whole_and_in_pieces(tmp_path: Path, text: str, chunk: int) -> list[str]:
    """The output files that differ between an in-memory run of the extract ``text`` and a
    run of it in pieces of ``chunk`` lines (a fresh folder per hypothesis example)."""
    tag = len(list(tmp_path.iterdir()))
    billing = tmp_path / f"x{tag}.csv"
    billing.write_text(text, encoding="utf-8")
    outs = []
    for label, chunk_lines in (("whole", 2_000_000), ("pieces", chunk)):
        out = tmp_path / f"{label}{tag}"
        run_month(RunOptions(period="2025-03", register=GOLDEN / "register.csv",
                             billing=[billing], catalog=CATALOG,
                             overrides=GOLDEN / "overrides.csv", max_reject_rate=1.0,
                             chunk_lines=chunk_lines), out)
        outs.append(out)
    return same_files(*outs)


pad = st.sampled_from(["", "", " ", "\t", "\u3000"])
messy = st.tuples(line, pad, pad, st.sampled_from(["", "电", "水", " Water", "ELECTRICITY "]),
                  st.booleans())


def messy_text(items: list[tuple[dict, str, str, str, bool]]) -> str:
    """Key fields as utilities write them: padded ids, utility aliases, empty accounts."""
    rows = extract_text([item for item, *_ in items]).splitlines()
    for number, (_, before, after, utility, empty) in enumerate(items, start=1):
        fields = rows[number].split(",")
        fields[0] = utility or fields[0]
        fields[1] = "" if empty else f"{before}{fields[1]}{after}"
        fields[2] = f"{after}{fields[2]}{before}"
        rows[number] = ",".join(fields)
    return "\n".join(rows) + "\n"


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(messy, min_size=1, max_size=40), st.integers(1, 12))
def test_padded_and_aliased_keys_in_pieces_equal_in_memory(
        tmp_path: Path, items: list[tuple[dict, str, str, str, bool]], chunk: int) -> None:
    """The keys a streamed run stores between its passes, and gives back from the raw text,
    are the keys an in-memory run finds: trimmed ids, utility aliases, empty accounts."""
    assert whole_and_in_pieces(tmp_path, messy_text(items), chunk) == []


def test_register_errors_come_first_while_the_first_pass_runs_beside(tmp_path: Path) -> None:
    """The first pass runs beside the register's classification: a bad register is still
    what a streamed run reports, as an in-memory one does, even with a bad extract too."""
    lines = (GOLDEN / "register.csv").read_text(encoding="utf-8").splitlines()
    bad = lines[1].split(",")
    bad[0] = bad[0][:-1] + ("0" if bad[0][-1] != "0" else "1")  # a wrong check character
    register = tmp_path / "register.csv"
    register.write_text("\n".join([*lines, ",".join(bad)]) + "\n", encoding="utf-8")
    extract = tmp_path / "billing.csv"
    extract.write_bytes((GOLDEN / "billing.csv").read_bytes() + b'electricity,"E99\n')
    results = []
    for extra in ([], ["--chunk-lines", "3"]):
        args = ["run", "--period", "2025-03", "--register", str(register),
                "--rules", str(GOLDEN / "rules"), "--tariffs", str(GOLDEN / "tariffs"),
                "--billing", str(extract), "--out", str(tmp_path / f"run{len(extra)}"),
                *extra]
        results.append(CliRunner().invoke(main, args))
    assert [r.exit_code for r in results] == [1, 1]
    assert "register.csv" in results[1].output and "enterprise_id" in results[1].output
    assert results[0].output == results[1].output
    assert not (tmp_path / "run2").exists()
