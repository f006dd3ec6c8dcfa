"""``diffprice explain``: why one enterprise has its class and pays what it pays.

The chain a bureau officer must be able to read aloud: register values → metrics → rules →
class (and any override) → components in force → rate → amount, for every billing line of the
period, including the lines that owe nothing or were rejected, and why. Everything shown is
taken from the same computation as ``run`` (no second evaluator), so the explanation cannot
disagree with the bill.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from pricing.billing.batch import RunOptions, compute_month, surcharge_table
from pricing.billing.components import in_force
from pricing.billing.extract import raw_of
from pricing.billing.register import read_register
from pricing.catalog import Catalog, load_catalog
from pricing.classify.explain import explain_classification, format_text
from pricing.classify.table import Classification, classify
from pricing.errors import InputError
from pricing.spec.tariff import UNITS

LINE_FIELDS = ["source", "line", "utility", "account_id", "raw_quantity",
               "raw_production_quantity", "raw_quota", "raw_base_price"]


def explain_enterprise(*, enterprise: str, period: str | None, register: Path,
                       billing: list[Path], paths: list[Path], overrides: Path | None,
                       year: int | None, input_encoding: str | None, as_json: bool) -> str:
    """The explanation as text, or as JSON with ``as_json``."""
    catalog = load_catalog(paths)
    if period is not None and billing:
        opts = RunOptions(period=period, register=register, billing=billing, catalog=catalog,
                          overrides=overrides, year=year, input_encoding=input_encoding)
        month = compute_month(opts)
        billed = bool((month.lines["enterprise_id"] == enterprise).any()
                      or (month.rejects["enterprise_id"] == enterprise).any())
        data = _explanation(enterprise, catalog, month.classification, month.register,
                            str(register), opts.assessment_year, billed=billed)
        data["period"] = period
        data["billing"] = _billing(enterprise, month, catalog, period)
    else:
        assessment = year if year is not None else int(str(period)[:4]) - 1
        reg = read_register(register, encoding=input_encoding)
        classification = classify([catalog.compiled[k] for k in sorted(catalog.compiled)],
                                  reg.frame, assessment, source=str(register))
        data = _explanation(enterprise, catalog, classification, reg.frame, str(register),
                            assessment)
    if as_json:
        return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False)
    return _text(data)


def _explanation(enterprise: str, catalog: Catalog, classification: Classification,
                 frame: pd.DataFrame, source: str, year: int,
                 billed: bool = False) -> dict[str, Any]:
    rows = frame[(frame["enterprise_id"] == enterprise) & (frame["year"] == year)]
    if rows.empty and not billed and not (frame["enterprise_id"] == enterprise).any():
        raise InputError(source, None, "enterprise_id",
                         f"enterprise {enterprise} is neither in the register nor billed")
    register_values = {} if rows.empty else {
        k: ("" if pd.isna(v) else str(v)) for k, v in rows.iloc[0].items() if k != "line"}
    table = classification.table
    mine = table[table["enterprise_id"] == enterprise]
    rulebooks = []
    for row in mine.to_dict("records"):
        rb_id = row["rulebook"]
        compiled = catalog.compiled[rb_id]
        facts = classification.facts[rb_id].loc[enterprise]
        outcomes = classification.outcomes[rb_id].loc[enterprise]
        decision = pd.Series({"class": row["class"], "rule_id": row["rule_id"],
                              "decided_by": row["decided_by"]})
        item = explain_classification(compiled, facts, outcomes, decision)
        if row["decided_by"] == "override":
            item["override"] = json.loads(row["evidence"])
        rulebooks.append(item)
    return {"enterprise_id": enterprise, "assessment_year": year,
            "register": register_values, "rulebooks": rulebooks,
            "in_scope_of": [r["rulebook"] for r in rulebooks]}


def _billing(enterprise: str, month: Any, catalog: Catalog, period: str) -> dict[str, Any]:
    lines = month.lines
    mine = lines.index[(lines["enterprise_id"] == enterprise).to_numpy()]
    text = pd.DataFrame(raw_of(month.raw, lines.loc[mine, "raw_row"].to_numpy()), index=mine)
    surcharges = surcharge_table(month)
    surcharges = surcharges[surcharges["enterprise_id"] == enterprise]
    result = []
    for pos in mine:
        line = pd.concat([lines.loc[pos], text.loc[pos].add_prefix("raw_")])
        charged = surcharges[surcharges["_row"] == pos]
        result.append({
            "source": str(line["source"]), "line": int(line["line"]),
            "utility": str(line["utility"]), "account_id": str(line["account_id"]),
            "quantity": _raw(line, "quantity"),
            "production_quantity": _raw(line, "production_quantity") or _raw(line, "quantity"),
            "quota": _raw(line, "quota"), "base_price": _raw(line, "base_price"),
            "surcharges": [
                {k: str(v) for k, v in s.items() if not k.startswith("_")}
                for s in charged[["component_id", "band", "rulebook", "class", "rule_id",
                                  "basis_quantity", "unit", "rate", "proration",
                                  "amount"]].to_dict("records")],
            "owes": f"{Decimal(int(charged['_fen'].sum())).scaleb(-2):.2f}",
        })
    rejects = month.rejects[month.rejects["enterprise_id"] == enterprise]
    components = [{"component_id": item.component.id, "tariff": item.tariff,
                   "kind": item.component.kind, "utility": item.component.utility,
                   "unit": UNITS[item.component.utility],
                   "rulebook": item.component.rulebook or "",
                   "proration": item.proration, "group": item.component.group or ""}
                  for item in in_force(catalog.tariffs, period)]
    return {"components_in_force": components, "lines": result,
            "rejected": rejects[["source", "line", "reason_code", "detail"]]
            .to_dict("records")}


def _raw(line: pd.Series, name: str) -> str:
    value = line.get(f"raw_{name}")
    return "" if value is None or pd.isna(value) else str(value)


def _text(data: dict[str, Any]) -> str:
    out = [f"enterprise {data['enterprise_id']} — assessment year {data['assessment_year']}"]
    if data["register"]:
        out.append("register:")
        width = max(len(k) for k in data["register"])
        out += [f"  {k:<{width}} {v or '(missing)'}" for k, v in data["register"].items()]
    else:
        out.append("register: no row for this assessment year — not classified, not priced")
    if not data["rulebooks"]:
        out.append("no rulebook has this enterprise in scope")
    for item in data["rulebooks"]:
        out.append("")
        out.append(format_text(item))
        if "override" in item:
            o = item["override"]
            out.append(f"  override: {o.get('reference', '')} — {o.get('reason', '')} "
                       f"(computed class: {o.get('computed', '')})")
    billing = data.get("billing")
    if billing is None:
        return "\n".join(out)
    out += ["", f"billing {data['period']}: components in force"]
    for comp in billing["components_in_force"]:
        scope = f"rulebook {comp['rulebook']}" if comp["rulebook"] else "every line"
        group = f", group {comp['group']}" if comp["group"] else ""
        out.append(f"  {comp['component_id']:<28} {comp['kind']:<10} {comp['utility']:<11} "
                   f"{scope}, proration {comp['proration']}{group}")
    for line in billing["lines"]:
        out.append(f"\n  {line['utility']} account {line['account_id']} ({line['source']} "
                   f"line {line['line']}): quantity {line['quantity']}, production "
                   f"{line['production_quantity']}, quota {line['quota'] or '-'}, base price "
                   f"{line['base_price'] or '-'}")
        if not line["surcharges"]:
            out.append("    owes nothing: no component in force prices this line for this "
                       "enterprise's classes and metrics")
        for s in line["surcharges"]:
            band = f" band {s['band']}" if s["band"] else ""
            out.append(f"    {s['component_id']}{band}: {s['basis_quantity']} {s['unit']} × "
                       f"{s['rate']} yuan × {s['proration']} = {s['amount']} yuan "
                       f"({s['rulebook'] or 'no rulebook'} {s['class']} {s['rule_id']})".rstrip())
    for reject in billing["rejected"]:
        out.append(f"\n  rejected {reject['source']} line {reject['line']}: "
                   f"{reject['reason_code']} — {reject['detail']}")
    return "\n".join(out)
