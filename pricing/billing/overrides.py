"""Reading bureau overrides (SPEC "Overrides"): a decision that replaces the computed class of
one enterprise under one rulebook for the months ``valid_from..valid_to`` (open when empty).

Whether the rulebook and class exist is checked by the caller, who holds the rulebooks. Here:
the file's shape, credit codes, months, ``valid_from ≤ valid_to``, a ``reference`` to the
decision (the audit trail needs it), and no two overrides of one enterprise and rulebook with
overlapping months (which one would apply is not ours to guess).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pricing.billing.creditcode import valid_credit_code
from pricing.billing.encoding import canonical_columns, read_csv_strings, require_columns
from pricing.errors import DiffpriceError, ErrorList, InputError

COLUMNS = ("enterprise_id", "rulebook", "class", "valid_from", "valid_to", "reference",
           "reason")
_MONTH = r"[0-9]{4}-(0[1-9]|1[0-2])"
_OPEN_END = "9999-12"


def read_overrides(path: Path, encoding: str | None = None) -> pd.DataFrame:
    """The overrides as ``string`` columns (``valid_to`` ``<NA>`` = open) plus ``line``;
    ErrorList of InputError for any faulty row."""
    csv_text = read_csv_strings(Path(path), encoding=encoding)
    found = canonical_columns(csv_text, {}, COLUMNS)
    require_columns(csv_text, found, COLUMNS, {})
    frame = csv_text.rows[[found[name] for name in COLUMNS]].set_axis(list(COLUMNS), axis=1)
    frame = frame.apply(lambda column: column.str.strip()).reset_index(drop=True)
    frame = frame.mask(frame == "")
    lines = csv_text.lines

    checks = [
        ("enterprise_id", ~valid_credit_code(frame["enterprise_id"]),
         "an 18-character unified social credit code with a valid check character"),
        ("rulebook", frame["rulebook"].isna(), "a rulebook id"),
        ("class", frame["class"].isna(), "a class of that rulebook"),
        ("valid_from", ~frame["valid_from"].str.fullmatch(_MONTH).fillna(False).astype(bool),
         "a month YYYY-MM"),
        ("valid_to", frame["valid_to"].notna()
         & ~frame["valid_to"].str.fullmatch(_MONTH).fillna(False).astype(bool),
         "a month YYYY-MM, or empty for an open end"),
        ("reference", frame["reference"].isna(), "the reference of the decision"),
    ]
    errors: list[DiffpriceError] = []
    for column, bad, expected in checks:
        errors += [InputError(csv_text.source, int(lines[i]), column,
                              f"expected {expected}, found {frame[column].iloc[i]!r}")
                   for i in np.flatnonzero(bad.to_numpy(dtype=bool))]
    end = frame["valid_to"].fillna(_OPEN_END)
    reversed_ = (frame["valid_from"] > end).fillna(False).astype(bool)
    errors += [InputError(csv_text.source, int(lines[i]), "valid_to",
                          f"ends {end.iloc[i]} before it starts {frame['valid_from'].iloc[i]}")
               for i in np.flatnonzero(reversed_.to_numpy(dtype=bool))]
    if not errors:
        errors += _overlaps(frame.assign(line=lines, end=end), csv_text.source)
    if errors:
        errors.sort(key=lambda error: (error.row or 0))
        raise ErrorList(errors)
    frame.insert(0, "line", lines.astype(np.int64))
    return frame


def _overlaps(frame: pd.DataFrame, source: str) -> list[DiffpriceError]:
    """Overrides of one enterprise and rulebook whose month ranges intersect."""
    ordered = frame.sort_values(["enterprise_id", "rulebook", "valid_from", "line"])
    start = ordered["valid_from"].str.replace("-", "").astype(np.int64)
    end = ordered["end"].str.replace("-", "").astype(np.int64)
    group = [ordered["enterprise_id"], ordered["rulebook"]]
    latest_end = end.groupby(group, sort=False).cummax().groupby(group, sort=False).shift(1)
    overlap = (start <= latest_end).fillna(False).astype(bool)
    previous = ordered["line"].groupby(group, sort=False).shift(1)
    return [InputError(source, int(row.line), "valid_from",
                       f"overlaps an earlier override (line {int(prev_line)} or before) of the "
                       f"same enterprise and rulebook")
            for row, prev_line in zip(ordered[overlap].itertuples(),
                                      previous[overlap], strict=True)]
