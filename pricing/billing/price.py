"""Price billing lines: a pure function of (lines, classification, components in force).

SPEC "Tariffs" and "Outputs of run". Every candidate surcharge is computed vectorized per
component; a line with any fault is rejected whole (none of its components is priced); among
components sharing a ``group`` only the largest amount of a line applies (DOMAIN: Hebei, no
stacking; ties go to the component listed first). The same function prices a whole month or one
partition of it, so a distributed run gives the same lines.

Joins are positional: enterprise ids are hashed once per call (Arrow ``index_in``) into
positions in each rulebook's classification rows, so a million lines are joined with numpy
``take``, never with string ``isin``/``.loc`` per component.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pricing.billing.components import InForce
from pricing.billing.money import amount_fen, decimal_to_scaled
from pricing.spec.tariff import Flat, OverQuota, Stepped

NANO = 9
EXCESS_PRECISION = 6  # metric − threshold is rounded here so float noise cannot add a step

CANDIDATE_COLUMNS = ["row", "order", "component_id", "group", "band", "rulebook", "class",
                     "rule_id", "basis_milli", "rate_nano", "days", "days_in_month"]
FAULT_COLUMNS = ["row", "order", "reason_code", "detail"]
BLOCKING = ("unclassified", "conflict")


@dataclass
class Priced:
    """Surcharge candidates that survived, and the lines rejected while pricing."""

    surcharges: pd.DataFrame  # CANDIDATE_COLUMNS + amount_fen; `row` points into the lines
    faults: pd.DataFrame  # one row per rejected line: row, reason_code, detail


def _text(values: pd.Series | pd.Index) -> pa.Array:
    """A text column as one Arrow string array (Arrow-backed columns convert without copy)."""
    array = pa.array(values, type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _positions(keys: pa.Array, values: pa.Array) -> np.ndarray:
    """Position of each key in ``values`` (int64), -1 where absent."""
    found = pc.index_in(keys, value_set=values)
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _nullable(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """An integer column as (int64 values with 0 for missing, missing mask)."""
    missing = column.isna().to_numpy(dtype=bool)
    return column.to_numpy(dtype=np.int64, na_value=0), missing


def _constant(value: str, rows: int) -> pd.arrays.ArrowStringArray:
    """A text column of one repeated value, without a Python string per row."""
    return pd.arrays.ArrowStringArray(pc.take(pa.array([value], pa.string()),
                                              pa.array(np.zeros(rows, dtype=np.int32))))


@dataclass
class _Verdicts:
    """One rulebook's classification rows, and where each billing line's enterprise is.

    Text stays in Arrow; the classes are also integer codes into ``class_names`` so rates
    and class filters are looked up per distinct class, not per line."""

    class_: pa.Array  # per classification row
    rule_id: pa.Array
    decided_by: np.ndarray  # object
    blocked: np.ndarray  # unclassified or conflict: the lines are faults
    class_codes: np.ndarray  # per classification row, into class_names; -1 = missing
    class_names: list[str]
    enterprise_ids: pa.Array
    at_line: np.ndarray  # per line: row in the arrays above, -1 = not classified

    @classmethod
    def of(cls, table: pd.DataFrame, ids: pa.Array, at_line: np.ndarray) -> _Verdicts:
        decided_by = table["decided_by"].to_numpy(dtype=object)
        codes, names = pd.factorize(table["class"])
        return cls(_text(table["class"]), _text(table["rule_id"]), decided_by,
                   table["decided_by"].isin(BLOCKING).to_numpy(dtype=bool),
                   codes.astype(np.int64), [str(name) for name in names], ids, at_line)

    def codes_in(self, classes: object) -> np.ndarray:
        """Per class code (plus a trailing slot for -1): is it one of ``classes``?"""
        wanted = set(classes)  # type: ignore[call-overload]
        return np.array([name in wanted for name in self.class_names] + [False])


@dataclass
class _Lines:
    """The columns of the lines that pricing reads, as numpy arrays, built once per call."""

    frame: pd.DataFrame
    utility: pa.Array
    enterprise_codes: np.ndarray  # per line: position in ``enterprises``
    enterprises: pa.Array  # distinct enterprise ids of the lines
    quantity: np.ndarray
    production: np.ndarray
    quota: np.ndarray
    quota_missing: np.ndarray
    base_price: np.ndarray
    base_price_missing: np.ndarray
    verdicts: dict[str, _Verdicts] = field(default_factory=dict)
    on_utility: dict[str, np.ndarray] = field(default_factory=dict)
    rulebook_rows: dict[str, np.ndarray] | None = None

    @classmethod
    def of(cls, lines: pd.DataFrame) -> _Lines:
        encoded = pc.dictionary_encode(_text(lines["enterprise_id"]))
        quota, quota_missing = _nullable(lines["quota_milli"])
        price, price_missing = _nullable(lines["base_price_micro"])
        return cls(lines, _text(lines["utility"]),
                   encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64),
                   encoded.dictionary, lines["quantity_milli"].to_numpy(dtype=np.int64),
                   lines["production_milli"].to_numpy(dtype=np.int64), quota, quota_missing,
                   price, price_missing)

    def lines_on(self, utility: str) -> np.ndarray:
        """Positions of the lines of one utility (asked once per component, computed once)."""
        if utility not in self.on_utility:
            mask = pc.fill_null(pc.equal(self.utility, utility), False)
            self.on_utility[utility] = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        return self.on_utility[utility]

    def verdicts_of(self, rulebook: str, classification: pd.DataFrame) -> _Verdicts:
        if self.rulebook_rows is None:
            codes, names = pd.factorize(classification["rulebook"])
            order = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
            self.rulebook_rows = {str(name): order[bounds[i]:bounds[i + 1]]
                                  for i, name in enumerate(names)}
        if rulebook not in self.verdicts:
            table = classification.iloc[self.rulebook_rows.get(rulebook, np.zeros(0, int))]
            ids = _text(table["enterprise_id"])
            at_enterprise = np.append(_positions(self.enterprises, ids), -1)
            self.verdicts[rulebook] = _Verdicts.of(table, ids,
                                                   at_enterprise[self.enterprise_codes])
        return self.verdicts[rulebook]


@dataclass
class _Base:
    """The lines a component looks at: positions, and the verdict each carries."""

    row: np.ndarray
    rulebook: str
    verdicts: _Verdicts | None = None  # None: a component without rulebook
    verdict: np.ndarray | None = None  # row in the rulebook's verdicts

    def take(self, keep: np.ndarray) -> _Base:
        return _Base(self.row[keep], self.rulebook, self.verdicts,
                     None if self.verdict is None else self.verdict[keep])

    def class_codes(self) -> np.ndarray:
        assert self.verdicts is not None and self.verdict is not None
        return self.verdicts.class_codes[self.verdict]

    def text(self, column: str) -> pd.arrays.ArrowStringArray:
        """``class`` or ``rule_id`` of each line ("" without a rulebook)."""
        if self.verdicts is None or self.verdict is None:
            return _constant("", len(self.row))
        values = self.verdicts.class_ if column == "class" else self.verdicts.rule_id
        return pd.arrays.ArrowStringArray(pc.take(values, pa.array(self.verdict)))


def price_lines(lines: pd.DataFrame, classification: pd.DataFrame,
                facts: dict[str, pd.DataFrame], components: list[InForce]) -> Priced:
    """Price clean lines (``pricing.billing.extract`` columns) with a positional ``row`` key.

    ``classification``: the classification table (``enterprise_id, rulebook, class, rule_id,
    decided_by``) after overrides; ``facts``: per rulebook, metrics by enterprise_id.
    """
    view = _Lines.of(lines.reset_index(drop=True))
    candidates, faults = [], []
    for item in components:
        comp = item.component
        on_utility = view.lines_on(comp.utility)
        if len(on_utility) == 0:
            continue
        if comp.rulebook is not None:
            base, fault = _attach_class(view, on_utility, classification, item)
            faults.append(fault)
            if comp.classes is not None:
                assert base.verdicts is not None
                base = base.take(base.verdicts.codes_in(comp.classes)[base.class_codes()])
        else:
            base = _Base(on_utility, "")
        if isinstance(comp, Flat):
            found = _flat(base, view, item)
        elif isinstance(comp, Stepped):
            found, fault = _stepped(base, view, facts.get(comp.rulebook or ""), item)
            faults.append(fault)
        elif isinstance(comp, OverQuota):
            found, fault = _over_quota(base, view, item)
            faults.append(fault)
        else:  # pragma: no cover - the model admits no other kind
            raise TypeError(comp)
        candidates.append(found)

    cand = _concat(candidates, CANDIDATE_COLUMNS)
    fault = _concat(faults, FAULT_COLUMNS)
    fault = fault.sort_values(["row", "order"], kind="stable").drop_duplicates("row")
    cand = cand[~np.isin(cand["row"].to_numpy(), fault["row"].to_numpy())]
    cand = cand.assign(amount_fen=amount_fen(cand["basis_milli"], cand["rate_nano"],
                                             cand["days"], cand["days_in_month"]))
    cand = _largest_in_group(cand)
    cand = cand[(cand["amount_fen"] > 0).to_numpy()]
    return Priced(cand.reset_index(drop=True), fault[["row", "reason_code", "detail"]]
                  .reset_index(drop=True))


def _attach_class(view: _Lines, on_utility: np.ndarray, classification: pd.DataFrame,
                  item: InForce) -> tuple[_Base, pd.DataFrame]:
    """Lines of enterprises the rulebook classified; unclassified and conflicts are faults."""
    rulebook = item.component.rulebook
    assert rulebook is not None
    verdicts = view.verdicts_of(rulebook, classification)
    at = verdicts.at_line[on_utility]
    known = at >= 0
    row, at = on_utility[known], at[known]
    blocked = verdicts.blocked[at]
    decided_by = verdicts.decided_by[at[blocked]]
    rule_text = pc.fill_null(pc.take(verdicts.rule_id, pa.array(at[blocked])), "")
    fault = pd.DataFrame({
        "row": row[blocked], "order": item.order, "reason_code": decided_by,
        "detail": np.where(
            decided_by.astype(object) == "conflict",
            f"rulebook {rulebook}: rules " + rule_text.to_numpy(zero_copy_only=False)
            .astype(object) + " all hold under hit policy unique",
            f"rulebook {rulebook}: data missing and on_missing is unclassified")})
    return _Base(row[~blocked], rulebook, verdicts, at[~blocked]), fault


def _basis(view: _Lines, base: _Base, item: InForce) -> np.ndarray:
    column = view.production if item.component.basis == "production" else view.quantity
    return column[base.row]


def _flat(base: _Base, view: _Lines, item: InForce) -> pd.DataFrame:
    comp = item.component
    assert isinstance(comp, Flat)
    rates = {cls: decimal_to_scaled(rate, NANO) for cls, rate in comp.rates.items()}
    assert base.verdicts is not None
    rate_of = np.array([rates.get(name, -1) for name in base.verdicts.class_names] + [-1],
                       dtype=np.int64)
    rate = rate_of[base.class_codes()]  # code -1 (missing class) picks the trailing -1
    has_rate = rate >= 0
    base = base.take(has_rate)
    return _candidates(base, _basis(view, base, item), rate[has_rate], item)


def _stepped(base: _Base, view: _Lines, facts: pd.DataFrame | None,
             item: InForce) -> tuple[pd.DataFrame, pd.DataFrame]:
    """DOMAIN: rate = increment × ceil((metric − threshold) / step), capped, then reduced."""
    comp = item.component
    assert isinstance(comp, Stepped)
    rate = np.zeros(len(base.row), dtype=np.int64)
    missing = np.ones(len(base.row), dtype=bool)
    if facts is not None and comp.metric in facts and len(base.row):
        by_enterprise = stepped_rates(comp, facts)
        verdict_ids = view.verdicts[comp.rulebook or ""].enterprise_ids
        at_fact = np.append(_positions(verdict_ids, _text(facts.index)), -1)
        values = np.append(by_enterprise.to_numpy(dtype=np.int64, na_value=0), 0)
        absent = np.append(by_enterprise.isna().to_numpy(dtype=bool), True)
        assert base.verdict is not None
        fact_row = at_fact[base.verdict]
        rate, missing = values[fact_row], absent[fact_row]
    fault = pd.DataFrame({
        "row": base.row[missing], "order": item.order, "reason_code": "missing_metric",
        "detail": f"component {comp.id}: metric {comp.metric} of rulebook {comp.rulebook} "
                  "is missing for this enterprise"})
    keep = ~missing & (rate > 0)
    base = base.take(keep)
    return _candidates(base, _basis(view, base, item), rate[keep], item), fault


def stepped_rates(comp: Stepped, facts: pd.DataFrame) -> pd.Series:
    """Rate in nano-yuan per enterprise (index enterprise_id); <NA> where the metric is missing.

    Reduction: ``rate × (1 − per_point × points above 'above')``, not below zero; the reduced
    rate is rounded half up to the nano-yuan. A missing reduction metric earns no reduction.
    """
    metric = facts[comp.metric].astype("Float64")
    excess = (metric - float(comp.threshold)).round(EXCESS_PRECISION)
    steps = np.ceil(excess.to_numpy(dtype="float64", na_value=np.nan) / float(comp.step)
                    - 1e-12)
    steps = np.where(np.isnan(steps), np.nan, np.clip(steps, 0, None))
    rate = pd.Series(steps, index=facts.index).astype("Int64") * \
        decimal_to_scaled(comp.increment, NANO)
    if comp.cap is not None:
        rate = rate.clip(upper=decimal_to_scaled(comp.cap, NANO))
    if comp.reduction is not None:
        red = comp.reduction
        points = (facts[red.metric].astype("Float64") - float(red.above)).round(6)
        points_micro = (points.clip(lower=0).fillna(0) * 1_000_000).round().astype("int64")
        per_point_micro = decimal_to_scaled(red.per_point, 6)
        # factor = 1 − per_point × points, in units of 1e-12; Python ints avoid overflow.
        factor = (10**12 - per_point_micro * points_micro.astype(object)).clip(lower=0)
        present = rate.notna()
        reduced = rate[present].astype(object) * factor[present]
        rate.loc[present] = ((reduced + 5 * 10**11) // 10**12).astype("int64")
    return rate


def _over_quota(base: _Base, view: _Lines, item: InForce) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One candidate per band reached; each band prices its own slice of the excess."""
    comp = item.component
    assert isinstance(comp, OverQuota)
    quota, quantity = view.quota[base.row], view.quantity[base.row]
    over = ~view.quota_missing[base.row] & (quantity > quota)
    base, quota, quantity = base.take(over), quota[over], quantity[over]
    missing = view.base_price_missing[base.row]
    fault = pd.DataFrame({
        "row": base.row[missing], "order": item.order, "reason_code": "missing_base_price",
        "detail": f"component {comp.id}: quantity exceeds the quota but base_price is empty"})
    base, quota, quantity = base.take(~missing), quota[~missing], quantity[~missing]
    price = view.base_price[base.row]
    excess = quantity - quota
    found = []
    lower = np.zeros(len(base.row), dtype=np.int64)
    for number, band in enumerate(comp.bands, start=1):
        if band.upto_pct is None:
            upper = excess
        else:
            pct_milli = decimal_to_scaled(band.upto_pct, 3)  # percent in 1e-3
            upper = (quota * pct_milli + 50_000) // 100_000  # half up to the milli-unit
        in_band = np.clip(np.minimum(excess, upper) - lower, 0, None)
        rate = price * decimal_to_scaled(band.multiple, 3)
        reached = in_band > 0
        found.append(_candidates(base.take(reached), in_band[reached], rate[reached], item,
                                 band=number))
        lower = upper
    return _concat(found, CANDIDATE_COLUMNS), fault


def _candidates(base: _Base, basis_milli: np.ndarray, rate_nano: np.ndarray,
                item: InForce, band: int | None = None) -> pd.DataFrame:
    comp = item.component
    rows = len(base.row)
    return pd.DataFrame({
        "row": base.row.astype(np.int64),
        "order": item.order,
        "component_id": _constant(comp.id, rows),
        "group": _constant(comp.group if comp.group is not None else "", rows),
        "band": _constant("" if band is None else str(band), rows),
        "rulebook": _constant(base.rulebook, rows),
        "class": base.text("class"),
        "rule_id": base.text("rule_id"),
        "basis_milli": np.asarray(basis_milli, dtype=np.int64),
        "rate_nano": np.asarray(rate_nano, dtype=np.int64),
        "days": item.days,
        "days_in_month": item.days_in_month,
    })


def _largest_in_group(cand: pd.DataFrame) -> pd.DataFrame:
    """Within a group, a line pays only its largest component (all its bands); ties: first."""
    grouped = cand["group"] != ""
    if not grouped.any():
        return cand
    totals = (cand[grouped].groupby(["row", "group", "order"], sort=False)["amount_fen"].sum()
              .reset_index()
              .sort_values(["row", "group", "amount_fen", "order"],
                           ascending=[True, True, False, True], kind="stable")
              .drop_duplicates(["row", "group"]))
    winners = pd.MultiIndex.from_frame(totals[["row", "order"]])
    keys = pd.MultiIndex.from_frame(cand.loc[grouped, ["row", "order"]])
    keep = grouped.copy()
    keep[grouped] = ~keys.isin(winners)
    return cand[~keep]


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("row", "order") else "object")
                             for c in columns})
    return pd.concat(frames, ignore_index=True)
