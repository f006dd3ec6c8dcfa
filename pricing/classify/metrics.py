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
import pyarrow as pa
import pyarrow.compute as pc

from pricing.errors import DiffpriceError, InputError, raise_if_any
from pricing.expr import vectorized

SCOPE_COLUMNS = ("district", "industry_code")
_PLAIN_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"
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


class TypedColumns:
    """Register columns converted to a type once for all rows of a year, shared by every
    rulebook (several read ``output_t`` or ``energy_tce``): ``facts`` takes its scope's rows
    from here instead of parsing the same text again."""

    def __init__(self, rows: pd.DataFrame) -> None:
        self.rows = rows
        self._cache: dict[tuple[str, str], tuple[pd.Series, pd.Series, pd.Series]] = {}

    def get(self, name: str, kind: str, scoped: pd.DataFrame) -> tuple[pd.Series, pd.Series,
                                                                     pd.Series]:
        """``(text, values, bad)`` of column ``name`` for the ``scoped`` rows (a subset)."""
        if (name, kind) not in self._cache:
            text = _text(self.rows[name])
            if kind == "number":
                values, bad = _numbers(text)
            elif kind == "boolean":
                values, bad = _booleans(text)
            else:
                values, bad = text, pd.Series(False, index=text.index)
            self._cache[(name, kind)] = (text, values, bad)
        text, values, bad = self._cache[(name, kind)]
        if scoped.index.equals(self.rows.index):  # a scope of every row: nothing to take
            return text, values, bad
        at = self.rows.index.get_indexer(scoped.index)
        return (text.iloc[at].reset_index(drop=True), values.iloc[at].reset_index(drop=True),
                bad.iloc[at].reset_index(drop=True))


def facts(compiled: Any, rows: pd.DataFrame, *, source: str,
          typed: TypedColumns | None = None) -> pd.DataFrame:
    """Fields converted from register text to their declared types, then the metrics in
    evaluation order; index = ``enterprise_id``. Raises ``ErrorList`` of ``InputError``.

    ``typed``, when given, holds the converted columns of a superset of ``rows``."""
    rulebook = compiled.rulebook
    typed = typed if typed is not None else TypedColumns(rows)
    lines = rows["line"] if "line" in rows else pd.Series(np.arange(len(rows)) + 2,
                                                          index=rows.index)
    errors: list[DiffpriceError] = []
    columns: dict[str, pd.Series] = {}
    for name in SCOPE_COLUMNS:
        columns[name] = typed.get(name, "string", rows)[1]
    for name, spec in rulebook.fields.items():
        if name in SCOPE_COLUMNS:
            continue
        if name not in rows.columns:
            errors.append(InputError(source, None, name,
                                     f"rulebook '{rulebook.id}' reads '{name}', which the "
                                     f"register does not have"))
            continue
        text, columns[name], bad = typed.get(name, spec.type, rows)
        expected = {"number": "a number",
                    "boolean": "true/false, yes/no, 1/0 or 是/否"}.get(spec.type, "")
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
    stripped = pc.utf8_trim_whitespace(_arrow_text(column))
    text = pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), stripped)
    return pd.Series(pd.arrays.ArrowStringArray(text))


def _arrow_text(column: pd.Series) -> pa.Array:
    array = pa.array(column.astype("string"), type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _numbers(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``Float64`` values and the cells that hold text which is not a finite number.

    Plain decimals (``-12.5``, at most 17 characters, the register's usual form) are cast by
    Arrow, which rounds exactly as ``pd.to_numeric`` does for them; anything else goes
    through ``pd.to_numeric``.
    """
    arrow = _arrow_text(text)
    plain = pc.fill_null(pc.and_(pc.match_substring_regex(arrow, _PLAIN_DECIMAL),
                                 pc.less_equal(pc.utf8_length(arrow), 17)), False)
    if pc.all(pc.or_(plain, pc.is_null(arrow))).as_py() is not False:
        cast = pc.cast(pc.if_else(plain, arrow, pa.scalar(None, pa.string())), pa.float64())
        floats = pc.fill_null(cast, np.nan).to_numpy(zero_copy_only=False)
    else:
        floats = pd.to_numeric(text, errors="coerce").astype("Float64").to_numpy(
            dtype="float64", na_value=np.nan)
    finite = np.isfinite(floats)
    bad = pc.is_valid(arrow).to_numpy(zero_copy_only=False) & ~finite
    values = pd.arrays.FloatingArray(np.where(finite, floats, 0.0), ~finite)
    return pd.Series(values, index=text.index), pd.Series(bad, index=text.index)


def _booleans(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``boolean`` values from true/false, yes/no, 1/0, 是/否 (any case)."""
    words = text.str.lower()
    truth = pd.Series(pd.NA, index=text.index, dtype="boolean")
    truth[words.isin(TRUE_WORDS).fillna(False).astype(bool)] = True
    truth[words.isin(FALSE_WORDS).fillna(False).astype(bool)] = False
    bad = text.notna() & truth.isna()
    return truth, bad.fillna(False)
