"""Golden pricing cases: every expected amount below is computed by hand from DOMAIN.md."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pricing.billing.components import in_force
from pricing.billing.price import price_lines, pricing_facts
from pricing.billing.textindex import lookup
from pricing.spec.tariff import Tariff
from pricing.spec.yamlfile import loads

TARIFF = """\
tariff: golden
title: Golden cases
source: DOMAIN.md worked examples
components:
  - id: stainless
    utility: electricity
    rulebook: stainless-steel
    kind: flat
    rates: {eliminated: 0.30}
  - id: foundry
    utility: electricity
    rulebook: foundry
    kind: flat
    rates: {restricted: 0.10, eliminated: 0.30}
    effective: {from: 2025-03-12}
  - id: aluminium-2023
    utility: electricity
    rulebook: aluminium
    kind: stepped
    metric: ac_kwh_per_t
    threshold: 13450
    step: 20
    increment: 0.01
    basis: production
    reduction: {metric: renewable_pct, above: 15, per_point: 0.01}
  - id: steel
    utility: electricity
    rulebook: steel
    kind: flat
    rates: {restricted: 0.10}
    basis: production
    group: steel
  - id: steel-ule
    utility: electricity
    rulebook: steel-ule
    kind: flat
    rates: {two: 0.03}
    basis: production
    group: steel
  - id: water
    utility: water
    kind: over_quota
    bands:
      - {upto_pct: 20, multiple: 0.2}
      - {upto_pct: 40, multiple: 0.5}
      - {multiple: 1}
"""


def tariff() -> Tariff:
    data = loads(TARIFF, "golden.yaml")
    return Tariff.model_validate(data)


def line(enterprise: str, quantity: int, *, utility: str = "electricity",
         production: int | None = None, quota: int | None = None,
         price_micro: int | None = None) -> dict:
    return {"utility": utility, "account_id": f"A-{enterprise}-{utility}",
            "enterprise_id": enterprise, "period": "2025-03",
            "quantity_milli": quantity * 1000,
            "production_milli": (production if production is not None else quantity) * 1000,
            "quota_milli": pd.NA if quota is None else quota * 1000,
            "base_price_micro": pd.NA if price_micro is None else price_micro}


CLASSES = pd.DataFrame([
    ("E-STAINLESS", "stainless-steel", "eliminated", "SS-E1", "rule"),
    ("E-FOUNDRY", "foundry", "restricted", "FD-R1", "rule"),
    ("E-ALU", "aluminium", "permitted", "", "default"),
    ("E-ALU-GREEN", "aluminium", "permitted", "", "default"),
    ("E-ALU-NODATA", "aluminium", "permitted", "", "default"),
    ("E-STEEL", "steel", "restricted", "ST-R1", "rule"),
    ("E-STEEL", "steel-ule", "two", "ULE-2", "rule"),
    ("E-CONFLICT", "foundry", "", "FD-1|FD-2", "conflict"),
], columns=["enterprise_id", "rulebook", "class", "rule_id", "decided_by"])

FACTS = {"aluminium": pd.DataFrame(
    {"ac_kwh_per_t": [13700.0, 13700.0, None], "renewable_pct": [None, 20.0, None]},
    index=pd.Index(["E-ALU", "E-ALU-GREEN", "E-ALU-NODATA"], name="enterprise_id"),
).astype("Float64")}


@pytest.fixture(scope="module")
def priced():
    lines = pd.DataFrame([
        line("E-STAINLESS", 850_000),
        line("E-FOUNDRY", 1000),
        line("E-ALU", 12_000_000, production=10_000_000),
        line("E-ALU-GREEN", 10_000_000),
        line("E-ALU-NODATA", 10),
        line("E-STEEL", 8_000_000),
        line("E-CONFLICT", 5),
        line("E-WATER", 1500, utility="water", quota=1000, price_micro=3_000_000),
        line("E-WATER-NOPRICE", 1500, utility="water", quota=1000),
        line("E-WATER-UNDER", 900, utility="water", quota=1000, price_micro=3_000_000),
        line("E-NOT-CLASSIFIED", 5000),
    ])
    result = price_lines(lines, CLASSES, FACTS, in_force([tariff()], "2025-03"))
    return lines, result


def test_a_batch_keeps_only_the_facts_pricing_reads(priced) -> None:
    """The stepped component's metric and its reduction's, of its rulebook; every other
    column and rulebook goes, and the lines price exactly as with all the facts."""
    lines, result = priced
    extra = FACTS["aluminium"].assign(power_kw=[1.0, 2.0, 3.0], name=["a", "b", "c"])
    facts = {"aluminium": extra,
             "foundry": pd.DataFrame({"output_t": [1.0]}, index=pd.Index(["E-FOUNDRY"]))}
    components = in_force([tariff()], "2025-03")
    lean = pricing_facts(facts, components)
    assert list(lean) == ["aluminium"]
    assert list(lean["aluminium"].columns) == ["ac_kwh_per_t", "renewable_pct"]
    again = price_lines(lines, CLASSES, lean, components)
    pd.testing.assert_frame_equal(again.surcharges, result.surcharges)
    pd.testing.assert_frame_equal(again.faults, result.faults)


def amounts(priced, enterprise: str) -> list[tuple[str, str, int]]:
    lines, result = priced
    rows = result.surcharges
    ent = lines["enterprise_id"].to_numpy()[rows["row"].to_numpy()]
    found = rows[ent == enterprise]
    return list(zip(found["component_id"], found["band"], found["amount_fen"], strict=True))


def test_stainless_flat_worked_example_6(priced) -> None:
    # 850,000 kWh × 0.30 = 255,000.00 yuan
    assert amounts(priced, "E-STAINLESS") == [("stainless", "", 25_500_000)]


def test_proration_from_the_12th(priced) -> None:
    # in force 12–31 March = 20 of 31 days: 1000 × 0.10 × 20/31 = 64.5161… → 64.52
    assert amounts(priced, "E-FOUNDRY") == [("foundry", "", 6452)]


def test_aluminium_stepped_on_production_worked_example_1(priced) -> None:
    # 13,700 − 13,450 = 250 → 13 steps of 20 (remainder counts whole) → 0.13 × 10,000,000
    assert amounts(priced, "E-ALU") == [("aluminium-2023", "", 130_000_000)]


def test_aluminium_renewable_reduction(priced) -> None:
    # 0.13 × (1 − 0.01 × (20 − 15)) = 0.1235 × 10,000,000 = 1,235,000.00
    assert amounts(priced, "E-ALU-GREEN") == [("aluminium-2023", "", 123_500_000)]


def test_group_pays_only_the_largest_worked_example_8(priced) -> None:
    # steel restricted 0.10 vs ULE two items 0.03 on 8,000,000 kWh: only 800,000.00
    assert amounts(priced, "E-STEEL") == [("steel", "", 80_000_000)]


def test_water_bands_worked_example_7(priced) -> None:
    # quota 1000, use 1500, price 3.00: 200 × 0.60 + 200 × 1.50 + 100 × 3.00 = 720.00
    assert amounts(priced, "E-WATER") == [("water", "1", 12_000), ("water", "2", 30_000),
                                          ("water", "3", 30_000)]


def test_faults_reject_the_whole_line(priced) -> None:
    lines, result = priced
    faults = result.faults.assign(enterprise=lines["enterprise_id"].to_numpy()[
        result.faults["row"].to_numpy()])
    assert dict(zip(faults["enterprise"], faults["reason_code"], strict=True)) == {
        "E-ALU-NODATA": "missing_metric",
        "E-CONFLICT": "conflict",
        "E-WATER-NOPRICE": "missing_base_price",
    }
    for enterprise in ("E-ALU-NODATA", "E-CONFLICT", "E-WATER-NOPRICE", "E-WATER-UNDER",
                       "E-NOT-CLASSIFIED"):
        assert amounts(priced, enterprise) == []


@pytest.mark.parametrize(("metric", "rate_nano"), [
    # DOMAIN worked example 2, threshold 13,300: at the threshold nothing; any excess
    # up to 20 is one step; 21 is two.
    (13300.0, 0), (13300.5, 10_000_000), (13320.0, 10_000_000), (13321.0, 20_000_000),
])
def test_stepped_boundaries_2025(metric: float, rate_nano: int) -> None:
    from pricing.billing.price import stepped_rates

    comp = tariff().components[2].model_copy(update={"threshold": 13300, "reduction": None})
    facts = pd.DataFrame({"ac_kwh_per_t": [metric]}, index=["E"]).astype("Float64")
    assert int(stepped_rates(comp, facts).iloc[0]) == rate_nano


def test_float_noise_does_not_add_a_step() -> None:
    from pricing.billing.price import stepped_rates

    comp = tariff().components[2].model_copy(update={"threshold": 13300, "reduction": None})
    noisy = 13300.1 + 19.9  # 13320.000000000002 in binary floating point
    facts = pd.DataFrame({"ac_kwh_per_t": [noisy]}, index=["E"]).astype("Float64")
    assert int(stepped_rates(comp, facts).iloc[0]) == 10_000_000


@given(st.lists(st.sampled_from(["a", "b", "户", "", "x\x00"]), unique=True),
       st.lists(st.sampled_from(["a", "b", "户", "", "x\x00", "c"]), unique=True))
def test_a_lookup_either_way_round_is_index_in(keys: list[str], values: list[str]) -> None:
    expected = [values.index(key) if key in values else -1 for key in keys]
    assert lookup(pa.array(keys, pa.string()), pa.array(values, pa.string())).tolist() == \
        expected
