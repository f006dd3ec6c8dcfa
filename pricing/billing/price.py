"""Price billing lines: a pure function of (lines, classification, components in force).

SPEC "Tariffs" and "Outputs of run". Every candidate surcharge is computed vectorized per
component; a line with any fault is rejected whole (none of its components is priced); among
components sharing a ``group`` only the largest amount of a line applies (DOMAIN: Hebei, no
stacking; ties go to the component listed first). The same function prices a whole month or one
partition of it, so a distributed run gives the same lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from pricing.billing.components import InForce
from pricing.billing.money import amount_fen, decimal_to_scaled
from pricing.spec.tariff import Flat, OverQuota, Stepped

NANO = 9
EXCESS_PRECISION = 6  # metric − threshold is rounded here so float noise cannot add a step

CANDIDATE_COLUMNS = ["row", "order", "component_id", "group", "band", "rulebook", "class",
                     "rule_id", "basis_milli", "rate_nano", "days", "days_in_month"]
FAULT_COLUMNS = ["row", "order", "reason_code", "detail"]


@dataclass
class Priced:
    """Surcharge candidates that survived, and the lines rejected while pricing."""

    surcharges: pd.DataFrame  # CANDIDATE_COLUMNS + amount_fen; `row` points into the lines
    faults: pd.DataFrame  # one row per rejected line: row, reason_code, detail


def price_lines(lines: pd.DataFrame, classification: pd.DataFrame,
                facts: dict[str, pd.DataFrame], components: list[InForce]) -> Priced:
    """Price clean lines (``pricing.billing.extract`` columns) with a positional ``row`` key.

    ``classification``: the classification table (``enterprise_id, rulebook, class, rule_id,
    decided_by``) after overrides; ``facts``: per rulebook, metrics by enterprise_id.
    """
    lines = lines.reset_index(drop=True)
    candidates, faults = [], []
    for item in components:
        comp = item.component
        on_utility = lines.index[(lines["utility"] == comp.utility).to_numpy()]
        if len(on_utility) == 0:
            continue
        subset = lines.loc[on_utility]
        base = pd.DataFrame({"row": on_utility.to_numpy()}, index=subset.index)
        if comp.rulebook is not None:
            base, fault = _attach_class(base, subset, classification, item)
            faults.append(fault)
            if comp.classes is not None:
                base = base[base["class"].isin(comp.classes)]
        else:
            base = base.assign(rulebook="", **{"class": ""}, rule_id="")
        if isinstance(comp, Flat):
            found = _flat(base, subset, item)
        elif isinstance(comp, Stepped):
            found, fault = _stepped(base, subset, facts.get(comp.rulebook or ""), item)
            faults.append(fault)
        elif isinstance(comp, OverQuota):
            found, fault = _over_quota(base, subset, item)
            faults.append(fault)
        else:  # pragma: no cover - the model admits no other kind
            raise TypeError(comp)
        candidates.append(found)

    cand = _concat(candidates, CANDIDATE_COLUMNS)
    fault = _concat(faults, FAULT_COLUMNS)
    fault = fault.sort_values(["row", "order"], kind="stable").drop_duplicates("row")
    cand = cand[~cand["row"].isin(fault["row"])]
    cand = cand.assign(amount_fen=amount_fen(cand["basis_milli"], cand["rate_nano"],
                                             cand["days"], cand["days_in_month"]))
    cand = _largest_in_group(cand)
    cand = cand[cand["amount_fen"] > 0]
    return Priced(cand.reset_index(drop=True), fault[["row", "reason_code", "detail"]]
                  .reset_index(drop=True))


def _attach_class(base: pd.DataFrame, subset: pd.DataFrame, classification: pd.DataFrame,
                  item: InForce) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lines of enterprises the rulebook classified; unclassified and conflicts are faults."""
    rulebook = item.component.rulebook
    table = classification[classification["rulebook"] == rulebook].set_index("enterprise_id")
    ent = subset["enterprise_id"]
    known = ent.isin(table.index)
    base = base[known.to_numpy()]
    ent = ent[known]
    row = table.loc[ent.to_numpy()]
    base = base.assign(rulebook=rulebook, **{"class": row["class"].to_numpy()},
                       rule_id=row["rule_id"].to_numpy(), decided_by=row["decided_by"].to_numpy())
    blocked = base["decided_by"].isin(["unclassified", "conflict"])
    fault = base.loc[blocked, ["row"]].assign(
        order=item.order, reason_code=base.loc[blocked, "decided_by"],
        detail=f"rulebook {rulebook}: enterprise is " + base.loc[blocked, "decided_by"]
        + " (" + base.loc[blocked, "rule_id"].fillna("") + ")")
    return base[~blocked].drop(columns="decided_by"), fault


def _basis(subset: pd.DataFrame, base: pd.DataFrame, item: InForce) -> pd.Series:
    column = "production_milli" if item.component.basis == "production" else "quantity_milli"
    return subset.loc[base.index, column]


def _flat(base: pd.DataFrame, subset: pd.DataFrame, item: InForce) -> pd.DataFrame:
    comp = item.component
    assert isinstance(comp, Flat)
    rates = {cls: decimal_to_scaled(rate, NANO) for cls, rate in comp.rates.items()}
    rate = base["class"].map(rates)
    base = base[rate.notna()]
    return _candidates(base, _basis(subset, base, item), rate[rate.notna()], item)


def _stepped(base: pd.DataFrame, subset: pd.DataFrame, facts: pd.DataFrame | None,
             item: InForce) -> tuple[pd.DataFrame, pd.DataFrame]:
    """DOMAIN: rate = increment × ceil((metric − threshold) / step), capped, then reduced."""
    comp = item.component
    assert isinstance(comp, Stepped)
    if facts is None or comp.metric not in facts:
        rate = pd.Series(pd.NA, index=base.index, dtype="Int64")
    else:
        rate = subset.loc[base.index, "enterprise_id"].map(stepped_rates(comp, facts))
    missing = rate.isna()
    fault = base.loc[missing, ["row"]].assign(
        order=item.order, reason_code="missing_metric",
        detail=f"component {comp.id}: metric {comp.metric} of rulebook {comp.rulebook} "
               "is missing for this enterprise")
    rate = rate[~missing].astype("int64")
    base = base[~missing]
    keep = rate > 0
    base, rate = base[keep.to_numpy()], rate[keep]
    return _candidates(base, _basis(subset, base, item), rate, item), fault


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


def _over_quota(base: pd.DataFrame, subset: pd.DataFrame,
                item: InForce) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One candidate per band reached; each band prices its own slice of the excess."""
    comp = item.component
    assert isinstance(comp, OverQuota)
    quota = subset.loc[base.index, "quota_milli"]
    quantity = subset.loc[base.index, "quantity_milli"]
    over = (quota.notna() & (quantity > quota)).fillna(False).astype(bool)
    base, quota, quantity = base[over], quota[over].astype("int64"), quantity[over]
    price = subset.loc[base.index, "base_price_micro"]
    missing = price.isna()
    fault = base.loc[missing, ["row"]].assign(
        order=item.order, reason_code="missing_base_price",
        detail=f"component {comp.id}: quantity exceeds the quota but base_price is empty")
    base, quota, quantity, price = (base[~missing], quota[~missing], quantity[~missing],
                                    price[~missing].astype("int64"))
    excess = quantity - quota
    found = []
    lower = pd.Series(0, index=base.index, dtype="int64")
    for number, band in enumerate(comp.bands, start=1):
        if band.upto_pct is None:
            upper = excess
        else:
            pct_milli = decimal_to_scaled(band.upto_pct, 3)  # percent in 1e-3
            upper = (quota * pct_milli + 50_000) // 100_000  # half up to the milli-unit
        in_band = (excess.clip(upper=upper) - lower).clip(lower=0)
        rate = price * decimal_to_scaled(band.multiple, 3)
        reached = in_band > 0
        found.append(_candidates(base[reached], in_band[reached], rate[reached], item,
                                 band=number))
        lower = upper
    return _concat(found, CANDIDATE_COLUMNS), fault


def _candidates(base: pd.DataFrame, basis_milli: pd.Series, rate_nano: pd.Series,
                item: InForce, band: int | None = None) -> pd.DataFrame:
    comp = item.component
    return pd.DataFrame({
        "row": base["row"].to_numpy(),
        "order": item.order,
        "component_id": comp.id,
        "group": comp.group if comp.group is not None else "",
        "band": "" if band is None else str(band),
        "rulebook": base["rulebook"].to_numpy(),
        "class": base["class"].to_numpy(),
        "rule_id": base["rule_id"].to_numpy(),
        "basis_milli": basis_milli.to_numpy(dtype="int64"),
        "rate_nano": rate_nano.to_numpy(dtype="int64"),
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


def rate_text(value: Decimal) -> str:
    """A tariff constant as shown in reports (no exponent, no trailing zeros)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
