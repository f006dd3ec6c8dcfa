"""Price history under the baseline and a district proposal, and compare (SPEC "Proposals",
"Outputs of simulate").

Each month is priced twice on the same clean lines: once with the baseline catalog, once with
the merged proposal catalog. The two runs are then combined line by line: a line takes the
proposal's surcharges only when its enterprise's register district (for the month's assessment
year) lies in one of the proposal's districts, and the baseline's otherwise. Classes are
combined the same way. So nothing outside the districts can change, whatever the proposal says:
confinement is a property of the combination, not of the proposal text.

Amounts stay integer fen until they are formatted for the CSV files (design: "Numbers and
money"); deltas are ``proposal − base`` of those integers, so every total is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pricing.billing.batch import MonthResult, RunOptions, compute_month
from pricing.billing.extract import read_extracts
from pricing.billing.money import amount_fen, format_fixed, format_trimmed
from pricing.billing.outputs import RunDirectory, write_csv
from pricing.billing.register import read_register
from pricing.catalog import Catalog, load_catalog
from pricing.errors import InputError
from pricing.simulate.proposal import ProposalBundle, load_proposal

IMPACT_COLUMNS = ["period", "enterprise_id", "district", "industry_code", "rulebook",
                  "base_class", "proposal_class", "base_amount", "proposal_amount", "delta",
                  "quantity"]
SUMMARY_COLUMNS = ["period", "district", "rulebook", "class", "base", "proposal", "delta",
                   "enterprises_changed"]
TRANSITION_COLUMNS = ["year", "rulebook", "base_class", "proposal_class", "enterprises"]
CHANGE_COLUMNS = ["kind", "id", "field", "baseline", "proposal"]
PAIR = ["enterprise_id", "rulebook"]


@dataclass
class MonthComparison:
    """One period compared: ``impact`` with integer fen columns (``base_fen``,
    ``proposal_fen``, ``delta_fen``, ``quantity_milli``, ``base_bill_fen``); ``classes`` every
    classified enterprise × rulebook with both classes and ``inside``; reject counts."""

    period: str
    year: int
    impact: pd.DataFrame
    classes: pd.DataFrame
    rejected_base: int
    rejected_proposal: int


def simulate_proposal(*, register: Path, billing: list[Path], paths: list[Path],
                      overrides: Path | None, year: int | None, input_encoding: str | None,
                      proposal: Path, periods: list[str], encoding: str, out: Path) -> str:
    """``diffprice simulate``: write impact.csv, summary.csv, transitions.csv and report.html
    to ``out`` (atomically) and return a short revenue table for the terminal.

    Without ``--period``, every period found among the clean lines of the extracts is
    simulated (:func:`billing_periods`).
    """
    baseline = load_catalog(list(paths))
    bundle = load_proposal(baseline, Path(proposal))
    periods = sorted(set(periods)) or billing_periods(billing, input_encoding)
    places = read_register(Path(register), encoding=input_encoding).frame
    prefixes = district_prefixes(bundle.districts)
    months = []
    for period in periods:
        opts = RunOptions(period=period, register=Path(register), billing=list(billing),
                          catalog=baseline, overrides=overrides, year=year,
                          encoding=encoding, input_encoding=input_encoding)
        base = compute_month(opts, baseline)
        prop = compute_month(opts, bundle.catalog)
        where = enterprise_places(places, opts.assessment_year)
        months.append(compare_month(base, prop, where, prefixes, period,
                                    opts.assessment_year))
    impact = impact_table(months)
    summary = summary_table(months)
    transitions = transitions_table(months)
    write_outputs(out, encoding, impact, summary, transitions,
                  _report_data(bundle, baseline, periods, months, impact, summary, transitions))
    return render_text(bundle, months, out)


def billing_periods(billing: list[Path], encoding: str | None) -> list[str]:
    """Every ``YYYY-MM`` among the clean lines of the extracts, sorted.

    The extracts are read through the same reader as a run (encodings, Chinese headers,
    ``YYYYMM``), so the periods found are exactly those a run would accept; lines too broken
    to have a period are not a month to simulate.
    """
    clean = read_extracts(list(billing), period=None, encoding=encoding).clean
    found = sorted(pd.unique(clean["period"].dropna().astype(str)))
    if not found:
        raise InputError(", ".join(str(p) for p in billing), None, "period",
                         "no valid billing line, so no period to simulate")
    return found


def district_prefixes(districts: list[str]) -> tuple[str, ...]:
    """Division-code prefixes of the proposal districts.

    GB/T 2260 codes are province (2 digits), city (2), county (2); trailing ``00`` pairs stand
    for a whole city or province, so ``330200`` covers ``3302xx`` and ``330212`` only itself.
    """
    found = []
    for code in districts:
        prefix = code
        while len(prefix) > 2 and prefix.endswith("00"):
            prefix = prefix[:-2]
        found.append(prefix)
    return tuple(sorted(set(found)))


def enterprise_places(register: pd.DataFrame, year: int) -> pd.DataFrame:
    """``district, industry_code`` by enterprise_id for one assessment year (SPEC: the
    register has one row per enterprise per year; unregistered enterprises are absent)."""
    rows = register[register["year"] == year]
    return (rows.set_index("enterprise_id")[["district", "industry_code"]]
            .astype("string").fillna(""))


def inside_districts(district: pd.Series, prefixes: tuple[str, ...]) -> np.ndarray:
    """True where a district code starts with one of the prefixes; unknown → outside."""
    text = district.astype("string").fillna("")
    return text.str.startswith(prefixes).fillna(False).to_numpy(dtype=bool)


def compare_month(base: MonthResult | Any, prop: MonthResult | Any, places: pd.DataFrame,
                  prefixes: tuple[str, ...], period: str, year: int) -> MonthComparison:
    """Combine the two runs of one month (module docstring) into per-pair amounts.

    ``base`` and ``prop`` need ``lines``, ``classification.table`` and ``priced``
    (``surcharges`` with ``row`` into the lines, ``faults``); both priced the same lines.
    """
    lines = base.lines
    _check_same_lines(lines, prop.lines)
    district = places["district"].reindex(lines["enterprise_id"].to_numpy())
    inside_line = inside_districts(district, prefixes)
    base_cand = base.priced.surcharges
    prop_cand = prop.priced.surcharges
    combined = pd.concat([
        base_cand[~inside_line[base_cand["row"].to_numpy()]],
        prop_cand[inside_line[prop_cand["row"].to_numpy()]],
    ], ignore_index=True)
    amounts = pd.concat({"base_fen": _pair_amounts(base_cand, lines),
                         "proposal_fen": _pair_amounts(combined, lines)}, axis=1)
    amounts = amounts.fillna(0).astype("int64")
    classes = class_pairs(base.classification.table, prop.classification.table, places,
                          prefixes)
    impact = _impact_rows(lines, amounts, classes, places, period)
    faults_base = base.priced.faults["row"].to_numpy()
    faults_prop = np.concatenate([faults_base[~inside_line[faults_base]],
                                  _inside_rows(prop.priced.faults, inside_line)])
    return MonthComparison(period, year, impact, classes, len(faults_base), len(faults_prop))


def _inside_rows(faults: pd.DataFrame, inside_line: np.ndarray) -> np.ndarray:
    rows = faults["row"].to_numpy()
    return rows[inside_line[rows]]


def _check_same_lines(base: pd.DataFrame, prop: pd.DataFrame) -> None:
    """Both runs read the same extracts; positions must agree or nothing can be combined."""
    same = len(base) == len(prop) and (
        base[["utility", "account_id", "enterprise_id"]].to_numpy()
        == prop[["utility", "account_id", "enterprise_id"]].to_numpy()).all()
    if not same:
        raise RuntimeError("baseline and proposal runs priced different billing lines")


def _pair_amounts(cand: pd.DataFrame, lines: pd.DataFrame) -> pd.Series:
    """Sum of amount_fen by (enterprise_id, rulebook); rulebook "" for components without."""
    frame = pd.DataFrame({
        "enterprise_id": lines["enterprise_id"].to_numpy()[cand["row"].to_numpy()],
        "rulebook": cand["rulebook"].astype("string").fillna("").to_numpy(),
        "amount_fen": cand["amount_fen"].to_numpy(dtype="int64"),
    })
    return frame.groupby(PAIR, sort=True)["amount_fen"].sum()


def class_pairs(base_table: pd.DataFrame, prop_table: pd.DataFrame, places: pd.DataFrame,
                prefixes: tuple[str, ...]) -> pd.DataFrame:
    """Every enterprise × rulebook classified by either run: ``base_class``, ``proposal_class``
    (the proposal's inside the districts, the baseline's outside; "" = not classified) and
    ``inside``. A conflict or unclassified verdict has no class, hence ""."""
    base = base_table.set_index(PAIR)["class"].astype("string")
    prop = prop_table.set_index(PAIR)["class"].astype("string")
    pairs = pd.concat({"base_class": base, "prop_class": prop}, axis=1).fillna("")
    pairs = pairs.reset_index()
    district = places["district"].reindex(pairs["enterprise_id"].to_numpy())
    inside = inside_districts(district, prefixes)
    pairs["proposal_class"] = np.where(inside, pairs["prop_class"], pairs["base_class"])
    pairs["inside"] = inside
    return pairs[[*PAIR, "base_class", "proposal_class", "inside"]]


def _impact_rows(lines: pd.DataFrame, amounts: pd.DataFrame, classes: pd.DataFrame,
                 places: pd.DataFrame, period: str) -> pd.DataFrame:
    """Pairs of the enterprises billed this month, plus any pair that owes something."""
    billed = pd.unique(lines["enterprise_id"].astype(str))
    keyed = classes[classes["enterprise_id"].isin(billed)].set_index(PAIR)
    index = keyed.index.union(amounts.index)
    frame = pd.concat([keyed[["base_class", "proposal_class"]].reindex(index).fillna(""),
                       amounts.reindex(index).fillna(0).astype("int64")], axis=1)
    frame = frame.reset_index()
    frame["delta_fen"] = frame["proposal_fen"] - frame["base_fen"]
    where = places.reindex(frame["enterprise_id"].to_numpy())
    frame["district"] = where["district"].fillna("").to_numpy()
    frame["industry_code"] = where["industry_code"].fillna("").to_numpy()
    frame["period"] = period
    usage = _billed_usage(lines).reindex(frame["enterprise_id"].to_numpy())
    frame["quantity_milli"] = usage["quantity_milli"].fillna(0).astype("int64").to_numpy()
    frame["base_bill_fen"] = usage["base_bill_fen"].to_numpy()
    return frame.sort_values(PAIR, kind="stable").reset_index(drop=True)


def _billed_usage(lines: pd.DataFrame) -> pd.DataFrame:
    """Per enterprise: billed kWh (milli) and the base electricity bill in fen, exact
    (``quantity × base_price``, rounded per line like a surcharge); <NA> bill when some line
    has no base price."""
    power = lines[lines["utility"] == "electricity"]
    price = power["base_price_micro"]
    known = price.notna().to_numpy()
    bill = pd.Series(pd.NA, index=power.index, dtype="Int64")
    if known.any():
        ones = pd.Series(1, index=power.index[known], dtype="int64")
        fen = amount_fen(power["quantity_milli"][known].astype("int64"),
                         price[known].astype("int64") * 1000, ones, ones)
        bill.loc[power.index[known]] = fen.to_numpy()
    frame = pd.DataFrame({"enterprise_id": power["enterprise_id"].astype(str).to_numpy(),
                          "quantity_milli": power["quantity_milli"].astype("int64").to_numpy(),
                          "base_bill_fen": bill.to_numpy()})
    grouped = frame.groupby("enterprise_id", sort=True)
    return pd.DataFrame({"quantity_milli": grouped["quantity_milli"].sum(),
                         "base_bill_fen": grouped["base_bill_fen"].sum(min_count=1)
                         .where(grouped["base_bill_fen"].count() == grouped.size())})


def impact_table(months: list[MonthComparison]) -> pd.DataFrame:
    """SPEC impact.csv: amounts as ``123.40``; ``quantity`` = billed kWh that month."""
    frame = _all_impact(months)
    table = frame[["period", "enterprise_id", "district", "industry_code", "rulebook",
                   "base_class", "proposal_class"]].astype("string")
    table["base_amount"] = format_fixed(frame["base_fen"], 2)
    table["proposal_amount"] = format_fixed(frame["proposal_fen"], 2)
    table["delta"] = format_fixed(frame["delta_fen"], 2)
    table["quantity"] = format_trimmed(frame["quantity_milli"], 3)
    return table[IMPACT_COLUMNS]


def _all_impact(months: list[MonthComparison]) -> pd.DataFrame:
    frames = [m.impact for m in months if len(m.impact)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c.endswith(("_fen", "_milli"))
                                          else "string")
                             for c in ["period", *PAIR, "district", "industry_code",
                                       "base_class", "proposal_class", "base_fen",
                                       "proposal_fen", "delta_fen", "quantity_milli",
                                       "base_bill_fen"]})
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values(["period", *PAIR], kind="stable").reset_index(drop=True)


def summary_table(months: list[MonthComparison]) -> pd.DataFrame:
    """SPEC summary.csv by period, district, rulebook and the *proposal* class; an enterprise
    is changed when its amount or its class differs."""
    frame = _all_impact(months)
    keys = ["period", "district", "rulebook", "proposal_class"]
    changed = (frame["delta_fen"] != 0) | (frame["base_class"] != frame["proposal_class"])
    frame = frame.assign(changed_id=frame["enterprise_id"].where(changed))
    grouped = frame.groupby(keys, sort=True)
    summary = pd.DataFrame({
        "base_fen": grouped["base_fen"].sum(),
        "proposal_fen": grouped["proposal_fen"].sum(),
        "delta_fen": grouped["delta_fen"].sum(),
        "enterprises_changed": grouped["changed_id"].nunique(),
    }).reset_index().rename(columns={"proposal_class": "class"})
    table = summary[["period", "district", "rulebook", "class"]].astype("string")
    table["base"] = format_fixed(summary["base_fen"], 2)
    table["proposal"] = format_fixed(summary["proposal_fen"], 2)
    table["delta"] = format_fixed(summary["delta_fen"], 2)
    table["enterprises_changed"] = summary["enterprises_changed"].astype("int64").astype(str)
    return table[SUMMARY_COLUMNS]


def transitions_table(months: list[MonthComparison]) -> pd.DataFrame:
    """SPEC transitions.csv: class → class counts of the enterprises inside the proposal
    districts (outside them nothing can change), per assessment year, taken from the latest
    simulated period of that year (overrides are monthly)."""
    latest: dict[int, MonthComparison] = {}
    for month in months:
        if month.year not in latest or month.period > latest[month.year].period:
            latest[month.year] = month
    frames = [m.classes[m.classes["inside"]].assign(year=str(y))
              for y, m in sorted(latest.items())]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in TRANSITION_COLUMNS})
    pairs = pd.concat(frames, ignore_index=True)
    counts = (pairs.groupby(["year", "rulebook", "base_class", "proposal_class"], sort=True)
              .size().rename("enterprises").reset_index())
    counts["enterprises"] = counts["enterprises"].astype(str)
    return counts[TRANSITION_COLUMNS].astype("string")


def write_outputs(out: Path, encoding: str, impact: pd.DataFrame, summary: pd.DataFrame,
                  transitions: pd.DataFrame, report: Any) -> None:
    """All four files or none (SPEC: run directories are written atomically)."""
    from pricing.simulate.report import render_report

    page = render_report(report)
    with RunDirectory(Path(out)) as run_dir:
        write_csv(impact, run_dir.path("impact.csv"), encoding)
        write_csv(summary, run_dir.path("summary.csv"), encoding)
        write_csv(transitions, run_dir.path("transitions.csv"), encoding)
        run_dir.path("report.html").write_bytes(page.encode("utf-8"))


def _report_data(bundle: ProposalBundle, baseline: Catalog, periods: list[str],
                 months: list[MonthComparison], impact: pd.DataFrame, summary: pd.DataFrame,
                 transitions: pd.DataFrame) -> Any:
    """The report shows the latest assessment year's transitions (enterprises, not
    enterprise-years)."""
    from pricing.simulate.report import ReportData

    frame = _all_impact(months)
    with_bill = impact.assign(base_bill=format_fixed(frame["base_bill_fen"], 2).fillna(""))
    latest = transitions[transitions["year"] == transitions["year"].max()] \
        if len(transitions) else transitions
    classes = {rb_id: list(rb.classes) for rb_id, rb in baseline.rulebooks.items()}
    classes.update({rb_id: list(rb.classes) for rb_id, rb in bundle.catalog.rulebooks.items()})
    return ReportData(
        proposal_id=bundle.proposal.id, title=bundle.proposal.title,
        districts=bundle.districts, periods=list(periods), impact=with_bill,
        summary=summary, transitions=latest.drop(columns="year").reset_index(drop=True),
        changes=pd.DataFrame(list(bundle.changes), columns=CHANGE_COLUMNS),
        classes=classes)


def render_text(bundle: ProposalBundle | Any, months: list[MonthComparison], out: Path) -> str:
    """The terminal summary: revenue per period under both, who pays more or less."""
    rows = [("period", "base (yuan)", "proposal (yuan)", "delta (yuan)", "paying more",
             "paying less")]
    for month in months:
        rows.append(_text_row(month.period, month.impact))
    if len(months) > 1:
        rows.append(_text_row("total", _all_impact(months)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
             for row in rows]
    head = (f"proposal {bundle.proposal.id}: districts {', '.join(bundle.districts)}; "
            f"{len(months)} period(s)")
    notes = [f"{m.period}: rejected lines {m.rejected_base} under the baseline, "
             f"{m.rejected_proposal} under the proposal"
             for m in months if m.rejected_base != m.rejected_proposal]
    where = f"written to {out}: impact.csv, summary.csv, transitions.csv, report.html"
    return "\n".join([head, *table, *notes, where])


def _text_row(label: str, impact: pd.DataFrame) -> tuple[str, ...]:
    per_enterprise = impact.groupby("enterprise_id")["delta_fen"].sum()
    totals = pd.Series([int(impact["base_fen"].sum()), int(impact["proposal_fen"].sum()),
                        int(impact["delta_fen"].sum())], dtype="int64")
    text = format_fixed(totals, 2).tolist()
    return (label, *text, str(int((per_enterprise > 0).sum())),
            str(int((per_enterprise < 0).sum())))
