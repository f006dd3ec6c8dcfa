"""CSV bytes, manifest and the atomic run directory (SPEC "Outputs of run")."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from pricing.billing.outputs import (
    RunDirectory,
    run_id,
    sha256_file,
    write_csv,
    write_manifest,
)

BOM = b"\xef\xbb\xbf"


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "enterprise_id": ["91330212MA2AXXXX1Y", "913302000000000001", None],
            "name": ["宁波铸造有限公司", 'say "hi", ok', "line\r\nbreak"],
            "amount": ["255000.00", "0.10", "12.30"],
        },
        dtype="string",
    )


def _parse(data: bytes, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def test_default_is_utf8_with_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    digest, rows = write_csv(pd.DataFrame({"a": ["1", "2"], "b": ["x", "y"]}), path)
    data = path.read_bytes()
    assert data == BOM + b"a,b\r\n1,x\r\n2,y\r\n"
    assert rows == 2
    assert digest == hashlib.sha256(data).hexdigest() == sha256_file(path)


def test_plain_utf8_has_no_bom(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_csv(pd.DataFrame({"a": ["é"]}), path, encoding="utf-8")
    assert path.read_bytes() == "a\r\né\r\n".encode()


def test_quoting_round_trips_through_csv_module(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    frame = _frame()
    write_csv(frame, path)
    data = path.read_bytes()
    assert b'"say ""hi"", ok"' in data
    assert b'"line\r\nbreak"' in data
    # Fields without specials stay bare; NA is an empty field.
    assert b"\r\n91330212MA2AXXXX1Y,\xe5" in data
    assert b'\r\n,"line' in data
    expected = [list(frame.columns)] + frame.fillna("").astype(str).values.tolist()
    assert _parse(data, "utf-8-sig") == expected


def test_gb18030_round_trip_with_chinese_text(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    frame = pd.DataFrame({"类别": ["电", "水"], "名称": ["不锈钢,中频炉", "亩均论英雄"]})
    write_csv(frame, path, encoding="gb18030")
    data = path.read_bytes()
    assert not data.startswith(BOM)
    assert "类别".encode("gb18030") in data
    assert _parse(data, "gb18030") == [
        ["类别", "名称"],
        ["电", "不锈钢,中频炉"],
        ["水", "亩均论英雄"],
    ]


def test_rewrite_is_byte_identical(tmp_path: Path) -> None:
    first, second = tmp_path / "1.csv", tmp_path / "2.csv"
    assert write_csv(_frame(), first) == write_csv(_frame(), second)
    assert first.read_bytes() == second.read_bytes()


def test_empty_frame_writes_header_only(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    frame = pd.DataFrame({"a": pd.Series([], dtype="string"), "b": pd.Series([], dtype="string")})
    assert write_csv(frame, path, encoding="utf-8")[1] == 0
    assert path.read_bytes() == b"a,b\r\n"


def test_integer_ids_are_written_as_text_but_floats_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_csv(pd.DataFrame({"band": [1, 2]}), path, encoding="utf-8")
    assert path.read_bytes() == b"band\r\n1\r\n2\r\n"
    with pytest.raises(TypeError, match="amount"):
        write_csv(pd.DataFrame({"amount": [0.1]}), path)


def test_single_empty_field_is_not_a_blank_line(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_csv(pd.DataFrame({"a": ["x", "", None]}, dtype="string"), path, encoding="utf-8")
    assert _parse(path.read_bytes(), "utf-8") == [["a"], ["x"], [""], [""]]


def test_large_frame_crosses_chunks_in_order(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    n = 300_000  # more than one internal chunk
    frame = pd.DataFrame({"i": pd.Series(range(n)).astype("string"), "t": "a,b"})
    assert write_csv(frame, path, encoding="utf-8")[1] == n
    lines = path.read_bytes().split(b"\r\n")
    assert lines[1] == b'0,"a,b"' and lines[n] == f'{n - 1},"a,b"'.encode()
    assert lines[-1] == b"" and len(lines) == n + 2


def test_unknown_encoding_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="latin-1"):
        write_csv(_frame(), tmp_path / "x.csv", encoding="latin-1")


def test_manifest_is_sorted_indented_utf8_with_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    manifest = {"totals": {"water": Decimal("720.00")}, "status": "ok", "名称": "宁波"}
    digest = write_manifest(path, manifest)
    text = path.read_bytes().decode("utf-8")
    assert text == (
        '{\n  "status": "ok",\n  "totals": {\n    "water": "720.00"\n  },\n  "名称": "宁波"\n}\n'
    )
    assert digest == sha256_file(path)
    assert json.loads(text)["totals"]["water"] == "720.00"


def test_run_id_is_short_stable_and_sensitive_to_grouping() -> None:
    rid = run_id(["sha-a", "period=2024-03"])
    assert len(rid) == 16 and int(rid, 16) >= 0
    assert rid == run_id(["sha-a", "period=2024-03"])
    assert rid != run_id(["sha-a", "period=2024-04"])
    assert run_id(["a,b"]) != run_id(["a", "b"])


def _siblings(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_run_directory_appears_only_on_success(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with RunDirectory(out) as run:
        target = run.path("surcharges.csv")
        assert target.parent.name.startswith(".run.tmp-")
        assert target.parent.parent == tmp_path
        write_csv(_frame(), target)
        assert not out.exists()
    assert (out / "surcharges.csv").is_file()
    assert _siblings(tmp_path) == ["run"]


def test_failure_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="boom"), RunDirectory(out) as run:
        run.path("a.csv").write_text("x")
        raise RuntimeError("boom")
    assert _siblings(tmp_path) == []


def test_failed_rerun_keeps_previous_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with RunDirectory(out) as run:
        run.path("a.csv").write_text("old")
    with pytest.raises(RuntimeError), RunDirectory(out) as run:
        run.path("a.csv").write_text("new")
        raise RuntimeError("crash mid-run")
    assert (out / "a.csv").read_text() == "old"
    assert _siblings(tmp_path) == ["run"]


def test_successful_rerun_replaces_previous_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with RunDirectory(out) as run:
        run.path("a.csv").write_text("old")
        run.path("stale.csv").write_text("only in the old run")
    with RunDirectory(out) as run:
        run.path("a.csv").write_text("new")
    assert (out / "a.csv").read_text() == "new"
    assert not (out / "stale.csv").exists()
    assert _siblings(tmp_path) == ["run"]


def test_path_outside_the_block_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        RunDirectory(tmp_path / "run").path("a.csv")
