"""Reading utility billing extracts into clean lines and rejects (SPEC "Billing extract").

Every data row read ends up in exactly one of ``Extract.clean`` or ``Extract.rejects``: nothing
is dropped silently (SPEC: "every billing line not priced for a fault"). Validation is
vectorized over all files at once, because duplicates and account conflicts cross files.

Fault order, when a line has several: the field formats in column order (``unknown_utility``,
``missing_account``, ``bad_enterprise_id``, ``wrong_period``, ``bad_number`` for quantity,
production_quantity, quota, base_price), then ``production_exceeds_total``, then
``duplicate_line``, then ``account_conflict``.

- ``duplicate_line``: every line whose ``(utility, account_id, period)`` key occurs more than
  once, counting every line whose key fields are readable, even one rejected for another fault:
  when a utility sends two lines for one key, pricing the surviving one would be a guess.
- ``account_conflict``: SPEC "one account belongs to one enterprise". An account
  ``(utility, account_id)`` seen with two or more valid enterprise ids, in any month of the
  run, has all its lines rejected: charging either enterprise would be a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pricing.billing.creditcode import valid_credit_code
from pricing.billing.encoding import canonical_columns, read_csv_strings, require_columns
from pricing.billing.money import parse_scaled
from pricing.errors import InputError

COLUMNS = ("utility", "account_id", "enterprise_id", "period", "quantity",
           "production_quantity", "quota", "base_price")
REQUIRED = ("utility", "account_id", "enterprise_id", "period", "quantity")
HEADER_ALIASES: dict[str, str] = {
    "类别": "utility",
    "户号": "account_id",
    "统一社会信用代码": "enterprise_id",
    "计费月份": "period",
    "用量": "quantity",
    "生产用量": "production_quantity",
    "定额": "quota",
    "基础单价": "base_price",
}
UTILITY_VALUES: dict[str, str] = {
    "electricity": "electricity", "water": "water", "电": "electricity", "水": "water"}
QUANTITY_SCALE = 3  # milli-units (design: "Numbers and money")
PRICE_SCALE = 6  # micro-yuan
REJECT_COLUMNS = ("source", "line", "reason_code", "detail") + COLUMNS
_NUMBERS = (("quantity", QUANTITY_SCALE), ("production_quantity", QUANTITY_SCALE),
            ("quota", QUANTITY_SCALE), ("base_price", PRICE_SCALE))
_PERIOD_DASHED = r"[0-9]{4}-(0[1-9]|1[0-2])"
_PERIOD_COMPACT = r"[0-9]{4}(0[1-9]|1[0-2])"


@dataclass(frozen=True)
class Extract:
    """``clean`` lines ready to price, ``rejects`` with reasons, and ``inputs`` as
    ``(path, sha256 of the bytes, data rows)`` for the manifest."""

    clean: pd.DataFrame
    rejects: pd.DataFrame
    inputs: list[tuple[Path, str, int]]


def _read_one(path: Path, order: int, encoding: str | None) -> tuple[pd.DataFrame, str]:
    csv_text = read_csv_strings(path, encoding=encoding, source=str(path))
    found = canonical_columns(csv_text, HEADER_ALIASES, COLUMNS)
    require_columns(csv_text, found, REQUIRED, HEADER_ALIASES)
    if len(csv_text.rows) == 0:
        raise InputError(csv_text.source, None, None, "no data rows, expected billing lines "
                         "after the header")
    rows = len(csv_text.rows)
    frame = pd.DataFrame({
        # the file name, not the directory: reruns from another folder give the same bytes
        "source": pd.Series(Path(path).name, index=range(rows), dtype=pd.StringDtype()),
        "file_order": np.full(rows, order, dtype=np.int64),
        "line": csv_text.lines,
    })
    for name in COLUMNS:
        frame[f"raw_{name}"] = (csv_text.rows[found[name]].reset_index(drop=True)
                                if name in found else
                                pd.Series("", index=range(rows), dtype=pd.StringDtype()))
    return frame, csv_text.sha256


def _normal_period(text: pd.Series) -> pd.Series:
    """``YYYY-MM`` from ``YYYY-MM`` or ``YYYYMM``; ``<NA>`` for anything else."""
    dashed = text.str.fullmatch(_PERIOD_DASHED).fillna(False)
    compact = text.str.fullmatch(_PERIOD_COMPACT).fillna(False)
    from_compact = text.str.slice(0, 4) + "-" + text.str.slice(4, 6)
    return text.where(dashed, from_compact.where(compact))


def _quoted(text: pd.Series) -> pd.Series:
    return "'" + text.fillna("") + "'"


def read_extracts(paths: list[Path], *, period: str | None = None,
                  encoding: str | None = None) -> Extract:
    """Read, decode and validate billing extracts (SPEC "Billing extract"; module docstring).

    ``period`` (``YYYY-MM``), when given, rejects lines of other months as ``wrong_period``.
    Raises InputError for a file that cannot be read, lacks a required column or has no rows.
    """
    if period is not None and not re.fullmatch(_PERIOD_DASHED, period):
        raise ValueError(f"period must be YYYY-MM, found {period!r}")
    frames, inputs = [], []
    for order, path in enumerate(paths):
        frame, sha256 = _read_one(Path(path), order, encoding)
        frames.append(frame)
        inputs.append((Path(path), sha256, len(frame)))
    lines = pd.concat(frames, ignore_index=True)
    text = {name: lines[f"raw_{name}"].str.strip() for name in COLUMNS}

    utility = text["utility"].str.lower().map(UTILITY_VALUES).astype(pd.StringDtype())
    account_id = text["account_id"].where(text["account_id"] != "")
    enterprise_ok = valid_credit_code(text["enterprise_id"])
    month = _normal_period(text["period"])
    numbers = {name: parse_scaled(text[name], scale) for name, scale in _NUMBERS}
    quantity, quantity_ok, _ = numbers["quantity"]
    production, production_ok, _ = numbers["production_quantity"]
    production_milli = production.fillna(quantity)

    # (reason, where, detail): the detail is built only for the lines that get that reason
    faults: list[tuple[str, pd.Series, Callable[[pd.Series], pd.Series | str]]] = []

    def fault(reason: str, where: pd.Series,
              detail: Callable[[pd.Series], pd.Series | str]) -> None:
        faults.append((reason, where.fillna(False).astype(bool), detail))

    def raw(name: str) -> Callable[[pd.Series], pd.Series]:
        return lambda rows: _quoted(lines[f"raw_{name}"][rows])

    fault("unknown_utility", utility.isna(), lambda rows: "column 'utility': expected "
          "electricity, water, 电 or 水, found " + raw("utility")(rows))
    fault("missing_account", account_id.isna(),
          lambda rows: "column 'account_id': empty, expected the account number")
    fault("bad_enterprise_id", ~enterprise_ok, lambda rows: "column 'enterprise_id': expected "
          "an 18-character unified social credit code with a valid check character, found "
          + raw("enterprise_id")(rows))
    fault("wrong_period", month.isna(), lambda rows: "column 'period': expected YYYY-MM or "
          "YYYYMM, found " + raw("period")(rows))
    if period is not None:
        fault("wrong_period", month != period, lambda rows: "column 'period': expected the "
              f"run's period {period}, found " + raw("period")(rows))
    fault("bad_number", text["quantity"] == "", lambda rows: "column 'quantity': empty, "
          "expected a non-negative decimal number")
    for name, scale in _NUMBERS:
        _, ok, why = numbers[name]
        fault("bad_number", ~ok, lambda rows, name=name, scale=scale, why=why:
              f"column '{name}': " + why[rows].fillna("") + ", found " + raw(name)(rows)
              + f"; expected a decimal ≥ 0 with at most {scale} decimal places")
    exceeds = (production > quantity) & quantity_ok & production_ok
    fault("production_exceeds_total", exceeds, lambda rows: "column 'production_quantity': "
          + raw("production_quantity")(rows) + " exceeds quantity " + raw("quantity")(rows))

    key = pd.DataFrame({"utility": utility, "account_id": account_id, "period": month})
    key_ok = key.notna().all(axis=1)
    lines_per_key = key[key_ok].assign(n=1).groupby(
        ["utility", "account_id", "period"], sort=False)["n"].transform("size").reindex(
        key.index)
    fault("duplicate_line", lines_per_key > 1, lambda rows: "(utility, account_id, period) = ("
          + key["utility"][rows] + ", " + key["account_id"][rows] + ", " + key["period"][rows]
          + ") occurs on " + lines_per_key[rows].astype("int64").astype(str) + " lines")

    owner_ok = key["utility"].notna() & key["account_id"].notna() & enterprise_ok
    owners = key[owner_ok].assign(enterprise_id=text["enterprise_id"]).groupby(
        ["utility", "account_id"], sort=False)["enterprise_id"].transform("nunique").reindex(
        key.index)
    fault("account_conflict", owners > 1, lambda rows: "account (" + key["utility"][rows]
          + ", " + key["account_id"][rows] + ") belongs to "
          + owners[rows].astype("int64").astype(str) + " different enterprise ids")

    reason = pd.Series(pd.NA, index=lines.index, dtype=pd.StringDtype())
    detail = pd.Series(pd.NA, index=lines.index, dtype=pd.StringDtype())
    for code, where, why in faults:
        first = where & reason.isna()
        if first.any():
            reason[first] = code
            detail[first] = why(first)
    rejected = reason.notna().to_numpy()

    rejects = pd.DataFrame({"source": lines["source"], "line": lines["line"],
                            "reason_code": reason, "detail": detail,
                            "file_order": lines["file_order"]})
    for name in COLUMNS:
        rejects[name] = lines[f"raw_{name}"]
    rejects = rejects[rejected].sort_values(["file_order", "line"], kind="stable").drop(
        columns="file_order").reset_index(drop=True)

    keep = ~rejected
    clean = pd.DataFrame({
        "source": lines["source"], "line": lines["line"], "utility": utility,
        "account_id": text["account_id"], "enterprise_id": text["enterprise_id"],
        "period": month,
    })[keep]
    clean["quantity_milli"] = quantity[keep].astype(np.int64)
    clean["production_milli"] = production_milli[keep].astype(np.int64)
    clean["quota_milli"] = numbers["quota"][0][keep]
    clean["base_price_micro"] = numbers["base_price"][0][keep]
    for name in COLUMNS:
        clean[f"raw_{name}"] = lines[f"raw_{name}"][keep]
    clean = clean.reset_index(drop=True)
    return Extract(clean=clean, rejects=rejects, inputs=inputs)
