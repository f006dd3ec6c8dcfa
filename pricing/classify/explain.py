"""Why one enterprise got its class (SPEC "explain"): every rule with its value and what it
read, every metric with its expression and value, and the decision."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pricing.classify.table import format_numbers


def explain_classification(compiled: Any, facts_row: pd.Series, outcomes_row: pd.Series,
                           decision: pd.Series) -> dict[str, Any]:
    """A plain dict (JSON-ready) of rules, metrics and decision for one enterprise."""
    rules = []
    for rule, _node in compiled.rules:
        outcome = outcomes_row[rule.id]
        value = "unknown" if pd.isna(outcome) else ("true" if outcome else "false")
        rules.append({
            "id": rule.id, "class": rule.class_, "when": rule.when, "value": value,
            "because": rule.because,
            "reads": {name: _show(facts_row[name], compiled.types.get(name))
                      for name in compiled.reads[rule.id]},
        })
    expressions = {m.name: m.expr for m in compiled.rulebook.metrics}
    metrics = [{"name": name, "expr": expressions.get(name, ""),
                "value": _show(facts_row[name], kind)}
               for name, _node, kind in compiled.metrics]
    return {
        "rulebook": compiled.rulebook.id,
        "hit_policy": compiled.rulebook.hit_policy,
        "rules": rules,
        "metrics": metrics,
        "decision": {key: ("" if pd.isna(decision[key]) else str(decision[key]))
                     for key in ("class", "rule_id", "decided_by")},
    }


def format_text(explanation: dict[str, Any]) -> str:
    """The explanation as aligned, readable text."""
    decision = explanation["decision"]
    lines = [f"rulebook {explanation['rulebook']} (hit policy {explanation['hit_policy']})",
             f"  class: {decision['class'] or '-'}   rule: {decision['rule_id'] or '-'}   "
             f"decided by: {decision['decided_by']}"]
    if explanation["metrics"]:
        lines.append("  metrics:")
        width = max(len(m["name"]) for m in explanation["metrics"])
        lines += [f"    {m['name']:<{width}} = {m['value']:<12} ({m['expr']})"
                  for m in explanation["metrics"]]
    lines.append("  rules:")
    id_width = max(len(r["id"]) for r in explanation["rules"])
    class_width = max(len(r["class"]) for r in explanation["rules"])
    for rule in explanation["rules"]:
        reads = ", ".join(f"{k}={v}" for k, v in rule["reads"].items())
        lines.append(f"    {rule['id']:<{id_width}}  {rule['class']:<{class_width}}  "
                     f"{rule['value']:<7}  {rule['when']}   [{reads}]")
    return "\n".join(lines)


def _show(value: Any, kind: str | None) -> str:
    """A value as text: numbers as plain decimals, missing as ``missing``."""
    if value is None or pd.isna(value):
        return "missing"
    if kind == "number":
        return str(format_numbers(pd.Series([value], dtype="Float64"))[0])
    if kind == "boolean":
        return "true" if value else "false"
    return str(value)
