"""Sweeps (``diffprice sweep``): setting syntax, rewriting a condition, and a tiny city whose
class counts and revenues at every value are computed by hand."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from pricing.expr.parse import parse
from pricing.simulate.sweep import (
    SweepError,
    condition_text,
    decimal_range,
    parse_setting,
    replace_node,
    rule_constants,
    run_sweep,
)


def _when(text: str):
    return parse(text, path="t.yaml", line=1, kind="condition")


def test_decimal_range_is_exact():
    values = decimal_range("0.1..0.5:0.1")
    assert values == [Decimal("0.1"), Decimal("0.2"), Decimal("0.3"), Decimal("0.4"),
                      Decimal("0.5")]
    assert [format(v, "f") for v in decimal_range("500..530:10")] == ["500", "510", "520", "530"]
    assert decimal_range("500..525:10")[-1] == Decimal(520)  # TO not reached: stop before it
    assert decimal_range("13650") == [Decimal(13650)]


@pytest.mark.parametrize("text", ["500..400:10", "1..2:0", "a..b:c", "1..100000:0.01"])
def test_decimal_range_refuses(text):
    with pytest.raises(SweepError):
        decimal_range(text)


def test_parse_setting_parts():
    setting = parse_setting("foundry.FD-R1.over_limit.upper=1.5..2.5:0.5")
    assert (setting.target, setting.key, setting.name, setting.bound) == \
        ("foundry", "FD-R1", "over_limit", "upper")
    assert setting.values == [Decimal("1.5"), Decimal("2.0"), Decimal("2.5")]
    with pytest.raises(SweepError):
        parse_setting("foundry=1..2:1")
    with pytest.raises(SweepError):
        parse_setting("foundry.FD-R1.over_limit.middle=1")


def test_rule_constants_name_the_bounds():
    found = rule_constants(_when("1 < over_limit <= 2 and cupola == 'small' or x >= 7"))
    assert [(c.name, c.bound, c.node.value) for c in found] == [
        ("over_limit", "lower", Decimal(1)), ("over_limit", "upper", Decimal(2)),
        ("x", "lower", Decimal(7))]
    assert [(c.name, c.bound) for c in rule_constants(_when("5 > y"))] == [("y", "upper")]


def test_replacing_one_constant_leaves_equal_numbers_alone():
    tree = _when("2 < over_limit <= 2 or not (kgce_per_t > 2 and product in ['a', 'b'])")
    upper = rule_constants(tree)[1]
    changed = replace_node(tree, upper.node, parse("2.5", path="t", line=1, kind="metric"))
    text = condition_text(changed)
    assert text == ("2 < over_limit <= 2.5 or not (kgce_per_t > 2 and product in ['a', 'b'])")
    assert _when(text) == changed


@pytest.mark.parametrize("text", [
    "a > -5", "not a > 1", "(a > 1 or b < 2) and c == 'x'", "a not in [1, 2.50]",
    "not (a > 1 and b > 2) or c != \"it's\"", "a > 1 and (b > 2 and c > 3)",
])
def test_condition_text_parses_back_to_the_same_tree(text):
    tree = _when(text)
    assert _when(condition_text(tree)) == tree


# ------------------------------------------------------------------ a tiny city, by hand

RULEBOOK = (Path(__file__).parent / "fixtures" / "foundry.yaml").read_text(encoding="utf-8")
BANDED = """\
rulebook: banded
title: Banded (test)
source: test
scope: {industry: [C3391]}
fields:
  output_t: {type: number}
  energy_tce: {type: number}
metrics:
  kgce_per_t: energy_tce * 1000 / output_t
classes: [permitted, restricted, eliminated]
default: permitted
on_missing: restricted
bands: {metric: kgce_per_t, edges: [550, 1100]}
"""
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
  - id: water-over-quota
    utility: water
    kind: over_quota
    bands: [{multiple: 1}]
"""


def _code(first17: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = sum(alphabet.index(c) * w for c, w in zip(first17, weights, strict=True))
    return first17 + alphabet[(31 - total % 31) % 31]


IDS = [_code(f"9133021200000000{i}") for i in range(1, 6)]


@pytest.fixture
def city(tmp_path: Path) -> dict:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "foundry.yaml").write_text(RULEBOOK, encoding="utf-8")
    (tmp_path / "tariffs").mkdir()
    (tmp_path / "tariffs" / "city.yaml").write_text(TARIFF, encoding="utf-8")
    # kgce/t: 520, 580, 770, 1375, missing
    energy = ["520", "580", "770", "1375", ""]
    register = tmp_path / "register.csv"
    register.write_text(
        "enterprise_id,name,district,industry_code,year,output_t,energy_tce\n"
        + "".join(f"{e},F{i},330212,C3391,2024,1000,{t}\n"
                  for i, (e, t) in enumerate(zip(IDS, energy, strict=True))),
        encoding="utf-8")
    billing = tmp_path / "billing.csv"
    billing.write_text(
        "utility,account_id,enterprise_id,period,quantity,quota,base_price\n"
        + "".join(f"electricity,A{i},{e},2025-01,1000,,\n" for i, e in enumerate(IDS))
        # 100 m³ over quota at 3.00: 300.00 yuan of revenue no sweep can move
        + f"water,W1,{IDS[0]},2025-01,600,500,3\n",
        encoding="utf-8")
    return {"register": register, "billing": [billing],
            "paths": [tmp_path / "rules", tmp_path / "tariffs"], "root": tmp_path}


def _sweep(city: dict, setting: str, out: Path | None = None) -> str:
    return run_sweep(register=city["register"], billing=city["billing"], paths=city["paths"],
                     overrides=None, year=None, input_encoding=None, periods=[],
                     setting=setting, out=out)


def _rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()[2:] if line and line[0] in "* 0123456789"]


def test_threshold_sweep_counts_and_revenue(city):
    out = city["root"] / "sweep"
    text = _sweep(city, "foundry.FD-R.kgce_per_t.lower=500..800:100", out)
    rows = list(csv.DictReader(io.StringIO((out / "sweep.csv").read_text(encoding="utf-8-sig"))))
    got = [(r["value"], r["revenue"], r["permitted"], r["restricted"], r["eliminated"])
           for r in rows]
    # Each enterprise uses 1,000 kWh: restricted pays 100.00, eliminated 300.00; water 300.00.
    # 500: 520, 580, 770 restricted; 1375 eliminated; missing restricted (on_missing)
    #      → 4 × 100 + 300 + 300 = 1,000.00
    # 600 and 700: 520, 580 permitted → 2 × 100 + 300 + 300 = 800.00
    # 800: 770 permitted too → 100 + 300 + 300 = 700.00
    assert got == [("500", "1000.00", "0", "4", "1"), ("600", "800.00", "2", "2", "1"),
                   ("700", "800.00", "2", "2", "1"), ("800", "700.00", "3", "1", "1")]
    assert "baseline revenue 900.00" in text  # 550: only 520 permitted → 3 × 100 + 600
    assert (out / "sweep.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_the_baseline_value_reproduces_the_baseline_revenue(city):
    text = _sweep(city, "foundry.FD-R.lower=550")
    assert _rows(text) == [["*", "550", "900.00", "1", "3", "1"]]


def test_flat_rate_sweep(city):
    text = _sweep(city, "foundry-electricity.restricted=0.10..0.20:0.05")
    # 3 restricted × 1,000 kWh × rate + eliminated 300.00 + water 300.00
    assert [r[-5:-3] for r in _rows(text)] == [["0.10", "900.00"], ["0.15", "1050.00"],
                                              ["0.20", "1200.00"]]
    assert _rows(text)[0][0] == "*"


def test_band_edge_sweep(city):
    (city["root"] / "rules" / "foundry.yaml").write_text(BANDED, encoding="utf-8")
    tariff = (city["root"] / "tariffs" / "city.yaml")
    tariff.write_text(tariff.read_text().replace("rulebook: foundry", "rulebook: banded"))
    text = _sweep(city, "banded.bands.1=550..600:50")
    # 550: as the rule version (900.00); 600: 580 becomes permitted → 800.00
    assert [r[-5:-3] for r in _rows(text)] == [["550", "900.00"], ["600", "800.00"]]


@pytest.mark.parametrize("setting, message", [
    ("foundry.FD-X=1", "has no rule 'FD-X'"),
    ("foundry.FD-R=1", "2 constants"),
    ("foundry.FD-R.output_t=1", "no numeric constant"),
    ("foundry-electricity.extreme=0.1", "not a class of rulebook foundry"),
    ("foundry-electricity.restricted=0.1234567891", "more than 9 decimal places"),
    ("water-over-quota.threshold=1", "only flat rates and stepped"),
    ("nothing.x=1", "neither a rulebook nor a component"),
])
def test_settings_that_cannot_be_swept(city, setting, message):
    with pytest.raises(SweepError, match=message):
        _sweep(city, setting)


@pytest.fixture(scope="module")
def sample_city(tmp_path_factory) -> dict:
    from pricing.sample import write_sample

    root = Path(__file__).resolve().parents[2]
    files = write_sample(tmp_path_factory.mktemp("city"), enterprises=600, months=1)
    return {"register": files.register, "billing": files.billing,
            "paths": [root / "rules", root / "tariffs"], "overrides": files.overrides}


@pytest.mark.parametrize("setting", [
    "foundry.FD-R1.upper=2",                 # a rule constant, overrides re-applied
    "steel-electricity.restricted=0.10",     # a flat rate competing in group 'steel'
    "steel-ule-electricity.two-unmet=0.03",  # the other member of that group
    "aluminium-stepped.threshold=13300",     # stepped, the 2025 threshold in force
])
def test_baseline_setting_reproduces_the_run_revenue_on_the_bundled_policy(sample_city,
                                                                         setting):
    from pricing.billing.batch import RunOptions, compute_month
    from pricing.catalog import load_catalog

    catalog = load_catalog(sample_city["paths"])
    opts = RunOptions(period="2025-01", register=sample_city["register"],
                      billing=sample_city["billing"], catalog=catalog,
                      overrides=sample_city["overrides"])
    fen = int(compute_month(opts).priced.surcharges["amount_fen"].sum())
    text = run_sweep(register=sample_city["register"], billing=sample_city["billing"],
                     paths=sample_city["paths"], overrides=sample_city["overrides"], year=None,
                     input_encoding=None, periods=["2025-01"], setting=setting, out=None)
    row = _rows(text)[0]
    assert row[0] == "*"
    assert row[2] == f"{fen // 100}.{fen % 100:02d}"
