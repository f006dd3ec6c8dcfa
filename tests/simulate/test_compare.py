"""Combining a baseline and a proposal run (SPEC "Proposals", "Outputs of simulate").

The unit cases build the two runs by hand; the end-to-end cases write a tiny register, extract,
rulebook, tariff and proposal to a temporary directory. Every expected amount is computed by
hand in a comment.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.simulate.compare import (
    class_pairs,
    compare_month,
    district_prefixes,
    impact_table,
    inside_districts,
    summary_table,
    transitions_table,
)

INSIDE, OUTSIDE = "330212", "330203"


def _run(lines: pd.DataFrame, table: list[tuple], cand: list[tuple],
         faults: list[int] = ()) -> SimpleNamespace:
    """A stand-in for MonthResult: the attributes compare_month reads."""
    table = pd.DataFrame(table, columns=["enterprise_id", "rulebook", "class"])
    cand = pd.DataFrame(cand, columns=["row", "rulebook", "amount_fen"]).astype(
        {"row": "int64", "amount_fen": "int64"})
    faults = pd.DataFrame({"row": np.array(faults, dtype="int64")})
    return SimpleNamespace(lines=lines, classification=SimpleNamespace(table=table),
                           priced=SimpleNamespace(surcharges=cand, faults=faults))


def _lines(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["utility", "account_id", "enterprise_id",
                                        "quantity_milli", "base_price_micro"])
    frame["quantity_milli"] = frame["quantity_milli"].astype("int64")
    frame["base_price_micro"] = frame["base_price_micro"].astype("Int64")
    return frame


PLACES = pd.DataFrame({"district": [INSIDE, OUTSIDE, INSIDE],
                       "industry_code": ["C3391", "C3391", "C3391"]},
                      index=pd.Index(["E1", "E2", "E4"], name="enterprise_id"))
LINES = _lines([
    ("electricity", "A1", "E1", 1_000_000, 600_000),  # 1,000 kWh at 0.60 yuan
    ("electricity", "A2", "E2", 2_000_000, None),     # 2,000 kWh, no base price
    ("water", "W3", "E3", 500_000, 3_000_000),        # E3 is not in the register
])
BASE = _run(LINES,
            [("E1", "foundry", "restricted"), ("E2", "foundry", "restricted"),
             ("E4", "foundry", "permitted")],
            [(0, "foundry", 10_000),   # 1,000 kWh × 0.10 = 100.00
             (1, "foundry", 20_000),   # 2,000 kWh × 0.10 = 200.00
             (2, "", 5_000)])          # over-quota water: 50.00
PROP = _run(LINES,
            [("E1", "foundry", "eliminated"), ("E2", "foundry", "eliminated"),
             ("E4", "foundry", "restricted")],
            [(0, "foundry", 30_000),   # 1,000 kWh × 0.30 = 300.00
             (1, "foundry", 60_000),   # outside the districts: must not count
             (2, "", 9_999)])          # E3 has no district: outside, must not count


def _month(base=BASE, prop=PROP, period="2025-01", year=2024):
    return compare_month(base, prop, PLACES, district_prefixes([INSIDE]), period, year)


def test_district_prefixes_drop_trailing_zero_pairs():
    assert district_prefixes(["330212"]) == ("330212",)
    assert district_prefixes(["330200", "330212"]) == ("3302", "330212")
    assert district_prefixes(["330000"]) == ("33",)


def test_inside_districts_unknown_district_is_outside():
    district = pd.Series(["330212", "330203", None, "330212"], dtype="string")
    assert inside_districts(district, ("330212",)).tolist() == [True, False, False, True]
    assert inside_districts(district, ("3302",)).tolist() == [True, True, False, True]


def test_impact_takes_the_proposal_only_inside_the_districts():
    impact = _month().impact.set_index(["enterprise_id", "rulebook"])
    # E1 inside: 100.00 → 300.00, restricted → eliminated
    assert impact.loc[("E1", "foundry"), ["base_fen", "proposal_fen", "delta_fen"]].tolist() \
        == [10_000, 30_000, 20_000]
    assert impact.loc[("E1", "foundry"), ["base_class", "proposal_class"]].tolist() \
        == ["restricted", "eliminated"]
    # E2 outside: nothing changes, class included
    assert impact.loc[("E2", "foundry"), ["base_fen", "proposal_fen", "delta_fen"]].tolist() \
        == [20_000, 20_000, 0]
    assert impact.loc[("E2", "foundry"), "proposal_class"] == "restricted"
    # E3 unregistered: a rulebook-less water surcharge, kept at the baseline
    assert impact.loc[("E3", ""), ["base_fen", "proposal_fen"]].tolist() == [5_000, 5_000]
    assert impact.loc[("E3", ""), "district"] == ""
    # E4 was not billed this month: not in the impact table
    assert "E4" not in impact.index.get_level_values(0)


def test_impact_quantity_and_base_bill():
    impact = _month().impact.set_index(["enterprise_id", "rulebook"])
    assert impact.loc[("E1", "foundry"), "quantity_milli"] == 1_000_000
    # 1,000 kWh × 0.60 yuan = 600.00 yuan = 60,000 fen
    assert impact.loc[("E1", "foundry"), "base_bill_fen"] == 60_000
    assert pd.isna(impact.loc[("E2", "foundry"), "base_bill_fen"])  # no base price
    assert impact.loc[("E3", ""), "quantity_milli"] == 0  # water is not kWh


def test_impact_csv_text():
    table = impact_table([_month()])
    assert table.columns.tolist() == ["period", "enterprise_id", "district", "industry_code",
                                      "rulebook", "base_class", "proposal_class", "base_amount",
                                      "proposal_amount", "delta", "quantity"]
    assert table.values.tolist() == [
        ["2025-01", "E1", INSIDE, "C3391", "foundry", "restricted", "eliminated", "100.00",
         "300.00", "200.00", "1000"],
        ["2025-01", "E2", OUTSIDE, "C3391", "foundry", "restricted", "restricted", "200.00",
         "200.00", "0.00", "2000"],
        ["2025-01", "E3", "", "", "", "", "", "50.00", "50.00", "0.00", "0"],
    ]


def test_summary_groups_by_the_proposal_class():
    summary = summary_table([_month()])
    rows = summary.values.tolist()
    assert rows == [
        ["2025-01", "", "", "", "50.00", "50.00", "0.00", "0"],
        ["2025-01", OUTSIDE, "foundry", "restricted", "200.00", "200.00", "0.00", "0"],
        ["2025-01", INSIDE, "foundry", "eliminated", "100.00", "300.00", "200.00", "1"],
    ]


def test_transitions_count_every_classified_enterprise_inside():
    transitions = transitions_table([_month()])
    # E1 restricted → eliminated and E4 (not billed) permitted → restricted; E2 is outside
    assert transitions.values.tolist() == [
        ["2024", "foundry", "permitted", "restricted", "1"],
        ["2024", "foundry", "restricted", "eliminated", "1"],
    ]


def test_transitions_use_the_latest_period_of_each_year():
    early = _month(period="2025-01")
    late_base = _run(LINES, [("E1", "foundry", "restricted")], [])
    late_prop = _run(LINES, [("E1", "foundry", "restricted")], [])
    late = _month(late_base, late_prop, period="2025-02")
    assert transitions_table([late, early]).values.tolist() == [
        ["2024", "foundry", "restricted", "restricted", "1"]]


def test_a_line_rejected_under_the_proposal_loses_its_surcharges_inside_only():
    prop = _run(LINES, PROP.classification.table.values.tolist(),
                [(2, "", 9_999)], faults=[0, 1])  # rows 0 (inside) and 1 (outside) rejected
    month = _month(prop=prop)
    impact = month.impact.set_index(["enterprise_id", "rulebook"])
    assert impact.loc[("E1", "foundry"), "proposal_fen"] == 0
    assert impact.loc[("E2", "foundry"), "proposal_fen"] == 20_000
    assert (month.rejected_base, month.rejected_proposal) == (0, 1)


def test_class_pairs_new_rulebook_inside_only():
    base = pd.DataFrame([("E1", "foundry", "permitted")], columns=["enterprise_id", "rulebook",
                                                                   "class"])
    prop = pd.DataFrame([("E1", "foundry", "permitted"), ("E1", "casting-dust", "C"),
                         ("E2", "casting-dust", "D")], columns=base.columns)
    pairs = class_pairs(base, prop, PLACES, ("330212",)).set_index(["enterprise_id",
                                                                     "rulebook"])
    assert pairs.loc[("E1", "casting-dust"), ["base_class", "proposal_class"]].tolist() \
        == ["", "C"]
    assert pairs.loc[("E2", "casting-dust"), ["base_class", "proposal_class"]].tolist() \
        == ["", ""]


@st.composite
def _random_runs(draw):
    """Random lines of four enterprises (two inside), random amounts in both runs."""
    n = draw(st.integers(1, 12))
    ents = draw(st.lists(st.sampled_from(["E1", "E2", "E4", "E9"]), min_size=n, max_size=n))
    lines = _lines([("electricity", f"A{i}", e, 1000, None) for i, e in enumerate(ents)])
    table = [(e, "foundry", "restricted") for e in sorted(set(ents))]
    amounts = st.integers(0, 10**9)

    def cand():
        rows = draw(st.lists(st.integers(0, n - 1), unique=True))
        return [(r, "foundry", draw(amounts)) for r in rows]

    prop_table = [(e, "foundry", draw(st.sampled_from(["permitted", "eliminated"])))
                  for e in sorted(set(ents))]
    return _run(lines, table, cand()), _run(lines, prop_table, cand())


@settings(max_examples=60, deadline=None)
@given(_random_runs())
def test_delta_total_equals_proposal_inside_plus_baseline_outside(runs):
    base, prop = runs
    month = compare_month(base, prop, PLACES, ("330212",), "2025-01", 2024)
    # An independent account: the proposal's lines of inside enterprises, the baseline's else.
    ent = lambda run: run.lines["enterprise_id"].to_numpy()[run.priced.surcharges["row"]]  # noqa: E731
    inside = {"E1", "E4"}
    prop_in = prop.priced.surcharges["amount_fen"][np.isin(ent(prop), list(inside))].sum()
    base_out = base.priced.surcharges["amount_fen"][~np.isin(ent(base), list(inside))].sum()
    base_all = base.priced.surcharges["amount_fen"].sum()
    assert int(month.impact["delta_fen"].sum()) == int(prop_in + base_out - base_all)
    outside = month.impact[~month.impact["enterprise_id"].isin(inside)]
    assert (outside["delta_fen"] == 0).all()
    assert (outside["base_class"] == outside["proposal_class"]).all()


# ------------------------------------------------------------------ end to end, by hand

RULEBOOK = (Path(__file__).parent / "fixtures" / "foundry.yaml").read_text(encoding="utf-8")
TARIFF = """\
tariff: city
title: City (test)
source: test
components:
  - id: foundry-electricity
    utility: electricity
    rulebook: foundry
    kind: flat
    rates: {restricted: 0.10, eliminated: 0.30}
"""
PROPOSAL = "proposal: yz-test\ntitle: Yinzhou test\ndistricts: ['330212']\n"
PROPOSAL_TARIFF = TARIFF.replace("restricted: 0.10", "restricted: 0.25")


def _code(first17: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = sum(alphabet.index(c) * w for c, w in zip(first17, weights, strict=True))
    return first17 + alphabet[(31 - total % 31) % 31]


E1, E2, E3 = (_code(f"9133021200000000{i}") for i in (1, 2, 3))


@pytest.fixture
def city(tmp_path: Path) -> dict:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "foundry.yaml").write_text(RULEBOOK, encoding="utf-8")
    (tmp_path / "tariffs").mkdir()
    (tmp_path / "tariffs" / "city.yaml").write_text(TARIFF, encoding="utf-8")
    proposal = tmp_path / "proposal"
    proposal.mkdir()
    (proposal / "proposal.yaml").write_text(PROPOSAL, encoding="utf-8")
    (proposal / "tariff.yaml").write_text(PROPOSAL_TARIFF, encoding="utf-8")
    register = tmp_path / "register.csv"
    register.write_text(
        "enterprise_id,name,district,industry_code,year,output_t,energy_tce\n"
        f"{E1},Inside restricted,330212,C3391,2024,1000,770\n"     # 770 kgce/t: restricted
        f"{E2},Outside restricted,330203,C3391,2024,1000,770\n"    # same, other district
        f"{E3},Inside eliminated,330212,C3391,2024,1000,1375\n",   # 1375 kgce/t: eliminated
        encoding="utf-8")
    billing = tmp_path / "billing.csv"
    billing.write_text(
        "utility,account_id,enterprise_id,period,quantity\n"
        f"electricity,A1,{E1},2025-01,1234567\n"
        f"electricity,A2,{E2},2025-01,1000\n"
        f"electricity,A3,{E3},2025-01,850000\n"
        f"electricity,A1,{E1},2025-02,1000\n",
        encoding="utf-8")
    return {"register": register, "billing": [billing],
            "paths": [tmp_path / "rules", tmp_path / "tariffs"], "proposal": proposal,
            "out": tmp_path / "sim"}


def _simulate(city: dict, periods: list[str]) -> str:
    from pricing.simulate.compare import simulate_proposal

    return simulate_proposal(register=city["register"], billing=city["billing"],
                             paths=city["paths"], overrides=None, year=None,
                             input_encoding=None, proposal=city["proposal"], periods=periods,
                             encoding="utf-8", out=city["out"])


def _read(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_golden_higher_restricted_rate_in_one_district(city):
    text = _simulate(city, [])
    impact = {(r["period"], r["enterprise_id"]): r for r in _read(city["out"] / "impact.csv")}
    # E1, 2025-01: 1,234,567 kWh × 0.10 = 123,456.70; × 0.25 = 308,641.75; delta 185,185.05
    e1 = impact[("2025-01", E1)]
    assert (e1["base_amount"], e1["proposal_amount"], e1["delta"]) == \
        ("123456.70", "308641.75", "185185.05")
    # E2 is in 330203: 1,000 kWh × 0.10 = 100.00 under both
    e2 = impact[("2025-01", E2)]
    assert (e2["base_amount"], e2["proposal_amount"], e2["delta"]) == ("100.00", "100.00", "0.00")
    # E3 is eliminated: 850,000 × 0.30 = 255,000.00 under both (the eliminated rate is kept)
    assert impact[("2025-01", E3)]["delta"] == "0.00"
    # E1, 2025-02: 1,000 kWh: 100.00 → 250.00
    assert impact[("2025-02", E1)]["delta"] == "150.00"
    assert set(p for p, _ in impact) == {"2025-01", "2025-02"}  # periods found in the extract
    # totals 2025-01: base 123,456.70 + 100.00 + 255,000.00 = 378,556.70;
    # proposal 308,641.75 + 100.00 + 255,000.00 = 563,741.75
    assert "378556.70" in text and "563741.75" in text and "185185.05" in text
    summary = _read(city["out"] / "summary.csv")
    inside = [r for r in summary if r["period"] == "2025-01" and r["district"] == "330212"
              and r["class"] == "restricted"]
    assert [(r["base"], r["proposal"], r["delta"], r["enterprises_changed"]) for r in inside] \
        == [("123456.70", "308641.75", "185185.05", "1")]
    transitions = _read(city["out"] / "transitions.csv")
    assert [(r["base_class"], r["proposal_class"], r["enterprises"]) for r in transitions] \
        == [("eliminated", "eliminated", "1"), ("restricted", "restricted", "1")]
    page = (city["out"] / "report.html").read_text(encoding="utf-8")
    assert "yz-test" in page and "http://" not in page.replace("http://www.w3.org", "")


def test_period_option_limits_the_months(city):
    _simulate(city, ["2025-02"])
    assert {r["period"] for r in _read(city["out"] / "impact.csv")} == {"2025-02"}
