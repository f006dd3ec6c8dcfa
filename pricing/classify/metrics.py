"""Register rows → typed facts: the declared fields, then every metric, per enterprise.

SPEC "Register": every column but the required ones is an indicator a rulebook may read, and an
empty cell is a missing value, never zero. A cell that is not empty and not of the declared type
is an input error (reported with its CSV line), not a silent missing value. Population
functions (``rank_pct``) see exactly the rulebook's scope, so facts are built per scope.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pricing.errors import DiffpriceError, InputError, raise_if_any
from pricing.expr import vectorized

SCOPE_COLUMNS = ("district", "industry_code")
TRUE_WORDS = ("true", "yes", "1", "是")
FALSE_WORDS = ("false", "no", "0", "否")


def in_scope(rulebook: Any, register: pd.DataFrame) -> pd.Series:
    """Rows whose industry code starts with a scope prefix and whose district starts with a
    district prefix (every district when ``scope.districts`` is null)."""
    industry = register["industry_code"].astype("string").str.strip()
    scoped = industry.str.startswith(tuple(rulebook.scope.industry)).fillna(False)
    if rulebook.scope.districts is not None:
        district = register["district"].astype("string").str.strip()
        scoped &= district.str.startswith(tuple(rulebook.scope.districts)).fillna(False)
    return scoped.astype(bool)


def facts(compiled: Any, rows: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Fields converted from register text to their declared types, then the metrics in
    evaluation order; index = ``enterprise_id``. Raises ``ErrorList`` of ``InputError``."""
    rulebook = compiled.rulebook
    lines = rows["line"] if "line" in rows else pd.Series(np.arange(len(rows)) + 2,
                                                          index=rows.index)
    errors: list[DiffpriceError] = []
    columns: dict[str, pd.Series] = {}
    for name in SCOPE_COLUMNS:
        columns[name] = _text(rows[name])
    for name, spec in rulebook.fields.items():
        if name in SCOPE_COLUMNS:
            continue
        if name not in rows.columns:
            errors.append(InputError(source, None, name,
                                     f"rulebook '{rulebook.id}' reads '{name}', which the "
                                     f"register does not have"))
            continue
        text = _text(rows[name])
        if spec.type == "number":
            columns[name], bad = _numbers(text)
            expected = "a number"
        elif spec.type == "boolean":
            columns[name], bad = _booleans(text)
            expected = "true/false, yes/no, 1/0 or 是/否"
        else:
            columns[name], bad = text, pd.Series(False, index=text.index)
        errors += [InputError(source, int(lines.iloc[i]), name,
                              f"expected {expected}, found '{text.iloc[i]}'")
                   for i in np.flatnonzero(bad.to_numpy(dtype=bool))]
    raise_if_any(errors)

    frame = pd.DataFrame({name: column.array for name, column in columns.items()},
                         index=pd.Index(rows["enterprise_id"].astype("string").array,
                                        name="enterprise_id"))
    for name, node, _type in compiled.metrics:
        value = vectorized.evaluate(node, frame, compiled.tables)
        frame[name] = value.astype(_dtype(_type)).array
    return frame


def _dtype(kind: str) -> str:
    return {"number": "Float64", "boolean": "boolean"}.get(kind, "string")


def _text(column: pd.Series) -> pd.Series:
    """Register text, stripped, with empty cells as ``<NA>``."""
    text = column.astype("string").str.strip()
    return text.mask(text == "").reset_index(drop=True)


def _numbers(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``Float64`` values and the cells that hold text which is not a finite number."""
    values = pd.to_numeric(text, errors="coerce").astype("Float64")
    finite = values.notna() & np.isfinite(values.fillna(0.0).to_numpy(dtype="float64"))
    bad = text.notna() & ~finite
    return values.where(finite), bad.fillna(False)


def _booleans(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``boolean`` values from true/false, yes/no, 1/0, 是/否 (any case)."""
    words = text.str.lower()
    truth = pd.Series(pd.NA, index=text.index, dtype="boolean")
    truth[words.isin(TRUE_WORDS).fillna(False).astype(bool)] = True
    truth[words.isin(FALSE_WORDS).fillna(False).astype(bool)] = False
    bad = text.notna() & truth.isna()
    return truth, bad.fillna(False)
