"""The classification table (SPEC "classification.csv") and bureau overrides on top of it.

Every enterprise × rulebook in scope gets one row: its class, the rule that decided, how it was
decided and the evidence — the values the deciding rule read (or every rule read, when no rule
decided) — as compact JSON, so "why was enterprise X charged this?" has an answer in the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd

from pricing.classify import engine as vectorized_engine
from pricing.classify import metrics
from pricing.classify.policy import decide
from pricing.errors import DiffpriceError, ErrorList, InputError, raise_if_any

TABLE_COLUMNS = ["enterprise_id", "year", "district", "industry_code", "rulebook", "class",
                 "rule_id", "decided_by", "evidence"]
EVIDENCE_DECIMALS = 6
_OPEN_END = "9999-12"


@dataclass
class Classification:
    """``table``: SPEC classification.csv columns, all text; ``facts`` and ``outcomes``: per
    rulebook id, the typed fields + metrics and the rule outcomes, indexed by enterprise_id."""

    table: pd.DataFrame
    facts: dict[str, pd.DataFrame] = field(default_factory=dict)
    outcomes: dict[str, pd.DataFrame] = field(default_factory=dict)


def classify(compiled: list[Any], register: pd.DataFrame, year: int, *,
             engine: Literal["vectorized", "rete"] = "vectorized",
             source: str) -> Classification:
    """Classify the register rows of ``year`` under every rulebook, in its scope."""
    rows = register[register["year"] == year]
    rete = None
    if engine == "rete":
        from pricing.classify.rete_engine import ReteEngine
        rete = ReteEngine()
    parts: list[pd.DataFrame] = []
    result = Classification(table=pd.DataFrame(columns=TABLE_COLUMNS, dtype="string"))
    errors: list[DiffpriceError] = []
    for book in compiled:
        scoped = rows[metrics.in_scope(book.rulebook, rows)]
        try:
            facts = metrics.facts(book, scoped, source=source)
        except ErrorList as error:
            errors += error.errors
            continue
        except InputError as error:
            errors.append(error)
            continue
        outcomes = (rete.rule_outcomes(book, facts) if rete is not None
                    else vectorized_engine.rule_outcomes(book, facts))
        decision = decide(book, outcomes)
        parts.append(pd.DataFrame({
            "enterprise_id": facts.index.to_numpy(),
            "year": str(year),
            "district": scoped["district"].astype("string").to_numpy(),
            "industry_code": scoped["industry_code"].astype("string").to_numpy(),
            "rulebook": book.rulebook.id,
            "class": decision["class"].to_numpy(),
            "rule_id": decision["rule_id"].to_numpy(),
            "decided_by": decision["decided_by"].to_numpy(),
            "evidence": evidence(book, facts, decision).to_numpy(),
        }))
        result.facts[book.rulebook.id] = facts
        result.outcomes[book.rulebook.id] = outcomes
    raise_if_any(errors)
    if parts:
        table = pd.concat(parts, ignore_index=True).astype("string")
        result.table = table.sort_values(["enterprise_id", "rulebook"], kind="stable") \
            .reset_index(drop=True)
    return result


def evidence(compiled: Any, facts: pd.DataFrame, decision: pd.DataFrame) -> pd.Series:
    """Compact JSON of the names read by the deciding rule, or by all rules otherwise.

    Built column-wise: each name's ``"name":value`` fragment once, then one concatenation per
    distinct name list (one per rule, plus "all rules").
    """
    every = list(dict.fromkeys(n for names in compiled.reads.values() for n in names))
    fragments = {name: _fragment(name, facts[name], compiled.types.get(name)) for name in every}
    result = pd.Series(_concat(fragments, every), index=facts.index, dtype="string")
    by_rule = (decision["decided_by"] == "rule").to_numpy(dtype=bool)
    rule_ids = decision["rule_id"].to_numpy(dtype=object)
    for rule, _node in compiled.rules:
        chosen = by_rule & (rule_ids == rule.id)
        if chosen.any():
            names = list(compiled.reads[rule.id])
            result[chosen] = _concat(fragments, names)[chosen]
    return result


def _concat(fragments: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    if not names:
        return np.full(len(next(iter(fragments.values()), [])), "{}", dtype=object)
    joined = fragments[names[0]]
    for name in names[1:]:
        joined = joined + "," + fragments[name]
    return "{" + joined + "}"


def _fragment(name: str, column: pd.Series, kind: str | None) -> np.ndarray:
    """``"name":value`` for every row, as an object array of text."""
    key = json.dumps(name, ensure_ascii=False) + ":"
    if kind == "number":
        text = format_numbers(column.astype("Float64"))
    elif kind == "boolean":
        truth = column.astype("boolean")
        text = np.where(truth.fillna(False).to_numpy(dtype=bool), "true", "false").astype(object)
        text[truth.isna().to_numpy()] = "null"
    else:
        values = column.astype("string")
        codes, uniques = pd.factorize(values)
        quoted = np.array([json.dumps(u, ensure_ascii=False) for u in uniques] + ["null"],
                          dtype=object)
        text = quoted[codes]  # code -1 (missing) picks the trailing "null"
    return key + text


def format_numbers(values: pd.Series) -> np.ndarray:
    """Plain decimals, at most 6 decimals, no exponent, no trailing zeros; missing = null."""
    floats = values.to_numpy(dtype="float64", na_value=np.nan)
    missing = np.isnan(floats)
    scaled = np.round(np.where(missing, 0.0, floats) * 10**EVIDENCE_DECIMALS)
    fits = np.abs(scaled) < 2**62
    micro = np.where(fits, scaled, 0).astype(np.int64)
    whole, frac = np.divmod(np.abs(micro), 10**EVIDENCE_DECIMALS)
    frac_text = pd.Series(frac).astype(str).str.zfill(EVIDENCE_DECIMALS).str.rstrip("0")
    whole_text = pd.Series(whole).astype(str)
    text = (np.where(micro < 0, "-", "") + whole_text
            + np.where(frac_text == "", "", "." + frac_text)).to_numpy(dtype=object)
    for i in np.flatnonzero(~fits & ~missing):  # beyond ±4.6e12: exact Decimal text
        text[i] = format(Decimal(repr(float(floats[i]))).quantize(Decimal(1)), "f")
    text[missing] = "null"
    return text


def apply_overrides(table: pd.DataFrame, overrides: pd.DataFrame, period: str, *,
                    source: str = "overrides") -> pd.DataFrame:
    """Replace the computed class by bureau decisions in force in ``period`` (SPEC
    "Overrides"): ``decided_by=override``, rule_id empty, evidence keeps the reference, the
    reason and the computed class. Two overrides covering one enterprise × rulebook × month
    is an error naming both lines."""
    if overrides is None or overrides.empty:
        return table
    end = overrides["valid_to"].astype("string").fillna(_OPEN_END)
    start = overrides["valid_from"].astype("string")
    active = overrides[((start <= period) & (end >= period)).fillna(False).astype(bool)]
    lines = (active["line"] if "line" in active else pd.Series(active.index + 2,
                                                               index=active.index))
    doubled = active.duplicated(["enterprise_id", "rulebook"], keep=False)
    if doubled.any():
        errors: list[DiffpriceError] = []
        for (eid, book), group in active[doubled].groupby(["enterprise_id", "rulebook"]):
            found = sorted(int(x) for x in lines[group.index])
            errors.append(InputError(source, found[-1], None,
                                     f"overrides at lines {' and '.join(map(str, found))} both "
                                     f"cover {eid} / {book} in {period}"))
        raise_if_any(errors)
    if active.empty:
        return table
    result = table.copy()
    keys = pd.MultiIndex.from_frame(result[["enterprise_id", "rulebook"]].astype(str))
    for _, row in active.iterrows():  # overrides are a handful of bureau decisions
        hit = keys.get_indexer([(str(row["enterprise_id"]), str(row["rulebook"]))])[0]
        if hit < 0:
            continue  # not classified under that rulebook this year: nothing to replace
        computed = result.at[hit, "class"]
        result.loc[hit, ["class", "rule_id", "decided_by"]] = [row["class"], "", "override"]
        result.at[hit, "evidence"] = json.dumps(
            {"reference": _plain(row["reference"]), "reason": _plain(row["reason"]),
             "computed": _plain(computed)},
            separators=(",", ":"), ensure_ascii=False)
    return result


def _plain(value: Any) -> Any:
    return None if value is None or value is pd.NA or (isinstance(value, float)
                                                       and np.isnan(value)) else str(value)
