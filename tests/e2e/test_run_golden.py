"""The monthly batch end to end through the CLI, on a case priced by hand.

tests/e2e/golden/ holds a register, an extract with every reject reason, overrides and a small
policy. Every expected amount below was computed by hand from the policy text:

E01  foundry restricted (600 kgce/t: 550 < x ≤ 700) 10,000 kWh × 0.10            = 1,000.00
E02  the same enterprise, 0.05 kWh × 0.10 = 0.005, a half-fen tie, half up        =     0.01
E04  eliminated (750 kgce/t > 700) 12.345 kWh × 0.30 = 3.7035                      =     3.70
E06  aluminium 13,700 kWh/t: (13,700 − 13,300)/20 = 20 steps → 0.20; renewable 20%
     → 5 points → ×0.95 → 0.19 on production 1,000,000 kWh                         = 190,000.00
E09  13,321 kWh/t: 21/20 → 2 steps → 0.02 on production 1,234 kWh                  =    24.68
E11  dyeing restricted 4,321 kWh × 0.05                                            =   216.05
W01  foundry water component in force from 12 March: 100 m³ × 1.00 × 20/31 = 64.516… = 64.52
W02  quota 1,000, use 1,500, base price 3.00 (Haikou bands): 200 × 0.60, 200 × 1.50,
     100 × 3.00                                                  = 120.00 + 300.00 + 300.00
W03  quota 10, use 10.075: 0.075 m³ × 0.60 = 0.045, a half-fen tie, half up         =     0.05
Owe nothing: E03 (override to permitted from 2025-03), E07 (exactly at the threshold), E12 (not
in the register), W05 (under the quota). Electricity 191,244.44; water 784.57.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main

GOLDEN = Path(__file__).parent / "golden"
PERIOD = "2025-03"

EXPECTED_SURCHARGES = """\
period,utility,account_id,enterprise_id,district,industry_code,rulebook,class,rule_id,component_id,band,basis_quantity,unit,rate,proration,amount
2025-03,electricity,E01,91330212MA2H000019,330212,C3391,foundry,restricted,FD-R1,foundry-flat,,10000,kWh,0.1,1,1000.00
2025-03,electricity,E02,91330212MA2H000019,330212,C3391,foundry,restricted,FD-R1,foundry-flat,,0.05,kWh,0.1,1,0.01
2025-03,electricity,E04,91330212MA2H00003F,330212,C3391,foundry,eliminated,FD-E1,foundry-flat,,12.345,kWh,0.3,1,3.70
2025-03,electricity,E06,91330212MA2H00005M,330206,C3216,aluminium,permitted,A-1,aluminium-stepped,,1000000,kWh,0.19,1,190000.00
2025-03,electricity,E09,91330212MA2H00008Y,330206,C3216,aluminium,permitted,A-1,aluminium-stepped,,1234,kWh,0.02,1,24.68
2025-03,electricity,E11,91330212MA2H000107,330203,C1713,dyeing,restricted,D-1,dyeing-flat,,4321,kWh,0.05,1,216.05
2025-03,water,W01,91330212MA2H000019,330212,C3391,foundry,restricted,FD-R1,foundry-water,,100,m3,1,20/31,64.52
2025-03,water,W02,91330212MA2H00011A,330212,C2611,,,,water-quota,1,200,m3,0.6,1,120.00
2025-03,water,W02,91330212MA2H00011A,330212,C2611,,,,water-quota,2,200,m3,1.5,1,300.00
2025-03,water,W02,91330212MA2H00011A,330212,C2611,,,,water-quota,3,100,m3,3,1,300.00
2025-03,water,W03,91330212MA2H00011A,330212,C2611,,,,water-quota,1,0.075,m3,0.6,1,0.05
"""

EXPECTED_REJECTS = {  # billing.csv line → reason
    6: "unclassified", 9: "missing_metric", 11: "conflict", 14: "bad_enterprise_id",
    15: "wrong_period", 16: "bad_number", 17: "duplicate_line", 18: "duplicate_line",
    19: "production_exceeds_total", 20: "unknown_utility", 24: "missing_base_price",
}

CHINESE_HEADER = "类别,户号,统一社会信用代码,计费月份,用量,生产用量,定额,基础单价"


def run(out: Path, *extra: str, billing: Path = GOLDEN / "billing.csv",
        rate: str = "1") -> object:
    args = ["run", "--period", PERIOD, "--register", str(GOLDEN / "register.csv"),
            "--billing", str(billing), "--overrides", str(GOLDEN / "overrides.csv"),
            "--rules", str(GOLDEN / "rules"), "--tariffs", str(GOLDEN / "tariffs"),
            "--out", str(out), *extra]
    if rate is not None:
        args += ["--max-reject-rate", rate]
    return CliRunner().invoke(main, args)


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))


@pytest.fixture(scope="module")
def golden_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("golden") / "run"
    result = run(out)
    assert result.exit_code == 0, result.output
    return out


def test_surcharges_match_the_hand_computed_file(golden_run: Path) -> None:
    data = (golden_run / "surcharges.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM by default
    assert data.decode("utf-8-sig") == EXPECTED_SURCHARGES.replace("\n", "\r\n")


def test_every_reject_reason_on_its_line(golden_run: Path) -> None:
    rejects = read_csv(golden_run / "rejects.csv")
    assert {int(r["line"]): r["reason_code"] for r in rejects} == EXPECTED_REJECTS
    assert all(r["source"] == "billing.csv" for r in rejects)
    bad = next(r for r in rejects if r["reason_code"] == "bad_number")
    assert bad["quantity"] == "abc" and bad["account_id"] == "E15"  # the line's own values
    # a line rejected while pricing, after lines rejected before it: its own text as read
    priced = {int(r["line"]): r for r in rejects}
    assert [priced[24][name] for name in ("utility", "account_id", "period", "quantity",
                                          "production_quantity", "quota", "base_price")] \
        == ["water", "W04", "2025-03", "1500", "", "1000", ""]
    assert (priced[9]["account_id"], priced[9]["production_quantity"]) == ("E08", "")
    assert (priced[11]["account_id"], priced[11]["quantity"]) == ("E10", "100")


def test_manifest_balances_and_totals_equal_the_csv(golden_run: Path) -> None:
    manifest = json.loads((golden_run / "manifest.json").read_text(encoding="utf-8"))
    counts = manifest["counts"]
    assert counts == {"billing_rows": 24, "priced_rows": 9, "unpriced_rows": 4,
                      "rejected_rows": 11, "surcharge_lines": 11}
    assert counts["billing_rows"] == (counts["priced_rows"] + counts["unpriced_rows"]
                                      + counts["rejected_rows"])
    assert manifest["totals"] == {"electricity": "191244.44", "water": "784.57"}
    rows = read_csv(golden_run / "surcharges.csv")
    for utility in ("electricity", "water"):
        total = sum(Decimal(r["amount"]) for r in rows if r["utility"] == utility)
        assert str(total) == manifest["totals"][utility]
    assert manifest["status"] == "ok"
    outputs = {o["name"]: o for o in manifest["outputs"]}
    for name, entry in outputs.items():
        assert hashlib.sha256((golden_run / name).read_bytes()).hexdigest() == entry["sha256"]


def test_classification_overrides_and_conflicts(golden_run: Path) -> None:
    rows = {(r["enterprise_id"], r["rulebook"]): r
            for r in read_csv(golden_run / "classification.csv")}
    override = rows[("91330212MA2H00002C", "foundry")]
    assert (override["class"], override["decided_by"]) == ("permitted", "override")
    assert json.loads(override["evidence"])["computed"] == "eliminated"
    expired = rows[("91330212MA2H00003F", "foundry")]  # its override ended in February
    assert (expired["class"], expired["decided_by"]) == ("eliminated", "rule")
    conflict = rows[("91330212MA2H000092", "dyeing")]
    assert (conflict["class"], conflict["rule_id"], conflict["decided_by"]) == \
        ("", "D-1|D-2", "conflict")
    assert rows[("91330212MA2H00004J", "foundry")]["decided_by"] == "unclassified"
    assert rows[("91330212MA2H00007U", "aluminium")]["decided_by"] == "missing"
    assert {r["year"] for r in rows.values()} == {"2024"}  # the year before the period


def test_reruns_are_byte_identical(golden_run: Path, tmp_path: Path) -> None:
    result = run(tmp_path / "again")
    assert result.exit_code == 0
    for name in ("surcharges.csv", "classification.csv", "rejects.csv", "summary.csv",
                 "manifest.json"):
        assert (tmp_path / "again" / name).read_bytes() == (golden_run / name).read_bytes()


def _chinese(text: str) -> str:
    lines = text.splitlines()
    body = [line.replace("electricity,", "电,", 1).replace("water,", "水,", 1)
            for line in lines[1:]]
    body = [line.replace(",2025-03,", ",202503,") for line in body]
    return "\r\n".join([CHINESE_HEADER, *body]) + "\r\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_other_encodings_and_chinese_headers_give_the_same_surcharges(
        golden_run: Path, tmp_path: Path, encoding: str) -> None:
    text = _chinese((GOLDEN / "billing.csv").read_text(encoding="utf-8"))
    billing = tmp_path / "billing.csv"
    billing.write_bytes(text.encode(encoding))
    result = run(tmp_path / "run", billing=billing)
    assert result.exit_code == 0, result.output
    for name in ("surcharges.csv", "classification.csv", "summary.csv"):
        assert (tmp_path / "run" / name).read_bytes() == (golden_run / name).read_bytes()


def test_shuffled_lines_give_the_same_surcharges(golden_run: Path, tmp_path: Path) -> None:
    lines = (GOLDEN / "billing.csv").read_text(encoding="utf-8").splitlines()
    body = lines[1:]
    random.Random(7).shuffle(body)
    billing = tmp_path / "billing.csv"
    billing.write_text("\n".join([lines[0], *body]) + "\n", encoding="utf-8")
    result = run(tmp_path / "run", billing=billing)
    assert result.exit_code == 0, result.output
    for name in ("surcharges.csv", "classification.csv", "summary.csv"):
        assert (tmp_path / "run" / name).read_bytes() == (golden_run / name).read_bytes()


def test_output_encodings(tmp_path: Path) -> None:
    assert run(tmp_path / "u", "--encoding", "utf-8").exit_code == 0
    assert not (tmp_path / "u" / "surcharges.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert run(tmp_path / "g", "--encoding", "gb18030").exit_code == 0
    text = (tmp_path / "g" / "classification.csv").read_bytes().decode("gb18030")
    assert "甬发改价格〔2025〕3号" in text


def test_too_many_rejects_exit_3_and_write_only_rejects_and_manifest(tmp_path: Path) -> None:
    result = run(tmp_path / "run", rate=None)  # default 0.05; 11 of 24 lines are rejected
    assert result.exit_code == 3
    assert "11 of 24 billing lines rejected" in result.output
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["manifest.json",
                                                                   "rejects.csv"]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "failed"


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02garbage\xff\xfe",
                                     b"name,value\nfoo,1\n"])
def test_a_junk_extract_is_refused_with_one_message(tmp_path: Path, content: bytes) -> None:
    junk = tmp_path / "junk.csv"
    junk.write_bytes(content)
    result = run(tmp_path / "run", billing=junk)
    assert result.exit_code == 1
    assert "junk.csv" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_explain_follows_the_chain(tmp_path: Path) -> None:
    args = ["explain", "--enterprise", "91330212MA2H000019", "--period", PERIOD,
            "--register", str(GOLDEN / "register.csv"), "--billing",
            str(GOLDEN / "billing.csv"), "--rules", str(GOLDEN / "rules"), "--tariffs",
            str(GOLDEN / "tariffs"), "--overrides", str(GOLDEN / "overrides.csv")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "kgce_per_t = 600" in text
    assert "FD-R1  restricted  true" in text
    assert "foundry-water: 100 m3 × 1 yuan × 20/31 = 64.52 yuan" in text
    assert "rejected billing.csv line 17: duplicate_line" in text
    data = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    amounts = [s["amount"] for line in data["billing"]["lines"] for s in line["surcharges"]]
    assert sorted(amounts) == ["0.01", "1000.00", "64.52"]


def test_classify_engines_agree(tmp_path: Path) -> None:
    outputs = {}
    for engine in ("vectorized", "rete"):
        out = tmp_path / f"{engine}.csv"
        result = CliRunner().invoke(main, [
            "classify", "--register", str(GOLDEN / "register.csv"), "--rules",
            str(GOLDEN / "rules"), "--year", "2024", "--engine", engine, "-o", str(out)])
        assert result.exit_code == 0, result.output
        outputs[engine] = out.read_bytes()
    assert outputs["vectorized"] == outputs["rete"]


def test_explain_an_unregistered_enterprise_shows_why_it_owes_nothing() -> None:
    args = ["explain", "--enterprise", "91330212MA2H00012D", "--period", PERIOD,
            "--register", str(GOLDEN / "register.csv"), "--billing",
            str(GOLDEN / "billing.csv"), "--rules", str(GOLDEN / "rules"), "--tariffs",
            str(GOLDEN / "tariffs")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "no row for this assessment year" in result.output
    assert "account E12" in result.output and "owes nothing" in result.output
    unknown = CliRunner().invoke(main, [*args[:2], "91330212MA2H0009XX", *args[3:]])
    assert unknown.exit_code == 1
    assert "neither in the register nor billed" in unknown.output
