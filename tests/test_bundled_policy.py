"""The bundled rulebooks, tariffs and proposal: SPEC structure, cross-references, and the
DOMAIN.md worked examples their numbers must reproduce (computed here by hand with Decimal)."""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RULEBOOK_FILES = sorted((ROOT / "rules").glob("*.yaml"))
TARIFF_FILES = sorted((ROOT / "tariffs").glob("*.yaml"))
PROPOSAL_DIR = ROOT / "tariffs" / "proposals" / "yinzhou-foundry-2026"
PROPOSAL_FILES = sorted(PROPOSAL_DIR.glob("*.yaml"))
REQUIRED = {
    "rulebook": {"rulebook", "title", "source", "scope", "fields", "classes", "hit_policy",
                 "default", "on_missing", "examples"},
    "tariff": {"tariff", "title", "source", "currency", "components"},
    "proposal": {"proposal", "title", "districts"},
}
DECIDED_BY = {"rule", "default", "missing", "unclassified", "conflict"}


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _rulebooks(files: list[Path]) -> dict[str, dict]:
    return {d["rulebook"]: d for d in map(_load, files) if "rulebook" in d}


BASELINE = _rulebooks(RULEBOOK_FILES)


def _rule_ids(rb: dict) -> dict[str, str]:
    if "bands" in rb:
        return {f"band-{i}": c for i, c in enumerate(rb["classes"], start=1)}
    return {r["id"]: r["class"] for r in rb["rules"]}


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.mark.parametrize("path", RULEBOOK_FILES + TARIFF_FILES + PROPOSAL_FILES,
                         ids=lambda p: p.name)
def test_kind_key_first_and_required_keys(path: Path) -> None:
    data = _load(path)
    kind = next(iter(data))
    assert kind in REQUIRED
    assert REQUIRED[kind] <= set(data)
    if kind != "proposal":
        assert "[U]" in data["source"] or "[V]" in data["source"]


def test_the_bundled_set_and_its_hit_policies() -> None:
    assert {"stainless-steel", "foundry", "electrolytic-aluminium", "cement", "steel",
            "steel-ule", "mu-efficiency"} <= set(BASELINE)
    assert {rb["hit_policy"] for rb in BASELINE.values()} == {"worst", "first", "unique"}
    assert any("bands" in rb for rb in BASELINE.values())
    assert any(rb["on_missing"] == "unclassified" for rb in BASELINE.values())
    for path in RULEBOOK_FILES:
        assert _load(path)["rulebook"] == path.stem


@pytest.mark.parametrize("rb", list(BASELINE.values()) + list(_rulebooks(PROPOSAL_FILES).values()),
                         ids=lambda rb: rb["rulebook"])
def test_rulebook_references_are_consistent(rb: dict) -> None:
    classes = rb["classes"]
    assert len(set(classes)) == len(classes)
    assert rb["default"] in classes
    assert rb["on_missing"] in [*classes, "unclassified"]
    assert ("bands" in rb) != ("rules" in rb)
    rules = _rule_ids(rb)
    assert set(rules.values()) <= set(classes)
    if "bands" in rb:
        assert len(rb["bands"]["edges"]) + 1 == len(classes)
        assert rb["bands"]["metric"] in rb.get("metrics", {})
    for table in rb.get("tables", {}).values():
        assert table["key"] in rb["fields"]
    for field in rb["fields"].values():
        assert field["type"] in {"number", "string", "boolean"}
    assert all(re.fullmatch(r"[A-Z]\d{0,4}", code) for code in rb["scope"]["industry"])


@pytest.mark.parametrize("rb", list(BASELINE.values()) + list(_rulebooks(PROPOSAL_FILES).values()),
                         ids=lambda rb: rb["rulebook"])
def test_examples_are_well_formed(rb: dict) -> None:
    rules = _rule_ids(rb)
    assert len(rb["examples"]) >= 3
    names = [e["name"] for e in rb["examples"]]
    assert len(set(names)) == len(names)
    for example in rb["examples"]:
        data, expect = example["input"], example["expect"]
        assert any(data["industry_code"].startswith(p) for p in rb["scope"]["industry"])
        assert set(data) - {"industry_code", "district"} <= set(rb["fields"]), example["name"]
        if "rule" in expect:
            assert rules[expect["rule"]] == expect["class"], example["name"]
        else:
            assert expect["decided_by"] in DECIDED_BY - {"rule"}
        if "class" in expect:
            assert expect["class"] in rb["classes"]
        if expect.get("decided_by") == "missing":
            assert expect["class"] == rb["on_missing"]
        if expect.get("decided_by") == "default":
            assert expect["class"] == rb["default"]


def test_every_rule_is_exercised_by_an_example() -> None:
    for rb in BASELINE.values():
        if "bands" in rb and rb["rulebook"] == "mu-efficiency":
            continue  # population ranks cannot be pinned by one-enterprise examples
        hit = {e["expect"].get("rule") for e in rb["examples"]}
        assert set(_rule_ids(rb)) <= hit, rb["rulebook"]


def _components(files: list[Path]) -> list[dict]:
    return [c for d in map(_load, files) if "tariff" in d for c in d["components"]]


def test_tariff_components_reference_bundled_rulebooks_and_classes() -> None:
    for comp in _components(TARIFF_FILES + PROPOSAL_FILES):
        if comp["kind"] == "over_quota":
            assert "rulebook" not in comp
            continue
        rb = BASELINE[comp["rulebook"]]
        if comp["kind"] == "flat":
            assert set(comp["rates"]) <= set(rb["classes"])
            rates = [Decimal(str(comp["rates"][c])) for c in rb["classes"] if c in comp["rates"]]
            assert rates == sorted(rates), comp["id"]
        else:
            assert comp["metric"] in rb["metrics"]
            assert comp["reduction"]["metric"] in rb["metrics"]


def test_component_periods_do_not_overlap_and_rates_respect_limits() -> None:
    ningbo = _load(ROOT / "tariffs" / "ningbo.yaml")
    assert ningbo["tariff"] == "ningbo-differential"
    by_id: dict[str, list[tuple]] = {}
    for comp in ningbo["components"]:
        eff = comp["effective"]
        by_id.setdefault(comp["id"], []).append((eff["from"], eff.get("to")))
        if comp["kind"] == "flat":
            limit = Decimal(str(ningbo["limits"][comp["utility"]]))
            assert max(Decimal(str(r)) for r in comp["rates"].values()) <= limit
    for periods in by_id.values():
        periods.sort()
        for (_, end), (start, _) in zip(periods, periods[1:], strict=False):
            assert end is not None and end < start
    assert len(by_id["stainless-electricity"]) == 2
    assert len(by_id["aluminium-stepped"]) == 3


def _stepped_rate(comp: dict, metric: Decimal) -> Decimal:
    excess = metric - Decimal(comp["threshold"])
    if excess <= 0:
        return Decimal(0)
    return Decimal(str(comp["increment"])) * math.ceil(excess / Decimal(comp["step"]))


def _aluminium(year: int) -> dict:
    for comp in _load(ROOT / "tariffs" / "ningbo.yaml")["components"]:
        eff = comp["effective"]
        if comp["id"] == "aluminium-stepped" and eff["from"].year <= year and (
                eff.get("to") is None or eff["to"].year >= year):
            return comp
    raise AssertionError(year)


def test_domain_examples_1_2_4_aluminium_stepped() -> None:
    kwh = Decimal(10_000_000)
    assert _money(_stepped_rate(_aluminium(2022), Decimal(13700)) * kwh) == Decimal("300000.00")
    assert _money(_stepped_rate(_aluminium(2023), Decimal(13700)) * kwh) == Decimal("1300000.00")
    y2025 = _aluminium(2025)
    assert [_stepped_rate(y2025, Decimal(m)) for m in ("13300", "13300.5", "13320", "13321")] \
        == [0, Decimal("0.01"), Decimal("0.01"), Decimal("0.02")]
    red = y2025["reduction"]
    points = Decimal(20) - Decimal(red["above"])
    rate = Decimal("0.03") * (1 - Decimal(str(red["per_point"])) * points)
    assert _money(rate * kwh) == Decimal("285000.00")


def test_domain_examples_3_5_6_8_flat_rates() -> None:
    comps = {(c["id"], c["effective"]["from"].year): c for c in _components(TARIFF_FILES)}
    bands = comps[("aluminium-bands", 2014)]["rates"]
    assert _money(Decimal(str(bands["eliminated"])) * 5_000_000) == Decimal("400000.00")
    foundry = comps[("foundry-electricity", 2015)]["rates"]
    assert _money(Decimal(str(foundry["restricted"])) * 1_234_567) == Decimal("123456.70")
    assert _money(Decimal(str(foundry["eliminated"])) * 1_234_567) == Decimal("370370.10")
    stainless = comps[("stainless-electricity", 2011)]
    assert stainless["effective"]["from"].isoformat() == "2011-10-01"
    assert _money(Decimal(str(stainless["rates"]["eliminated"])) * 850_000) == Decimal("255000.00")
    steel, ule = comps[("steel-electricity", 2017)], comps[("steel-ule-electricity", 2021)]
    assert steel["group"] == ule["group"] is not None
    both = [Decimal(str(steel["rates"]["restricted"])), Decimal(str(ule["rates"]["two-unmet"]))]
    assert _money(max(both) * 8_000_000) == Decimal("800000.00")


def test_domain_example_7_water_over_quota_haikou_bands() -> None:
    (comp,) = _load(ROOT / "tariffs" / "water.yaml")["components"]
    quota, use, price = Decimal(1000), Decimal(1500), Decimal("3.00")
    excess, floor, total = use - quota, Decimal(0), Decimal(0)
    for band in comp["bands"]:
        ceiling = quota * Decimal(band["upto_pct"]) / 100 if "upto_pct" in band else excess
        in_band = max(Decimal(0), min(excess, ceiling) - floor)
        total += _money(in_band * price * Decimal(str(band["multiple"])))
        floor = ceiling
    assert total == Decimal("720.00")


def test_proposal_replaces_baseline_ids_inside_yinzhou() -> None:
    proposal = _load(PROPOSAL_DIR / "proposal.yaml")
    assert proposal["proposal"] == PROPOSAL_DIR.name
    assert [str(d) for d in proposal["districts"]] == ["330212"]
    replaced = _rulebooks(PROPOSAL_FILES)
    assert set(replaced) == {"foundry"}
    base_limits = BASELINE["foundry"]["tables"]["limit_kgce"]["values"]
    new_limits = replaced["foundry"]["tables"]["limit_kgce"]["values"]
    assert all(new_limits[k] < base_limits[k] for k in base_limits)
    baseline_ids = {c["id"] for c in _components(TARIFF_FILES)}
    (component,) = _components(PROPOSAL_FILES)
    assert component["id"] in baseline_ids
    base = next(c for c in _components(TARIFF_FILES) if c["id"] == component["id"])
    assert component["rates"]["restricted"] > base["rates"]["restricted"]
