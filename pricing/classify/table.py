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
import pyarrow as pa
import pyarrow.compute as pc

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
    parts: list[pa.Table] = []
    result = Classification(table=pd.DataFrame(columns=TABLE_COLUMNS, dtype="string"))
    errors: list[DiffpriceError] = []
    typed = metrics.TypedColumns(rows)
    for book in compiled:
        scoped = rows[metrics.in_scope(book.rulebook, rows)]
        try:
            facts = metrics.facts(book, scoped, source=source, typed=typed)
        except ErrorList as error:
            errors += error.errors
            continue
        except InputError as error:
            errors.append(error)
            continue
        outcomes = (rete.rule_outcomes(book, facts) if rete is not None
                    else vectorized_engine.rule_outcomes(book, facts))
        decision = decide(book, outcomes)
        rows_in_scope = len(facts)
        parts.append(pa.table({
            "enterprise_id": _arrow_text(facts.index),
            "year": pa.array([str(year)] * rows_in_scope, type=pa.string()),
            "district": _arrow_text(scoped["district"]),
            "industry_code": _arrow_text(scoped["industry_code"]),
            "rulebook": pa.array([book.rulebook.id] * rows_in_scope, type=pa.string()),
            "class": _arrow_text(decision["class"]),
            "rule_id": _arrow_text(decision["rule_id"]),
            "decided_by": _arrow_text(decision["decided_by"]),
            "evidence": _arrow_text(evidence(book, facts, decision)),
        }))
        result.facts[book.rulebook.id] = facts
        result.outcomes[book.rulebook.id] = outcomes
    raise_if_any(errors)
    if parts:
        table = pa.concat_tables(parts)
        order = pc.sort_indices(table, sort_keys=[("enterprise_id", "ascending"),
                                                  ("rulebook", "ascending")])
        result.table = table.take(order).to_pandas(
            types_mapper={pa.string(): pd.StringDtype()}.get)
    return result


def _arrow_text(values: pd.Series | pd.Index) -> pa.Array:
    """Text as one Arrow string array (Arrow-backed columns convert without copying)."""
    array = pa.array(values.astype("string"), type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def evidence(compiled: Any, facts: pd.DataFrame, decision: pd.DataFrame) -> pd.Series:
    """Compact JSON of the names read by the deciding rule, or by all rules otherwise.

    Built column-wise with Arrow string kernels: each name's ``"name":value`` fragment once,
    then one join per distinct name list (one per rule that decided somewhere, plus "all").
    """
    every = list(dict.fromkeys(n for names in compiled.reads.values() for n in names))
    fragments = {name: _fragment(name, facts[name], compiled.types.get(name)) for name in every}
    result = _joined(fragments, every, len(facts))
    by_rule = (decision["decided_by"] == "rule").to_numpy(dtype=bool)
    rule_ids = decision["rule_id"].to_numpy(dtype=object)
    for rule, _node in compiled.rules:
        chosen = by_rule & (rule_ids == rule.id)
        if chosen.any():
            names = list(compiled.reads[rule.id])
            result = pc.if_else(pa.array(chosen), _joined(fragments, names, len(facts)), result)
    return pd.Series(pd.arrays.ArrowStringArray(result), index=facts.index)


def _joined(fragments: dict[str, pa.Array], names: list[str], rows: int) -> pa.Array:
    if not names:
        return pa.array(["{}"] * rows, type=pa.string())
    return pc.binary_join_element_wise("{", pc.binary_join_element_wise(
        *(fragments[name] for name in names), ","), "}", "")


def _fragment(name: str, column: pd.Series, kind: str | None) -> pa.Array:
    """``"name":value`` for every row, as Arrow text."""
    key = json.dumps(name, ensure_ascii=False) + ":"
    if kind == "number":
        text = _number_text(column.astype("Float64"))
    elif kind == "boolean":
        truth = column.astype("boolean")
        words = np.where(truth.fillna(False).to_numpy(dtype=bool), "true", "false")
        text = pa.array(np.where(truth.isna().to_numpy(), "null", words), type=pa.string())
    else:
        values = column.astype("string")
        codes, uniques = pd.factorize(values)
        quoted = pa.array([json.dumps(u, ensure_ascii=False) for u in uniques] + ["null"],
                          type=pa.string())
        text = pc.take(quoted, pa.array(np.where(codes < 0, len(uniques), codes)))
    return pc.binary_join_element_wise(key, text, "")


def format_numbers(values: pd.Series) -> np.ndarray:
    """Plain decimals, at most 6 decimals, no exponent, no trailing zeros; missing = null."""
    return _number_text(values).to_numpy(zero_copy_only=False).astype(object)


def _number_text(values: pd.Series) -> pa.Array:
    """:func:`format_numbers` as Arrow text."""
    floats = values.to_numpy(dtype="float64", na_value=np.nan)
    missing = np.isnan(floats)
    scaled = np.round(np.where(missing, 0.0, floats) * 10**EVIDENCE_DECIMALS)
    fits = np.abs(scaled) < 2**62
    micro = np.where(fits, scaled, 0).astype(np.int64)
    whole, frac = np.divmod(np.abs(micro), 10**EVIDENCE_DECIMALS)
    frac_text = pc.utf8_rtrim(pc.utf8_lpad(pc.cast(pa.array(frac), pa.string()),
                                           EVIDENCE_DECIMALS, "0"), "0")
    point = pc.if_else(pc.equal(frac_text, ""), "", ".")
    sign = pa.array(np.where(micro < 0, "-", ""), type=pa.string())
    text = pc.binary_join_element_wise(sign, pc.cast(pa.array(whole), pa.string()), point,
                                       frac_text, "")
    huge = np.flatnonzero(~fits & ~missing)
    if len(huge):  # beyond ±4.6e12: exact Decimal text
        exact = text.to_numpy(zero_copy_only=False).astype(object)
        for i in huge:
            exact[i] = format(Decimal(repr(float(floats[i]))).quantize(Decimal(1)), "f")
        text = pa.array(exact, type=pa.string())
    return pc.if_else(pa.array(missing), "null", text)


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
