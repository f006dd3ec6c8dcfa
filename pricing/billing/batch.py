"""The monthly batch (SPEC "diffprice run"): classify, price, write an auditable run directory.

Flow: policy → register → classification (+ overrides) → extract → price → outputs. Every
billing line ends in exactly one place: priced, unpriced (owes nothing) or rejected, and the
manifest proves it (``billing_rows == priced_rows + unpriced_rows + rejected_rows``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pricing import __version__
from pricing.billing.components import in_force, month_bounds
from pricing.billing.extract import read_extracts
from pricing.billing.money import format_fixed, format_trimmed
from pricing.billing.outputs import RunDirectory, run_id, sha256_file, write_csv, write_manifest
from pricing.billing.overrides import read_overrides
from pricing.billing.price import Priced, price_lines
from pricing.billing.register import read_register
from pricing.catalog import Catalog
from pricing.classify.table import Classification, apply_overrides, classify
from pricing.errors import InputError, RejectRateExceeded, raise_if_any
from pricing.spec.tariff import UNITS

SURCHARGE_COLUMNS = ["period", "utility", "account_id", "enterprise_id", "district",
                     "industry_code", "rulebook", "class", "rule_id", "component_id", "band",
                     "basis_quantity", "unit", "rate", "proration", "amount"]
RAW_COLUMNS = ["utility", "account_id", "enterprise_id", "period", "quantity",
               "production_quantity", "quota", "base_price"]
REJECT_COLUMNS = ["source", "line", "reason_code", "detail", *RAW_COLUMNS]
SUMMARY_COLUMNS = ["utility", "district", "rulebook", "class", "enterprises", "accounts",
                   "quantity", "amount"]
ENCODINGS = {"utf-8-sig": "utf-8-sig", "utf-8": "utf-8", "gb18030": "gb18030"}


@dataclass
class RunOptions:
    period: str
    register: Path
    billing: list[Path]
    catalog: Catalog
    overrides: Path | None = None
    year: int | None = None
    max_reject_rate: float = 0.05
    encoding: str = "utf-8-sig"
    input_encoding: str | None = None
    engine: str = "vectorized"
    cluster: str | None = None

    @property
    def assessment_year(self) -> int:
        """SPEC: the previous calendar year unless ``--year`` says."""
        return self.year if self.year is not None else int(self.period[:4]) - 1


@dataclass
class MonthResult:
    """Everything a run computes before writing; also what ``simulate`` compares."""

    classification: Classification
    lines: pd.DataFrame
    priced: Priced
    rejects: pd.DataFrame
    billing_rows: int
    inputs: list[dict] = field(default_factory=list)
    enterprises: pd.DataFrame | None = None  # district, industry_code by enterprise_id


def compute_month(opts: RunOptions, catalog: Catalog | None = None) -> MonthResult:
    """Classify and price one month in memory (no files written)."""
    catalog = catalog or opts.catalog
    register = read_register(opts.register, encoding=opts.input_encoding)
    first, last = month_bounds(opts.period)
    compiled = catalog.active(str(first), str(last))
    classification = classify(compiled, register.frame, opts.assessment_year,
                              engine=opts.engine, source=str(opts.register))
    inputs = [_input("register", opts.register, register.sha256, register.rows)]
    if opts.overrides is not None:
        overrides = read_overrides(opts.overrides, encoding=opts.input_encoding)
        _check_overrides(overrides, catalog, str(opts.overrides))
        classification.table = apply_overrides(classification.table, overrides, opts.period)
        inputs.append(_input("overrides", opts.overrides, sha256_file(opts.overrides),
                             len(overrides)))
    extract = read_extracts(opts.billing, period=opts.period, encoding=opts.input_encoding)
    for path, sha, rows in extract.inputs:
        inputs.append(_input("billing", Path(path), sha, rows))
    lines = extract.clean.reset_index(drop=True)
    components = in_force(catalog.tariffs, opts.period)
    if opts.cluster:
        from pricing.billing.distributed import price_on_cluster

        priced = price_on_cluster(opts.cluster, lines, classification.table,
                                  classification.facts, components)
    else:
        priced = price_lines(lines, classification.table, classification.facts, components)
    rejects = _all_rejects(extract.rejects, lines, priced)
    billing_rows = len(extract.clean) + len(extract.rejects)
    year_rows = register.frame[register.frame["year"] == opts.assessment_year]
    enterprises = (year_rows.drop_duplicates("enterprise_id").set_index("enterprise_id")
                   [["district", "industry_code"]])
    return MonthResult(classification, lines, priced, rejects, billing_rows, inputs,
                       enterprises)


def run_month(opts: RunOptions, out: Path) -> dict:
    """The whole ``diffprice run``: returns the manifest that was written."""
    month = compute_month(opts)
    counts = _counts(month)
    rate = counts["rejected_rows"] / counts["billing_rows"] if counts["billing_rows"] else 0.0
    failed = rate > opts.max_reject_rate
    encoding = ENCODINGS[opts.encoding]
    outputs = []
    with RunDirectory(out) as run_dir:
        sha, rows = write_csv(month.rejects[REJECT_COLUMNS], run_dir.path("rejects.csv"), encoding)
        outputs.append({"name": "rejects.csv", "sha256": sha, "rows": rows})
        if not failed:
            surcharges = surcharge_table(month)
            for name, frame in (("surcharges.csv", surcharges[SURCHARGE_COLUMNS]),
                                ("classification.csv", month.classification.table),
                                ("summary.csv", summary_table(surcharges))):
                sha, rows = write_csv(frame, run_dir.path(name), encoding)
                outputs.append({"name": name, "sha256": sha, "rows": rows})
        manifest = _manifest(opts, month, counts, outputs, "failed" if failed else "ok")
        write_manifest(run_dir.path("manifest.json"), manifest)
    if failed:
        raise RejectRateExceeded(
            f"{counts['rejected_rows']} of {counts['billing_rows']} billing lines rejected "
            f"({rate:.1%}), more than --max-reject-rate {opts.max_reject_rate:.1%}; only "
            f"rejects.csv and manifest.json were written to {out}")
    return manifest


def surcharge_table(month: MonthResult) -> pd.DataFrame:
    """SPEC surcharges.csv: one row per line × component (× band), sorted, amounts formatted."""
    cand = month.priced.surcharges
    lines = month.lines.iloc[cand["row"].to_numpy()].reset_index(drop=True)
    where = month.enterprises.reindex(lines["enterprise_id"].to_numpy())
    table = pd.DataFrame({
        "period": lines["period"].to_numpy(),
        "utility": lines["utility"].to_numpy(),
        "account_id": lines["account_id"].to_numpy(),
        "enterprise_id": lines["enterprise_id"].to_numpy(),
        "district": where["district"].fillna("").to_numpy(),
        "industry_code": where["industry_code"].fillna("").to_numpy(),
        "rulebook": cand["rulebook"].to_numpy(),
        "class": cand["class"].to_numpy(),
        "rule_id": cand["rule_id"].fillna("").to_numpy(),
        "component_id": cand["component_id"].to_numpy(),
        "band": cand["band"].to_numpy(),
        "basis_quantity": format_trimmed(cand["basis_milli"], 3).to_numpy(),
        "unit": lines["utility"].map(UNITS).to_numpy(),
        "rate": format_trimmed(cand["rate_nano"], 9).to_numpy(),
        "proration": _proration(cand).to_numpy(),
        "amount": format_fixed(cand["amount_fen"], 2).to_numpy(),
        "_fen": cand["amount_fen"].to_numpy(),
        "_order": cand["order"].to_numpy(),
        "_row": cand["row"].to_numpy(),
        "_qty": lines["quantity_milli"].to_numpy(),
    })
    table = table.sort_values(["period", "utility", "account_id", "component_id", "band",
                               "_order"], kind="stable").reset_index(drop=True)
    return table


def summary_table(surcharges: pd.DataFrame) -> pd.DataFrame:
    """SPEC summary.csv: by utility, district, rulebook, class."""
    keys = ["utility", "district", "rulebook", "class"]
    if surcharges.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    data = surcharges
    groups = data.groupby(keys, sort=True)
    one_per_line = data.drop_duplicates(keys + ["_row"])
    quantity = one_per_line.groupby(keys, sort=True)["_qty"].sum()
    summary = pd.DataFrame({
        "enterprises": groups["enterprise_id"].nunique(),
        "accounts": groups["account_id"].nunique(),
        "quantity_milli": quantity,
        "amount_fen": groups["_fen"].sum(),
    }).reset_index()
    summary["quantity"] = format_trimmed(summary["quantity_milli"], 3)
    summary["amount"] = format_fixed(summary["amount_fen"], 2)
    summary["enterprises"] = summary["enterprises"].astype(str)
    summary["accounts"] = summary["accounts"].astype(str)
    return summary[SUMMARY_COLUMNS]


def _proration(cand: pd.DataFrame) -> pd.Series:
    whole = cand["days"] == cand["days_in_month"]
    text = cand["days"].astype(str) + "/" + cand["days_in_month"].astype(str)
    return text.where(~whole, "1")


def _all_rejects(extract_rejects: pd.DataFrame, lines: pd.DataFrame,
                 priced: Priced) -> pd.DataFrame:
    faults = priced.faults
    found = lines.iloc[faults["row"].to_numpy()]
    pricing_rejects = pd.DataFrame({
        "source": found["source"].to_numpy(),
        "line": found["line"].to_numpy(),
        "reason_code": faults["reason_code"].to_numpy(),
        "detail": faults["detail"].to_numpy(),
        **{col: found[f"raw_{col}"].to_numpy() for col in RAW_COLUMNS},
    })
    rejects = pd.concat([extract_rejects[REJECT_COLUMNS], pricing_rejects], ignore_index=True)
    order = {name: i for i, name in enumerate(pd.unique(pd.concat(
        [lines["source"], extract_rejects["source"]], ignore_index=True)))}
    rejects = rejects.assign(_source=rejects["source"].map(order),
                             _line=rejects["line"].astype("int64"))
    rejects = rejects.sort_values(["_source", "_line"], kind="stable")
    rejects["line"] = rejects["_line"].astype(str)
    return rejects[REJECT_COLUMNS].fillna("").reset_index(drop=True)


def _counts(month: MonthResult) -> dict[str, int]:
    cand = month.priced.surcharges
    priced_rows = int(cand["row"].nunique())
    rejected = len(month.rejects)
    return {
        "billing_rows": month.billing_rows,
        "priced_rows": priced_rows,
        "unpriced_rows": month.billing_rows - priced_rows - rejected,
        "rejected_rows": rejected,
        "surcharge_lines": len(cand),
    }


def _totals(month: MonthResult) -> dict[str, str]:
    cand = month.priced.surcharges
    utility = month.lines["utility"].to_numpy()[cand["row"].to_numpy()]
    totals = {}
    for name in ("electricity", "water"):
        fen = int(cand["amount_fen"][utility == name].sum())
        totals[name] = format_fixed(pd.Series([fen]), 2).iloc[0]
    return totals


def _input(role: str, path: Path, sha: str, rows: int) -> dict:
    return {"role": role, "name": Path(path).name, "sha256": sha, "rows": int(rows)}


def _manifest(opts: RunOptions, month: MonthResult, counts: dict, outputs: list[dict],
              status: str) -> dict:
    policy = [{"name": str(p), "sha256": sha256_file(p)} for p in opts.catalog.files]
    options = {"period": opts.period, "year": opts.assessment_year,
               "max_reject_rate": str(opts.max_reject_rate), "encoding": opts.encoding}
    parts = [f"{i['role']}:{i['name']}:{i['sha256']}" for i in month.inputs]
    parts += [f"policy:{p['name']}:{p['sha256']}" for p in policy]
    parts += [f"{k}={v}" for k, v in sorted(options.items())]
    return {
        "run_id": run_id(parts),
        "period": opts.period,
        "assessment_year": opts.assessment_year,
        "software": {"name": "diffprice", "version": __version__},
        "options": options,
        "inputs": month.inputs,
        "policy": policy,
        "outputs": outputs,
        "counts": counts,
        "totals": _totals(month),
        "status": status,
    }


def _check_overrides(overrides: pd.DataFrame, catalog: Catalog, source: str) -> None:
    errors = []
    for row in overrides.to_dict("records"):
        rb = catalog.rulebooks.get(row["rulebook"])
        if rb is None:
            errors.append(InputError(source, int(row["line"]), "rulebook",
                                     f"unknown rulebook '{row['rulebook']}', expected one of "
                                     f"{sorted(catalog.rulebooks)}"))
        elif row["class"] not in rb.classes:
            errors.append(InputError(source, int(row["line"]), "class",
                                     f"unknown class '{row['class']}' of rulebook {rb.id}, "
                                     f"expected one of {rb.classes}"))
    raise_if_any(errors)
