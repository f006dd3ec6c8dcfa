"""Reading the enterprise register (SPEC "Inputs / Register"): one row per enterprise per
assessment year; the required columns are checked here, indicator columns are left as text for
the rulebooks to type (an empty cell is a missing value, never zero)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pricing.billing.creditcode import valid_codes
from pricing.billing.encoding import CsvTable, canonical_columns, read_csv_table, require_columns
from pricing.billing.extract import arrow_text, dictionary_codes, repeated
from pricing.billing.hashing import id_hash
from pricing.bytematrix import filled_cells, stripped, text_offsets
from pricing.errors import DiffpriceError, ErrorList, InputError

if TYPE_CHECKING:
    from pricing.billing.prefetch import Prefetch

REQUIRED = ("enterprise_id", "name", "district", "industry_code", "year")
HEADER_ALIASES: dict[str, str] = {
    "统一社会信用代码": "enterprise_id",
    "企业名称": "name",
    "行政区划代码": "district",
    "行业代码": "industry_code",
    "年度": "year",
}
_FORMATS = (  # (column, pattern, what is expected, its shape for surely_of_shape)
    ("district", r"[0-9]{6}", "a 6-digit division code such as 330212", (None, 6, 6)),
    ("industry_code", r"[A-T][0-9]{2,4}", "a GB/T 4754 code with its section letter such as "
     "C3391", (b"AT", 2, 4)),
    ("year", r"[0-9]{4}", "a 4-digit year", (None, 4, 4)),
)


def surely_of_shape(text: pa.Array, letters: bytes | None, fewest: int, most: int) -> bool:
    """Whether every cell is a letter from ``letters[0]`` to ``letters[1]`` (when given)
    followed by ``fewest`` to ``most`` ASCII digits, told by lengths and bytes alone (a
    province's million cells in milliseconds). False only means "ask the regular
    expression", which also finds the cells to report."""
    offsets = text_offsets(text)
    if offsets is None or text.null_count or not len(text):
        return False
    lead = 1 if letters else 0
    length = np.diff(offsets)
    if ((length < lead + fewest) | (length > lead + most)).any():
        return False
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    digit = (data - np.uint8(ord("0"))) <= 9
    if letters is None:
        return bool(digit.all())
    first = data[offsets[:-1] - offsets[0]]
    # each cell's first byte a letter, so exactly that many bytes are not digits
    return bool(((first >= letters[0]) & (first <= letters[1])).all()) \
        and int(len(digit) - np.count_nonzero(digit)) == len(text)


@dataclass(frozen=True)
class Register:
    """The register ``frame`` (``string`` columns, ``year`` int64, ``line`` int64 physical
    line), the ``sha256`` of the file's bytes and its data ``rows``, for the manifest."""

    frame: pd.DataFrame
    sha256: str
    rows: int


def _errors_at(csv_text: CsvTable, where: pd.Series, column: str, message: str,
               found: pd.Series) -> list[DiffpriceError]:
    """One InputError per offending row (errors only, never the billing path)."""
    rows = np.flatnonzero(where.to_numpy(dtype=bool))
    return [InputError(csv_text.source, int(csv_text.lines[i]), column,
                       f"expected {message}, found {found.iloc[i]!r}") for i in rows]


def _cells(column: pa.ChunkedArray, whole: bool = False) -> pd.Series:
    """Stripped text, empty cells missing (SPEC: an empty cell is a missing value).

    Chunk by chunk, as Arrow read them (a province's register is 150 MB: joining the chunks
    would copy it), or as one array with ``whole``: the required columns, which every step
    after takes whole (ids, places), are joined once here. A chunk keeps its characters and
    offsets: its empty cells are masked by a validity bitmap made from the offsets instead
    of copying the chunk (most indicator columns are mostly empty). The register is read as
    ``large_string``, what pandas holds, so the text becomes a column as it is.
    """
    if whole and column.num_chunks > 1:
        column = pa.chunked_array([column.combine_chunks()], column.type)
    chunks = [_missing_when_empty(stripped(chunk)) for chunk in column.chunks]
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(chunks, column.type)))


def _missing_when_empty(text: pa.Array) -> pa.Array:
    if text.null_count or text.offset or not len(text):
        return pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)
    filled = filled_cells(text)
    if filled.all():
        return text
    bitmap = pa.py_buffer(np.packbits(filled, bitorder="little"))
    return pa.Array.from_buffers(text.type, len(text), [bitmap, *text.buffers()[1:]])


def _repeated_years(frame: pd.DataFrame, ids: pa.Array) -> np.ndarray:
    """Rows whose ``(enterprise_id, year)`` appears on an earlier row (both present);
    ``ids``: the enterprise ids as Arrow text.

    Only rows whose hash of the pair repeats can repeat the pair; pandas compares just
    those, in their order, so the first of each pair is kept as ``duplicated`` keeps it."""
    year = arrow_text(frame["year"])
    keyed = pc.and_(pc.is_valid(ids), pc.is_valid(year)).to_numpy(zero_copy_only=False)
    maybe = np.flatnonzero(keyed & repeated(id_hash(ids, dictionary_codes(year))))
    twice = np.zeros(len(frame), dtype=bool)
    if len(maybe):
        twice[maybe] = frame.iloc[maybe].duplicated(["enterprise_id", "year"],
                                                    keep="first").to_numpy()
    return twice


def read_register(path: Path, encoding: str | None = None,
                  prefetched: Prefetch | None = None) -> Register:
    """Read and check the register; ErrorList of InputError (``file:line``, column, expected
    and found) for bad credit codes, districts, industry codes, years, empty names and
    duplicate ``(enterprise_id, year)`` rows. ``prefetched`` may hold the file already read
    (:mod:`pricing.billing.prefetch`)."""
    csv_text = prefetched.take_register(path) if prefetched is not None else None
    if csv_text is None:
        csv_text = read_csv_table(Path(path), encoding=encoding, large_text=True)
    found = canonical_columns(csv_text, HEADER_ALIASES, REQUIRED)
    require_columns(csv_text, found, REQUIRED, HEADER_ALIASES)
    canonical = {v: k for k, v in found.items()}
    frame = pd.DataFrame({canonical.get(name, name): _cells(csv_text.table[name],
                                                            whole=name in canonical)
                          for name in csv_text.header})

    errors: list[DiffpriceError] = []
    ids = arrow_text(frame["enterprise_id"])
    errors += _errors_at(csv_text, pd.Series(~valid_codes(ids)), "enterprise_id",
                         "an 18-character unified social credit code with a valid check "
                         "character", frame["enterprise_id"])
    errors += _errors_at(csv_text, frame["name"].isna(), "name", "the enterprise name",
                         frame["name"])
    for column, pattern, message, shape in _FORMATS:
        if surely_of_shape(arrow_text(frame[column]), *shape):
            continue
        bad = ~frame[column].str.fullmatch(pattern).fillna(False).astype(bool)
        errors += _errors_at(csv_text, bad, column, message, frame[column])
    errors += _errors_at(csv_text, pd.Series(_repeated_years(frame, ids)), "year",
                         "one row per enterprise and year; this enterprise-year appears on "
                         "an earlier line", frame["year"])
    if errors:
        errors.sort(key=lambda error: (error.row or 0))
        raise ErrorList(errors)

    # Arrow's cast of the checked 4-digit years: a tenth of the time of pandas' astype
    frame["year"] = pc.cast(arrow_text(frame["year"]), pa.int64()).to_numpy()
    frame.insert(0, "line", csv_text.lines)
    return Register(frame=frame, sha256=csv_text.sha256, rows=len(frame))
