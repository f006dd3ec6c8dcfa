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
    return pd.Series(TypedColumns(register).in_scope(rulebook), index=register.index)


class TypedColumns:
    """Register columns converted to a type once for all rows, shared by every rulebook
    (several read ``output_t`` or ``energy_tce``): each scope then takes its rows by position
    instead of parsing the same text again or copying the register."""

    def __init__(self, rows: pd.DataFrame) -> None:
        self.rows = rows
        self._text: dict[str, pd.Series] = {}
        self._ids: Any = None
        self._stripped: dict[str, pa.Array] = {}
        self._cache: dict[tuple[str, str], tuple[Any, np.ndarray]] = {}

    def positions(self, rows: pd.DataFrame) -> np.ndarray:
        """Row positions of ``rows`` (a subset of the register rows) in the register."""
        if rows.index.equals(self.rows.index):
            return np.arange(len(rows))
        return self.rows.index.get_indexer(rows.index)

    def in_scope(self, rulebook: Any) -> np.ndarray:
        """:func:`in_scope` of every row, from stripped text kept for the next rulebook."""
        scoped = self._starts_with("industry_code", rulebook.scope.industry)
        if rulebook.scope.districts is not None:
            scoped &= self._starts_with("district", rulebook.scope.districts)
        return scoped

    def _starts_with(self, name: str, prefixes: list[str]) -> np.ndarray:
        if name not in self._stripped:
            self._stripped[name] = pc.utf8_trim_whitespace(_arrow_text(self.rows[name]))
        text = self._stripped[name]
        found = np.zeros(len(text), dtype=bool)
        for prefix in prefixes:
            found |= pc.fill_null(pc.starts_with(text, prefix), False).to_numpy(
                zero_copy_only=False)
        return found

    def ids(self) -> Any:
        """``enterprise_id`` as a ``string`` array, unstripped: the facts index."""
        if self._ids is None:
            self._ids = self.rows["enterprise_id"].astype("string").array
        return self._ids

    def text(self, name: str) -> pd.Series:
        """Column ``name`` as stripped text, empty cells missing."""
        if name not in self._text:
            self._text[name] = _text(self.rows[name])
        return self._text[name]

    def get(self, name: str, kind: str) -> tuple[Any, np.ndarray]:
        """``(values, bad)`` of column ``name`` for every row: a pandas array of ``kind`` and
        the cells holding text that is not of that kind."""
        if (name, kind) not in self._cache:
            plain = _plain_numbers(self.rows[name]) if kind == "number" else None
            if plain is not None:
                self._cache[(name, kind)] = (plain, np.zeros(len(plain), dtype=bool))
            else:
                text = self.text(name)
                values, bad = (_numbers(text) if kind == "number" else _booleans(text)
                               if kind == "boolean" else (text, pd.Series(False, text.index)))
                self._cache[(name, kind)] = (values.array, bad.to_numpy(dtype=bool))
        return self._cache[(name, kind)]


def facts(compiled: Any, rows: pd.DataFrame, *, source: str,
          typed: TypedColumns | None = None) -> pd.DataFrame:
    """Fields converted from register text to their declared types, then the metrics in
    evaluation order; index = ``enterprise_id``. Raises ``ErrorList`` of ``InputError``.

    ``typed``, when given, holds the converted columns of a superset of ``rows``."""
    typed = typed if typed is not None else TypedColumns(rows)
    return scope_facts(compiled, typed, typed.positions(rows), source=source,
                       lines=rows["line"].to_numpy() if "line" in rows else None)


def scope_facts(compiled: Any, typed: TypedColumns, at: np.ndarray, *, source: str,
                lines: np.ndarray | None = None) -> pd.DataFrame:
    """:func:`facts` of the register rows at positions ``at`` of ``typed.rows``.

    ``lines`` (CSV lines of those rows) defaults to the register's ``line`` column, else to
    the row's place in the scope."""
    rulebook = compiled.rulebook
    register = typed.rows
    every_row = len(at) == len(register) and bool((at == np.arange(len(at))).all())
    if lines is None:
        lines = (register["line"].to_numpy()[at] if "line" in register
                 else np.arange(len(at)) + 2)
    errors: list[DiffpriceError] = []
    columns: dict[str, Any] = {}
    for name in SCOPE_COLUMNS:
        columns[name] = typed.get(name, "string")[0]
    for name, spec in rulebook.fields.items():
        if name in SCOPE_COLUMNS:
            continue
        if name not in register.columns:
            errors.append(InputError(source, None, name,
                                     f"rulebook '{rulebook.id}' reads '{name}', which the "
                                     f"register does not have"))
            continue
        columns[name], bad = typed.get(name, spec.type)
        expected = {"number": "a number",
                    "boolean": "true/false, yes/no, 1/0 or 是/否"}.get(spec.type, "")
        scoped_bad = np.flatnonzero(bad if every_row else bad[at])
        if len(scoped_bad):
            text = typed.text(name)
            errors += [InputError(source, int(lines[i]), name,
                                  f"expected {expected}, found '{text.iloc[int(at[i])]}'")
                       for i in scoped_bad]
    raise_if_any(errors)

    ids = typed.ids()
    frame = pd.DataFrame(
        {name: column if every_row else column.take(at) for name, column in columns.items()},
        index=pd.Index(ids if every_row else ids.take(at), name="enterprise_id"))
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


def _plain_numbers(column: pd.Series) -> pd.arrays.FloatingArray | None:
    """``Float64`` values when every non-empty cell is a plain decimal, else ``None``.

    The register's usual form (``-12.5``, at most 17 characters) is recognised on the raw
    bytes and by Arrow's cast itself — no trimming or regular expression, as such text has
    no spaces — and cast exactly as :func:`_numbers` would; anything else takes the general
    path, which also finds the cells to report.
    """
    array = pa.array(column.astype("string"), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if len(array) == 0 or not (pa.types.is_string(array.type)
                               or pa.types.is_large_string(array.type)):
        return None
    validity, offsets_buffer, data_buffer = array.buffers()
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=width)[
        array.offset:array.offset + len(array) + 1]
    length = np.diff(offsets)
    filled = length > 0
    if validity is not None:
        filled &= array.is_valid().to_numpy(zero_copy_only=False)
        if (length[~filled] != 0).any():  # a null cell that holds bytes: not the usual form
            return None
    if (length > 17).any():
        return None
    if data_buffer is None:
        data_buffer = pa.py_buffer(b"")
    body = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0]:offsets[-1]]
    if not (((body - np.uint8(ord("0"))) <= 9) | (body == ord("-")) | (body == ord("."))).all():
        return None
    missing = ~filled
    present = pa.py_buffer(np.packbits(filled, bitorder="little"))
    cells = pa.Array.from_buffers(array.type, len(array),
                                  [present, pa.py_buffer(offsets), data_buffer])
    try:  # Arrow refuses a misplaced "-", a lone "-" and a second "."
        floats = pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return None
    start = offsets[:-1][filled] - offsets[0]
    lead, last = body[start], body[offsets[1:][filled] - 1 - offsets[0]]
    after_lead = body[np.minimum(start + 1, len(body) - 1)]  # a lone "-" was refused above
    if ((lead == ord(".")) | (last == ord("."))
            | ((lead == ord("-")) & (after_lead == ord(".")))).any():
        return None  # but reads ".5", "-.5" and "5.", which are not plain
    return pd.arrays.FloatingArray(np.where(missing, 0.0, floats), missing)


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
