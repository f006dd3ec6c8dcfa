"""Static checks: types, unknown names with suggestions, metric order, all errors at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pricing.errors import ErrorList, SpecError
from pricing.expr.check import TypeEnv, compile_rulebook, infer
from pricing.expr.parse import parse
from pricing.spec.load import load_specs
from pricing.spec.rulebook import Rulebook

ENV = TypeEnv(
    names={
        "output_t": "number",
        "energy_tce": "number",
        "cupola": "string",
        "product": "string",
        "district": "string",
        "certified": "boolean",
        "audited": "boolean",
    },
    tables={"limit_kgce": ("product", "number"), "label": ("product", "string")},
    by_fields=frozenset({"cupola", "product", "district"}),
)


def type_of(text: str, kind: str = "metric") -> str:
    node = parse(text, path="r.yaml", line=12, kind=kind)  # type: ignore[arg-type]
    return infer(node, ENV, path="r.yaml", line=12, kind=kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("energy_tce * 1000 / output_t", "number"),
        ("limit_kgce[product]", "number"),
        ("label[product]", "string"),
        ("rank_pct(output_t, by=district)", "number"),
        ("max(output_t, 1, energy_tce)", "number"),
        ("cupola", "string"),
        ("output_t > 5 and cupola in ['yes']", "boolean"),
        ("certified == audited", "boolean"),
        ("not certified", "boolean"),
    ],
)
def test_types_are_inferred(text: str, expected: str) -> None:
    assert type_of(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("output_tt * 2", "unknown name 'output_tt' (did you mean 'output_t'?)"),
        ("zzz + 1", "unknown name 'zzz'"),
        ("output_t + cupola", "'+' needs a number, found a string ('cupola')"),
        ("-cupola", "unary '-' needs a number, found a string"),
        ("min(output_t, product)", "min() needs a number, found a string ('product')"),
        ("rank_pct(cupola)", "rank_pct() needs a number, found a string"),
        ("rank_pct(output_t, by=energy_tce)", "'energy_tce' is not a string field"),
        ("rank_pct(output_t, by=distrcit)", "(did you mean 'district'?)"),
        ("limit_kgce[cupola]", "table 'limit_kgce' is keyed by 'product', not 'cupola'"),
        ("limit_kgc[product]", "unknown table 'limit_kgc' (did you mean 'limit_kgce'?)"),
        ("limit_kgce + 1", "'limit_kgce' is a table: look it up as limit_kgce[product]"),
        ("output_t + (certified and audited)", "'+' needs a number, found a boolean"),
    ],
)
def test_metric_errors_name_the_problem_at_the_line(text: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        type_of(text)
    assert str(caught.value).startswith("r.yaml:12: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("output_t", "a condition must be true or false, but this is a number"),
        ("cupola", "a condition must be true or false, but this is a string"),
        ("output_t > 'big'", "'>' compares numbers, found number ('output_t') and string"),
        ("cupola < 'b'", "'<' compares numbers, found string ('cupola')"),
        ("output_t == cupola", "'==' compares a number ('output_t') with a string ('cupola')"),
        ("certified == 1", "'==' compares a boolean ('certified') with a number (1)"),
        (
            "cupola in [1, 2]",
            "'in' list holds a number (1) but the left side ('cupola') is a string",
        ),
        (
            "output_t in ['a']",
            "'in' list holds a string ('a') but the left side ('output_t') is a number",
        ),
        ("output_t in [1, 'a']", "'in' list holds a string ('a')"),
        ("output_t in energy_tce", "'in' needs a [list] on its right, found number"),
        ("certified in ['a']", "'in' needs a number or a string on its left, found boolean"),
        ("cupola in []", "empty list"),
        ("1 < 2", "'<' compares two constants"),
        ("output_t > 1 or cupola", "'or' needs a boolean, found a string"),
        ("not output_t", "'not' needs a boolean, found a number"),
        ("output_t in [1] < 3", "a list can only follow 'in' or 'not in'"),
        ("cupola in ['a'] in ['b']", "'in' needs a number or a string on its left, found list"),
        # json writes 0.00005 as 5e-05, which durable_rules cannot read: refused up front
        ("output_t > 0.00005", "the number 0.00005 is too small for a condition"),
        ("output_t in [1, -0.00001]", "the number -0.00001 is too small"),
    ],
)
def test_condition_type_errors(text: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        type_of(text, "condition")
    assert str(caught.value).startswith("r.yaml:12: ")
    assert message in str(caught.value)


def test_a_boolean_name_alone_is_a_condition() -> None:
    assert type_of("certified", "condition") == "boolean"
    assert type_of("600 < output_t <= 900", "condition") == "boolean"


# ------------------------------------------------------------------ whole rulebooks


def rulebook(**changes: Any) -> Rulebook:
    data: dict[str, Any] = {
        "rulebook": "foundry",
        "title": "Foundry",
        "source": "test",
        "scope": {"industry": ["C3391"]},
        "fields": {
            "output_t": {"type": "number"},
            "energy_tce": {"type": "number"},
            "cupola": {"type": "string"},
            "product": {"type": "string"},
        },
        "tables": {"limit_kgce": {"key": "product", "values": {"iron": 550, "steel": 700}}},
        "metrics": [
            # written out of order on purpose: over_limit reads kgce_per_t
            {"name": "over_limit", "expr": "kgce_per_t / limit_kgce[product]", "__line__": 20},
            {"name": "kgce_per_t", "expr": "energy_tce * 1000 / output_t", "__line__": 21},
            {"name": "share", "expr": "rank_pct(kgce_per_t, by=district)", "__line__": 22},
        ],
        "classes": ["permitted", "restricted", "eliminated"],
        "default": "permitted",
        "on_missing": "restricted",
        "rules": [
            {
                "id": "E1",
                "class": "eliminated",
                "when": "cupola in ['yes'] and over_limit > 1",
                "__line__": 30,
            },
            {
                "id": "R1",
                "class": "restricted",
                "when": "over_limit > 0.9 or share >= 90",
                "__line__": 33,
            },
        ],
        "__path__": "rules/foundry.yaml",
    }
    data.update(changes)
    return Rulebook.model_validate(data)


def test_compile_orders_metrics_and_records_what_each_rule_reads() -> None:
    compiled = compile_rulebook(rulebook())
    assert [(name, kind) for name, _, kind in compiled.metrics] == [
        ("kgce_per_t", "number"),
        ("over_limit", "number"),
        ("share", "number"),
    ]
    assert [rule.id for rule, _ in compiled.rules] == ["E1", "R1"]
    assert compiled.reads == {"E1": ("cupola", "over_limit"), "R1": ("over_limit", "share")}
    assert compiled.metric_reads == {
        "kgce_per_t": ("energy_tce", "output_t"),
        "over_limit": ("kgce_per_t", "product"),
        "share": ("kgce_per_t", "district"),
    }
    assert compiled.types["district"] == "string"  # register columns are implicit fields
    assert compiled.types["industry_code"] == "string"
    assert compiled.tables == {"limit_kgce": {"iron": 550, "steel": 700}}


def test_compile_collects_every_error_of_the_rulebook_with_lines() -> None:
    broken = rulebook(
        metrics=[
            {"name": "a", "expr": "b + 1", "__line__": 20},
            {"name": "b", "expr": "a * 2", "__line__": 21},  # a -> b -> a
            {"name": "output_t", "expr": "1", "__line__": 22},  # shadows a field
            {"name": "c", "expr": "energy_tce +", "__line__": 23},  # syntax
            {"name": "d", "expr": "c * 2", "__line__": 24},  # reads a broken metric: silent
            {"name": "e", "expr": "cupola * 2", "__line__": 25},
            {"name": "e", "expr": "1", "__line__": 26},
        ],
        rules=[
            {"id": "E1", "class": "eliminated", "when": "cupolla == 'yes'", "__line__": 30},
            {"id": "E2", "class": "eliminated", "when": "d > 1", "__line__": 31},
            {"id": "E1", "class": "restricted", "when": "output_t > 1", "__line__": 32},
            {"id": "R1", "class": "restricted", "when": "output_t", "__line__": 33},
        ],
    )
    with pytest.raises(ErrorList) as caught:
        compile_rulebook(broken)
    lines = str(caught.value).splitlines()
    assert lines == [
        "rules/foundry.yaml:22: metric 'output_t' is named like a field",
        "rules/foundry.yaml:23: syntax error at column 13: invalid syntax in 'energy_tce +'",
        "rules/foundry.yaml:26: metric 'e' is defined twice",
        "rules/foundry.yaml:20: metrics depend on each other: a -> b -> a",
        "rules/foundry.yaml:25: '*' needs a number, found a string ('cupola')",
        "rules/foundry.yaml:30: unknown name 'cupolla' (did you mean 'cupola'?)",
        "rules/foundry.yaml:32: rule id 'E1' is used twice",
        "rules/foundry.yaml:33: a condition must be true or false, but this is a number",
    ]


def test_tables_must_be_keyed_by_a_declared_string_field_with_uniform_values() -> None:
    broken = rulebook(
        tables={
            "t1": {"key": "prodcut", "values": {"a": 1}, "__line__": 10},
            "t2": {"key": "output_t", "values": {"a": 1}, "__line__": 11},
            "t3": {"key": "product", "values": {"a": 1, "b": "x"}, "__line__": 12},
        },
        metrics=[],
        rules=[{"id": "E1", "class": "eliminated", "when": "output_t > 1", "__line__": 30}],
    )
    with pytest.raises(ErrorList) as caught:
        compile_rulebook(broken)
    assert str(caught.value).splitlines() == [
        "rules/foundry.yaml:10: table 't1': key 'prodcut' is not a declared field "
        "(did you mean 'product'?)",
        "rules/foundry.yaml:11: table 't2': key field 'output_t' must be a string",
        "rules/foundry.yaml:12: table 't3': values must be all numbers or all text",
    ]


def test_bands_compile_into_rules_reading_the_metric() -> None:
    banded = rulebook(
        rules=[], bands={"metric": "kgce_per_t", "edges": [550, 700], "closed": "right"}
    )
    compiled = compile_rulebook(banded)
    assert list(compiled.reads) == ["band-1", "band-2", "band-3"]
    assert set(compiled.reads.values()) == {("kgce_per_t",)}


def test_the_bundled_rulebooks_compile() -> None:
    specs = load_specs([Path(__file__).parents[2] / "rules"])
    assert specs.rulebooks, "no bundled rulebooks found"
    for rulebook_model in specs.rulebooks.values():
        compiled = compile_rulebook(rulebook_model)
        assert len(compiled.rules) == len(rulebook_model.all_rules())


@pytest.mark.parametrize("text", ["output_t > 0.0001", "output_t > 0", "output_t >= -0.0001"])
def test_condition_constants_durable_can_hold_are_accepted(text: str) -> None:
    assert type_of(text, "condition") == "boolean"
