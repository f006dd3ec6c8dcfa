"""Classification table, evidence, bands, field conversion and overrides — golden by hand."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from classify_helpers import compiled_rulebook, register
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.classify import metrics
from pricing.classify.examples import run_examples
from pricing.classify.table import TABLE_COLUMNS, apply_overrides, classify, format_numbers
from pricing.errors import ErrorList, InputError
from pricing.expr.check import compile_rulebook
from pricing.spec.load import load_specs

FOUNDRY_LIKE = dict(
    fields={"output_t": {"type": "number"}, "energy_tce": {"type": "number"},
            "cupola": {"type": "string"}},
    metrics={"kgce_per_t": "energy_tce * 1000 / output_t"},
    rules=[{"id": "E1", "class": "eliminated", "when": "cupola == 'small'"},
           {"id": "R1", "class": "restricted", "when": "kgce_per_t > 550"}],
)


@pytest.mark.parametrize("engine", ["vectorized", "rete"])
def test_classification_rows_and_evidence(engine: str) -> None:
    book = compiled_rulebook(**FOUNDRY_LIKE)
    frame = register([
        # 800 t, 490 tce → 612.5 kgce/t > 550: R1 holds
        {"enterprise_id": "B", "output_t": "800", "energy_tce": "490", "cupola": "none"},
        # small cupola: E1 (eliminated) wins over nothing else
        {"enterprise_id": "A", "output_t": "1000", "energy_tce": "300", "cupola": "small"},
        # 1000 t, 300 tce → 300 kgce/t: nothing holds, nothing unknown → default
        {"enterprise_id": "C", "output_t": "1000", "energy_tce": "300", "cupola": "none"},
        # energy missing → R1 unknown, E1 false → on_missing (restricted)
        {"enterprise_id": "D", "output_t": "1000", "energy_tce": "", "cupola": "none"},
        # out of scope (industry C30): not classified
        {"enterprise_id": "X", "industry_code": "C3011", "output_t": "1", "energy_tce": "1"},
    ])
    result = classify([book], frame, 2024, engine=engine, source="register.csv")
    table = result.table
    assert list(table.columns) == TABLE_COLUMNS
    assert list(table["enterprise_id"]) == ["A", "B", "C", "D"]
    assert list(table["class"]) == ["eliminated", "restricted", "permitted", "restricted"]
    assert list(table["rule_id"]) == ["E1", "R1", "", ""]
    assert list(table["decided_by"]) == ["rule", "rule", "default", "missing"]
    assert list(table["evidence"]) == [
        '{"cupola":"small"}',
        '{"kgce_per_t":612.5}',
        '{"cupola":"none","kgce_per_t":300}',
        '{"cupola":"none","kgce_per_t":null}',
    ]
    assert set(table["year"]) == {"2024"}
    assert result.facts["test-book"].loc["B", "kgce_per_t"] == 612.5


@pytest.mark.parametrize("engine", ["vectorized", "rete"])
def test_a_batch_keeps_the_table_and_only_the_facts_it_names(engine: str) -> None:
    """``keep``: the same table, facts cut to the named columns (a name the facts lack is
    skipped), rulebooks not named without facts, and no rule outcomes at all."""
    book = compiled_rulebook(**FOUNDRY_LIKE)
    other = compiled_rulebook(rulebook="other-book", **FOUNDRY_LIKE)
    frame = register([
        {"enterprise_id": "B", "output_t": "800", "energy_tce": "490", "cupola": "none"},
        {"enterprise_id": "A", "output_t": "1000", "energy_tce": "", "cupola": "small"},
    ])
    full = classify([book, other], frame, 2024, engine=engine, source="register.csv")
    lean = classify([book, other], frame, 2024, engine=engine, source="register.csv",
                    keep={"test-book": ["kgce_per_t", "no_such_metric"]})
    pd.testing.assert_frame_equal(lean.table, full.table)
    assert list(lean.facts) == ["test-book"] and lean.outcomes == {}
    pd.testing.assert_frame_equal(lean.facts["test-book"],
                                  full.facts["test-book"][["kgce_per_t"]])


def test_only_rows_of_the_year_are_classified() -> None:
    book = compiled_rulebook(**FOUNDRY_LIKE)
    frame = register([{"enterprise_id": "A", "output_t": "1", "energy_tce": "1",
                       "cupola": "none"}], year=2023)
    assert classify([book], frame, 2024, source="r.csv").table.empty


@pytest.mark.parametrize("engine", ["vectorized", "rete"])
def test_each_table_row_knows_its_register_row_of_the_year(engine: str) -> None:
    """``rows``: the row among the year's register rows (the places) each verdict came
    from, whatever the table's order and the other years' rows."""
    book = compiled_rulebook(**FOUNDRY_LIKE)
    other = compiled_rulebook(rulebook="other-book", **{**FOUNDRY_LIKE, "scope": {
        "industry": ["C3391"], "districts": None}})
    cells = {"output_t": "1", "energy_tce": "1", "cupola": "none"}
    frame = pd.concat([
        register([{"enterprise_id": "Z", **cells}, {"enterprise_id": "B", **cells,
                                                     "industry_code": "C3301"}]),
        register([{"enterprise_id": "B", **cells}], year=2023),
        register([{"enterprise_id": "A", **cells}, {"enterprise_id": "X", **cells,
                                                     "industry_code": "C3011"}]),
    ], ignore_index=True)
    result = classify([book, other], frame, 2024, engine=engine, source="r.csv")
    year_ids = frame.loc[frame["year"] == 2024, "enterprise_id"].tolist()  # Z B A X
    assert list(result.table["enterprise_id"]) == ["A", "A", "B", "Z", "Z"]
    assert [year_ids[row] for row in result.rows] == list(result.table["enterprise_id"])


def test_bands_cut_the_metric_right_closed() -> None:
    # edges [550, 700], closed right: 550 → permitted, 550.1 → restricted, 700 → restricted,
    # 700.5 → eliminated; output 0 → division by zero → missing → on_missing
    book = compiled_rulebook(
        fields={"kgce": {"type": "number"}, "output_t": {"type": "number"}},
        metrics={"per_t": "kgce / output_t"},
        bands={"metric": "per_t", "edges": [550, 700], "closed": "right"}, rules=[])
    frame = register([{"enterprise_id": f"E{i}", "kgce": k, "output_t": o}
                      for i, (k, o) in enumerate([("550", "1"), ("550.1", "1"), ("1400", "2"),
                                                  ("700.5", "1"), ("5", "0")])])
    for engine in ("vectorized", "rete"):
        table = classify([book], frame, 2024, engine=engine, source="r.csv").table
        assert list(table["class"]) == ["permitted", "restricted", "restricted", "eliminated",
                                        "restricted"]
        assert list(table["rule_id"]) == ["band-1", "band-2", "band-2", "band-3", ""]


def test_fields_are_converted_and_bad_text_is_an_error_with_its_line() -> None:
    book = compiled_rulebook(fields={"x": {"type": "number"}, "flag": {"type": "boolean"}},
                             rules=[{"id": "R", "class": "restricted", "when": "flag"}])
    good = register([{"enterprise_id": "A", "x": " 1.5 ", "flag": "是"},
                     {"enterprise_id": "B", "x": "", "flag": "No"}])
    facts = metrics.facts(book, good, source="r.csv")
    assert facts["x"].iloc[0] == 1.5
    assert facts["x"].isna().tolist() == [False, True]
    assert facts["flag"].tolist() == [True, False]
    bad = register([{"enterprise_id": "A", "x": "abc", "flag": "maybe"}])
    with pytest.raises(ErrorList) as caught:
        metrics.facts(book, bad, source="r.csv")
    assert [str(e) for e in caught.value.errors] == [
        "r.csv:2: column 'x': expected a number, found 'abc'",
        "r.csv:2: column 'flag': expected true/false, yes/no, 1/0 or 是/否, found 'maybe'",
    ]


def test_a_declared_field_missing_from_the_register_names_the_rulebook() -> None:
    book = compiled_rulebook(rules=[{"id": "R", "class": "restricted", "when": "x > 1"}])
    with pytest.raises(InputError, match="rulebook 'test-book' reads 'x'"):
        metrics.facts(book, register([{"enterprise_id": "A", "kind": "k"}]), source="r.csv")


def _micro_text(value: float) -> str:
    """The evidence text of a number by hand: rounded to millionths as the engine rounds
    (float64, half to even), then written out with Python integers."""
    if np.isnan(value):
        return "null"
    micro = int(np.round(value * 10**6))
    whole, fraction = divmod(abs(micro), 10**6)
    tail = f"{fraction:06d}".rstrip("0")
    return ("-" if micro < 0 else "") + str(whole) + ("." + tail if tail else "")


@settings(max_examples=300)
@given(st.lists(st.one_of(st.floats(-4e12, 4e12, allow_nan=False), st.just(float("nan")),
                          st.integers(-10**9, 10**9).map(float),
                          st.floats(-1e-5, 1e-5)), max_size=40))
def test_evidence_numbers_match_their_text_by_hand(values: list[float]) -> None:
    floats = pd.Series(values, dtype="float64").astype("Float64")
    floats[np.isnan(np.array(values, dtype=float))] = pd.NA
    assert list(format_numbers(floats)) == [_micro_text(value) for value in values]


def test_numbers_in_evidence_are_plain_short_decimals() -> None:
    values = pd.Series([612.5, 0.3, 1 / 3, -2.0, 1e-9, 123456789.125, None], dtype="Float64")
    assert list(format_numbers(values)) == ["612.5", "0.3", "0.333333", "-2", "0",
                                            "123456789.125", "null"]


TABLE = pd.DataFrame({
    "enterprise_id": ["A", "B"], "year": "2024", "district": "330212",
    "industry_code": "C3391", "rulebook": "foundry", "class": ["eliminated", "restricted"],
    "rule_id": ["E1", "R1"], "decided_by": "rule", "evidence": "{}"}).astype("string")


def overrides(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["enterprise_id", "rulebook", "class", "valid_from",
                                        "valid_to", "reference", "reason"]).astype("string")
    frame.insert(0, "line", np.arange(2, len(frame) + 2))
    return frame


def test_an_override_in_force_replaces_the_class_and_keeps_the_computed_one() -> None:
    found = apply_overrides(TABLE, overrides([
        ("A", "foundry", "permitted", "2025-01", None, "甬发改〔2025〕1号", "rectified"),
        ("B", "foundry", "permitted", "2025-07", "2025-12", "ref-2", "appeal"),  # not yet
    ]), "2025-03")
    assert list(found["class"]) == ["permitted", "restricted"]
    assert list(found["decided_by"]) == ["override", "rule"]
    assert list(found["rule_id"]) == ["", "R1"]
    assert json.loads(found["evidence"][0]) == {"reference": "甬发改〔2025〕1号",
                                                "reason": "rectified", "computed": "eliminated"}


def test_two_overrides_covering_one_month_are_an_error_naming_both_lines() -> None:
    with pytest.raises(InputError, match="lines 2 and 3"):
        apply_overrides(TABLE, overrides([
            ("A", "foundry", "permitted", "2025-01", None, "r1", ""),
            ("A", "foundry", "restricted", "2025-03", "2025-03", "r2", ""),
        ]), "2025-03", source="overrides.csv")


def test_bundled_rulebook_examples_run_on_both_engines() -> None:
    warnings.simplefilter("ignore", DeprecationWarning)
    specs = load_specs([Path(__file__).parents[2] / "rules"])
    book = compile_rulebook(specs.rulebooks["foundry"])
    results = run_examples(book)
    assert results and all(r.passed for r in results), [r for r in results if not r.passed]
    assert set(results[0].got) == {"vectorized", "rete"}


def test_explain_lists_rules_metrics_and_the_decision() -> None:
    from pricing.classify.engine import rule_outcomes
    from pricing.classify.explain import explain_classification, format_text
    from pricing.classify.policy import decide

    book = compiled_rulebook(**FOUNDRY_LIKE)
    facts = metrics.facts(book, register([{"enterprise_id": "B", "output_t": "800",
                                           "energy_tce": "490", "cupola": ""}]), source="r")
    outcomes = rule_outcomes(book, facts)
    found = explain_classification(book, facts.iloc[0], outcomes.iloc[0],
                                   decide(book, outcomes).iloc[0])
    # 490 × 1000 / 800 = 612.5 > 550 → R1 true; cupola missing → E1 unknown
    assert [(r["id"], r["value"]) for r in found["rules"]] == [("E1", "unknown"),
                                                               ("R1", "true")]
    assert found["metrics"] == [{"name": "kgce_per_t", "expr": "energy_tce * 1000 / output_t",
                                 "value": "612.5"}]
    assert found["decision"] == {"class": "restricted", "rule_id": "R1", "decided_by": "rule"}
    text = format_text(found)
    assert "kgce_per_t = 612.5" in text and "R1  restricted  true" in text
