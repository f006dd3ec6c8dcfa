"""Rulebook examples as executable documentation (SPEC ``diffprice test``): each example is
classified by BOTH engines, and must give what it expects on each.

An example's ``input`` is a register row written in YAML: numbers become the text a register
would hold; a declared field the example omits is a missing value (SPEC: an empty cell).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd

from pricing.classify import engine as vectorized_engine
from pricing.classify import metrics
from pricing.classify.policy import decide
from pricing.classify.rete_engine import ReteEngine
from pricing.errors import DiffpriceError

DEFAULT_DISTRICT = "330212"
EXAMPLE_ENTERPRISE = "EXAMPLE"


@dataclass(frozen=True)
class Outcome:
    class_: str
    rule_id: str
    decided_by: str


@dataclass
class ExampleResult:
    name: str
    line: int
    expected: dict[str, str | None]
    got: dict[str, Outcome] = field(default_factory=dict)
    passed: bool = False
    error: str | None = None


def run_examples(compiled: Any, rete: ReteEngine | None = None) -> list[ExampleResult]:
    """Every example of the rulebook through both engines; ``passed`` when both meet every
    expectation the example states (class, rule, decided_by — each optional)."""
    rete = rete or ReteEngine()
    results = []
    for example in compiled.rulebook.examples:
        expect = example.expect
        result = ExampleResult(
            name=example.name, line=example.line,
            expected={"class": expect.class_, "rule": expect.rule,
                      "decided_by": expect.decided_by})
        try:
            facts = metrics.facts(compiled, example_row(compiled, example.input, example.line),
                                  source=str(compiled.rulebook.path))
            for engine_name, outcomes in (
                ("vectorized", vectorized_engine.rule_outcomes(compiled, facts)),
                ("rete", rete.rule_outcomes(compiled, facts)),
            ):
                decision = decide(compiled, outcomes).iloc[0]
                result.got[engine_name] = Outcome(str(decision["class"]),
                                                  str(decision["rule_id"]),
                                                  str(decision["decided_by"]))
        except DiffpriceError as error:
            result.error = str(error)
        result.passed = result.error is None and all(
            _meets(result.expected, got) for got in result.got.values())
        results.append(result)
    return results


def example_row(compiled: Any, values: dict[str, Any], line: int) -> pd.DataFrame:
    """A one-row register frame (all ``string``) from an example's input."""
    row: dict[str, Any] = {name: None for name in compiled.rulebook.fields}
    row.update({"enterprise_id": EXAMPLE_ENTERPRISE, "district": DEFAULT_DISTRICT,
                "industry_code": None, "name": "example"})
    row.update({name: register_text(value) for name, value in values.items()})
    frame = pd.DataFrame({name: [value] for name, value in row.items()}, dtype="string")
    frame["line"] = line
    return frame


def register_text(value: Any) -> str | None:
    """The text a register cell would hold for a YAML value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)


def _meets(expected: dict[str, str | None], got: Outcome) -> bool:
    wanted = {"class": got.class_, "rule": got.rule_id, "decided_by": got.decided_by}
    return all(value is None or str(value) == wanted[key] for key, value in expected.items())


def report_examples(catalog: Any) -> tuple[str, int]:
    """A pytest-like report of every rulebook's examples on both engines: (text, failures)."""
    rete = ReteEngine()
    lines, passed, failed = [], 0, 0
    for rb_id in sorted(catalog.compiled):
        compiled = catalog.compiled[rb_id]
        results = run_examples(compiled, rete)
        marks = "".join("." if r.passed else "F" for r in results)
        lines.append(f"{compiled.rulebook.path} {marks}")
        for r in results:
            if r.passed:
                passed += 1
                continue
            failed += 1
            lines.append(f"  FAILED {compiled.rulebook.path}:{r.line} {r.name}")
            wanted = ", ".join(f"{k}={v}" for k, v in r.expected.items() if v is not None)
            lines.append(f"    expected {wanted}")
            if r.error:
                lines.append(f"    error: {r.error}")
            for engine, got in r.got.items():
                lines.append(f"    {engine:<10} class={got.class_ or '-'} "
                             f"rule={got.rule_id or '-'} decided_by={got.decided_by}")
    lines.append(f"{passed} passed, {failed} failed")
    return "\n".join(lines), failed
