"""Reading utility billing extracts into clean lines and rejects (SPEC "Billing extract").

Every data row read ends up in exactly one of ``Extract.clean`` or ``Extract.rejects``: nothing
is dropped silently (SPEC: "every billing line not priced for a fault"). Validation is
vectorized over all files at once, because duplicates and account conflicts cross files.
A clean line keeps its text as read in ``Extract.raw``, at its ``raw_row``: only the few
lines rejected later, while pricing, need it, so it is not copied for every clean line.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pricing.billing.creditcode import all_eighteen_bytes, valid_codes
from pricing.billing.encoding import canonical_columns, read_csv_table, require_columns
from pricing.billing.hashing import id_hash
from pricing.billing.money import parse_scaled_arrow
from pricing.bytematrix import byte_matrix, stripped
from pricing.errors import InputError

if TYPE_CHECKING:
    from pricing.billing.prefetch import Prefetch

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
    """``clean`` lines ready to price, ``rejects`` with reasons, ``inputs`` as
    ``(path, sha256 of the bytes, data rows)`` for the manifest, and ``raw``: the text of
    every line as read (:func:`raw_text`), where a clean line's ``raw_row`` points."""

    clean: pd.DataFrame
    rejects: pd.DataFrame
    inputs: list[tuple[Path, str, int]]
    raw: pa.Table


def _read_one(path: Path, order: int, encoding: str | None,
              prefetched: Prefetch | None = None) -> tuple[pa.Table, str]:
    csv_table = prefetched.take(path) if prefetched is not None else None
    if csv_table is None:
        csv_table = read_csv_table(path, encoding=encoding, source=str(path))
    found = extract_columns(csv_table.header, csv_table.source)
    if csv_table.table.num_rows == 0:
        raise no_data_rows(csv_table.source)
    return raw_lines(csv_table.table, csv_table.lines, found, Path(path).name, order), \
        csv_table.sha256


def no_data_rows(source: str) -> InputError:
    return InputError(source, None, None, "no data rows, expected billing lines after the "
                      "header")


def extract_columns(header: list[str], source: str) -> dict[str, str]:
    """The extract's columns found in ``header`` (canonical name → header name); InputError
    when a required one is missing."""
    named = _Header(source, header)
    found = canonical_columns(named, HEADER_ALIASES, COLUMNS)
    require_columns(named, found, REQUIRED, HEADER_ALIASES)
    return found


@dataclass(frozen=True)
class _Header:
    source: str
    header: list[str]


def raw_lines(table: pa.Table, lines: np.ndarray, found: dict[str, str], name: str,
              order: int) -> pa.Table:
    """The rows as read (``raw_*`` text), with their file name, file order and line."""
    rows = table.num_rows
    empty = pa.array([""] * rows, type=pa.string()) if len(found) < len(COLUMNS) else None
    columns = {**file_columns(name, order, rows), "line": pa.array(lines, type=pa.int64())}
    for column in COLUMNS:
        columns[f"raw_{column}"] = (table[found[column]].combine_chunks()
                                    if column in found else empty)
    return pa.table(columns)


def file_columns(name: str, order: int, rows: int) -> dict[str, pa.Array]:
    """The ``source`` and ``file_order`` columns of ``rows`` lines of one file: the file name,
    not the directory (reruns from another folder give the same bytes), and its place among
    the run's extracts."""
    return {"source": pc.take(pa.array([name], pa.string()),
                              pa.array(np.zeros(rows, dtype=np.int32))),
            "file_order": pa.array(np.full(rows, order, dtype=np.int64))}


def _string_series(array: pa.Array | pa.ChunkedArray) -> pd.Series:
    """Arrow text as a pandas ``string`` Series without copying the characters."""
    return pd.Series(pd.arrays.ArrowStringArray(array))


def arrow_text(values: pd.Series | pd.Index | np.ndarray) -> pa.Array:
    """Text as one Arrow array: pandas' Arrow-backed text (``large_string``) as it is, so
    neither this nor wrapping the result back in pandas rewrites the offsets (a fresh 8 MB
    per million values, each way); other values become ``string``. The column's array is
    converted, not the Series: Arrow's probe of a Series for conversion methods would make
    pandas hash its index (a quarter second for a province's places)."""
    if isinstance(values, pd.Series | pd.Index):
        values = values.array
    array = pa.array(values, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.string())
    return array


def _int_series(array: pa.Array, nullable: bool) -> pd.Series:
    """Arrow integers as pandas ``Int64`` (``nullable``) or ``int64``, the values converted
    once: pandas 3 would copy an array handed to ``Series`` again unless told not to."""
    if nullable:
        return pd.Series(array.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get).array,
                         dtype=pd.Int64Dtype(), copy=False)
    return pd.Series(pc.fill_null(array, 0).to_numpy(zero_copy_only=False), dtype=np.int64,
                     copy=False)


def _matches(text: pa.Array, pattern: str) -> np.ndarray:
    """``fullmatch`` as pandas does it on Arrow text (missing → False)."""
    found = pc.match_substring_regex(text, f"^({pattern})$")
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False)


def _normal_period(text: pa.Array) -> tuple[pa.Array, np.ndarray, pa.Array]:
    """``YYYY-MM`` from ``YYYY-MM`` or ``YYYYMM``, null for anything else; a code per
    normalized month (-1 for null), so equal months have equal codes however written; and
    the month each code stands for.

    An extract holds one or two distinct periods: each is checked once, then taken; one
    period on every line (the usual month) is seen on the bytes, without hashing them."""
    matrix = byte_matrix(text)
    if matrix is not None and bool((matrix == matrix[0]).all()):
        normal = _normal_distinct_periods(text.slice(0, 1))
        valid = normal.null_count == 0
        lines = (text if valid and normal[0].as_py() == text[0].as_py()
                 else pc.take(normal, pa.array(np.zeros(len(text), np.int64))))
        return (lines, np.full(len(text), 0 if valid else -1, dtype=np.int64),
                normal.drop_null())
    encoded = pc.dictionary_encode(text)
    normal = _normal_distinct_periods(encoded.dictionary)
    months = pc.dictionary_encode(normal)
    canonical = pc.fill_null(months.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    at = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return pc.take(normal, encoded.indices), np.append(canonical, -1)[at], months.dictionary


def _normal_distinct_periods(text: pa.Array) -> pa.Array:
    dashed = _matches(text, _PERIOD_DASHED)
    compact = _matches(text, _PERIOD_COMPACT)
    if dashed.all():
        return text
    from_compact = pc.binary_join_element_wise(pc.utf8_slice_codeunits(text, 0, 4),
                                               pc.utf8_slice_codeunits(text, 4, 6), "-")
    return pc.if_else(pa.array(dashed), text, pc.if_else(
        pa.array(compact), from_compact, pa.scalar(None, pa.string())))


def _key_codes(*part_codes: np.ndarray) -> np.ndarray:
    """One int code per distinct combination of the parts' codes (-1 where a part is missing).

    Exact, unlike joining the texts with a separator that the data itself could contain. The
    codes are not dense, but below ``8 × rows`` (utilities and months have few values), so
    ``np.bincount`` counts them without a further hashing pass.
    """
    rows = len(part_codes[0])
    combined = np.zeros(rows, dtype=np.int64)
    missing = np.zeros(rows, dtype=bool)
    for codes in part_codes:
        missing |= codes < 0
        combined = combined * (codes.max(initial=0) + 2) + codes + 1
        if combined.max(initial=0) > 8 * rows + 64:  # keep codes small enough to count
            combined = _dense(combined)
    combined[missing] = -1
    return combined


def _dense(keys: np.ndarray) -> np.ndarray:
    """Codes 0..k-1 for the k distinct keys, by hashing (cheaper than sorting a million)."""
    encoded = pc.dictionary_encode(pa.array(keys, type=pa.int64()))
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def _count_per_key(codes: np.ndarray) -> np.ndarray:
    """Per row, how many rows share its key code; 0 where the key is missing (-1)."""
    counts = np.append(np.bincount(codes[codes >= 0], minlength=codes.max(initial=-1) + 1), 0)
    return counts[codes]


def _owners_per_account(account: np.ndarray, enterprise: np.ndarray,
                        usable: np.ndarray) -> np.ndarray:
    """Per row, how many distinct enterprise codes its account code is seen with."""
    keep = usable & (account >= 0)
    radix = enterprise.max(initial=0) + 1
    pairs = np.sort(account[keep] * radix + enterprise[keep])
    pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))] if len(pairs) else pairs
    owners = np.bincount(pairs // radix, minlength=account.max(initial=-1) + 1)
    result = np.zeros(len(account), dtype=np.int64)
    result[keep] = owners[account[keep]]
    return result


def dictionary_codes(array: pa.Array) -> np.ndarray:
    """A code per value by hashing, equal values equal codes; -1 where missing."""
    encoded = pc.dictionary_encode(array)
    return pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _valid_ids(text: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
    """Credit-code check of the ids, and their codes when made. Ids all 18 bytes long are
    checked straight on their bytes, cheaper than hashing them, and get no codes
    (:meth:`CrossFaults.of` hashes the few it needs); others are checked once per distinct id
    (an extract repeats every id many times)."""
    if all_eighteen_bytes(text):
        return valid_codes(text), None
    encoded = pc.dictionary_encode(text)
    valid = valid_codes(encoded.dictionary)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.append(valid, False)[codes], codes


def _quoted(text: pd.Series) -> pd.Series:
    return "'" + text.fillna("") + "'"


def read_extracts(paths: list[Path], *, period: str | None = None,
                  encoding: str | None = None, prefetched: Prefetch | None = None) -> Extract:
    """Read, decode and validate billing extracts (SPEC "Billing extract"; module docstring).

    ``period`` (``YYYY-MM``), when given, rejects lines of other months as ``wrong_period``.
    Raises InputError for a file that cannot be read, lacks a required column or has no rows.
    Validation runs on Arrow arrays; pandas holds only the result and the reject details.
    ``prefetched`` holds files already being read (:mod:`pricing.billing.prefetch`).
    """
    if period is not None and not re.fullmatch(_PERIOD_DASHED, period):
        raise ValueError(f"period must be YYYY-MM, found {period!r}")
    tables, inputs = [], []
    for order, path in enumerate(paths):
        table, sha256 = _read_one(Path(path), order, encoding, prefetched)
        tables.append(table)
        inputs.append((Path(path), sha256, table.num_rows))
    lines = pa.concat_tables(tables).combine_chunks()
    clean, rejects = check_lines(lines, period)
    return Extract(clean=clean, rejects=rejects, inputs=inputs, raw=raw_text(lines))


def raw_text(lines: pa.Table) -> pa.Table:
    """The ``raw_*`` text columns of :func:`raw_lines` (what a reject repeats)."""
    return lines.select([f"raw_{name}" for name in COLUMNS])


def raw_of(raw: pa.Table, rows: np.ndarray) -> dict[str, pd.Series]:
    """The text as read of the lines at ``rows`` of ``raw``, by column name."""
    taken = pa.array(rows, type=pa.int64())
    return {name: _string_series(raw[f"raw_{name}"].take(taken)) for name in COLUMNS}


@dataclass(frozen=True)
class Keys:
    """The key fields of lines, normalized: what duplicate and conflict checks compare."""

    utility: pa.Array  # electricity / water, null when unknown
    account_id: pa.Array  # trimmed, null when empty
    month: pa.Array  # YYYY-MM, null when unreadable
    enterprise_id: pa.Array  # trimmed text
    enterprise_ok: np.ndarray  # a valid credit code
    enterprise_codes: np.ndarray | None  # dictionary codes of enterprise_id, -1 when
    # missing; None: found from the text for the lines that need them
    utility_codes: np.ndarray | None = None  # codes of utility and month, -1 when missing,
    month_codes: np.ndarray | None = None  # when known (else found from the text)
    month_values: pa.Array | None = None  # the month of each month code


UTILITY_NAMES = list(dict.fromkeys(UTILITY_VALUES.values()))  # what utility codes index


def line_keys(utility: pa.Array, account_id: pa.Array, enterprise_id: pa.Array,
              period: pa.Array) -> Keys:
    """Normalize the key fields of raw text columns."""
    names = pa.array(list(UTILITY_VALUES), type=pa.string())
    found = pc.index_in(pc.utf8_lower(stripped(utility)), value_set=names)
    at = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    utility_codes = np.array([UTILITY_NAMES.index(value) for value in UTILITY_VALUES.values()]
                             + [-1], dtype=np.int64)[at]
    enterprise = enterprise_key(enterprise_id)
    enterprise_ok, enterprise_codes = _valid_ids(enterprise)
    month, month_codes, month_values = _normal_period(stripped(period))
    return Keys(utility_text(utility_codes), account_key(account_id), month, enterprise,
                enterprise_ok, enterprise_codes, utility_codes, month_codes, month_values)


def utility_text(codes: np.ndarray) -> pa.Array:
    """The utility of each code of :data:`UTILITY_NAMES`, null for -1."""
    return pa.array(UTILITY_NAMES, pa.string()).take(
        pa.array(codes, type=pa.int64(), mask=codes < 0))


def account_key(account_id: pa.Array) -> pa.Array:
    """The account ids trimmed, null when empty."""
    account = stripped(account_id)
    return pc.if_else(pc.equal(account, ""), pa.scalar(None, pa.string()), account)


def enterprise_key(enterprise_id: pa.Array) -> pa.Array:
    """The enterprise ids trimmed."""
    return stripped(enterprise_id)


@dataclass(frozen=True)
class CrossFaults:
    """Per line, what only the whole run can tell: how many lines share its key
    ``(utility, account_id, period)`` and how many enterprise ids its account is seen with
    (0 or 1 when nothing is wrong)."""

    lines_per_key: np.ndarray
    owners: np.ndarray

    @classmethod
    def of(cls, keys: Keys) -> CrossFaults:
        """Computed from these lines alone: right when they are all the run's lines (or all
        the lines of the accounts they hold, as a streamed run gives them).

        Only the lines of an account seen on two or more lines can share a key or an owner
        with another line; in a month nearly every account has one line, so the keys and
        owners are counted among those few, and the others get 1 (0 where a key is missing).
        """
        def valid(array: pa.Array) -> np.ndarray:
            return pc.is_valid(array).to_numpy(zero_copy_only=False)

        has_account = valid(keys.utility) & valid(keys.account_id)
        owner_ok = has_account & keys.enterprise_ok
        lines_per_key = (has_account & valid(keys.month)).astype(np.int64)
        owners = owner_ok.astype(np.int64)

        def codes(known: np.ndarray | None, text: pa.Array) -> np.ndarray:
            return known if known is not None else dictionary_codes(text)

        utility = codes(keys.utility_codes, keys.utility)
        # Lines whose account hash is unique cannot share an account: the text of the
        # others only is hashed into exact codes (all the lines of a repeated account).
        maybe = np.flatnonzero(has_account & repeated(id_hash(keys.account_id, utility)))
        account = _key_codes(utility[maybe], dictionary_codes(
            keys.account_id.take(pa.array(maybe, type=pa.int64()))))
        found = np.flatnonzero(_count_per_key(account) > 1)
        shared, account = maybe[found], account[found]
        if len(shared):
            month = codes(keys.month_codes, keys.month)[shared]
            lines_per_key[shared] = _count_per_key(_key_codes(account, month))
            enterprise = (keys.enterprise_codes[shared] if keys.enterprise_codes is not None
                          else dictionary_codes(keys.enterprise_id.take(pa.array(shared))))
            owners[shared] = _owners_per_account(account, enterprise, owner_ok[shared])
        return cls(lines_per_key, owners)


def repeated(hashes: np.ndarray) -> np.ndarray:
    """Whether each 64-bit hash occurs more than once: first counted by some of its bits
    into about four times as many slots as values (one cheap pass), then exactly among
    the values that share a slot."""
    bits = max(4, len(hashes).bit_length() + 2)
    slot = np.right_shift(hashes.view(np.uint64), np.uint64(4))  # one array, reused in place
    np.bitwise_and(slot, np.uint64((1 << bits) - 1), out=slot)
    slot = slot.view(np.int64)  # below 2**63: the same numbers
    maybe = np.flatnonzero(np.bincount(slot, minlength=1 << bits)[slot] > 1)
    repeated = np.zeros(len(hashes), dtype=bool)
    repeated[maybe] = _count_per_key(_dense(hashes[maybe].view(np.int64))) > 1
    return repeated


def _parse_numbers(raw_text: dict[str, pa.Array]
                   ) -> tuple[dict[str, pa.Array], dict[str, tuple]]:
    """The number columns trimmed, and parsed to scaled integers (``parse_scaled_arrow``)."""
    text = {name: stripped(raw_text[name]) for name, _ in _NUMBERS}
    return text, {name: parse_scaled_arrow(text[name], scale) for name, scale in _NUMBERS}


def check_lines(lines: pa.Table, period: str | None, crossed: CrossFaults | None = None,
                keys: Keys | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split raw lines (:func:`raw_lines`) into clean lines and rejects (module docstring).

    ``crossed`` brings the duplicate and conflict counts of a streamed run, found over all
    its pieces; without it they are counted among ``lines``. ``keys``, when the caller has
    them already, are :func:`line_keys` of ``lines``. A clean line's ``raw_row`` is its
    position in ``lines``. Text becomes pandas only where it is kept: the clean lines' keys
    and the rejected lines' details.
    """
    raw_text = {name: lines[f"raw_{name}"].chunk(0) if lines.num_rows else
                pa.array([], pa.string()) for name in COLUMNS}
    with ThreadPoolExecutor(max_workers=1) as pool:
        # the numbers and the keys are independent; Arrow and numpy release the GIL
        parsing = pool.submit(_parse_numbers, raw_text)
        if keys is None:
            keys = line_keys(raw_text["utility"], raw_text["account_id"],
                             raw_text["enterprise_id"], raw_text["period"])
        crossed = crossed if crossed is not None else CrossFaults.of(keys)
        text, numbers = parsing.result()
    utility, account_id, month = keys.utility, keys.account_id, keys.month
    enterprise_ok = keys.enterprise_ok
    quantity, quantity_ok, _ = numbers["quantity"]
    production, production_ok, _ = numbers["production_quantity"]
    production_milli = pc.coalesce(production, quantity)

    def text_of(array: pa.Array, rows: np.ndarray) -> pd.Series:
        """The texts of the rows of a mask (indexed 0, 1, … like every detail part)."""
        return _string_series(array.filter(pa.array(rows)))

    # (reason, where, detail): the detail is built only for the lines that get that reason
    faults: list[tuple[str, np.ndarray, Callable[[np.ndarray], pd.Series | str]]] = []

    def fault(reason: str, where: np.ndarray | pa.Array,
              detail: Callable[[np.ndarray], pd.Series | str]) -> None:
        if isinstance(where, pa.Array | pa.ChunkedArray):
            where = pc.fill_null(where, False).to_numpy(zero_copy_only=False)
        faults.append((reason, np.asarray(where, dtype=bool), detail))

    def raw(name: str) -> Callable[[np.ndarray], pd.Series]:
        return lambda rows: _quoted(text_of(raw_text[name], rows))

    def num(values: np.ndarray, rows: np.ndarray) -> pd.Series:
        return pd.Series(values[rows]).astype(str)

    fault("unknown_utility", pc.is_null(utility), lambda rows: "column 'utility': expected "
          "electricity, water, 电 or 水, found " + raw("utility")(rows))
    fault("missing_account", pc.is_null(account_id),
          lambda rows: "column 'account_id': empty, expected the account number")
    fault("bad_enterprise_id", ~enterprise_ok, lambda rows: "column 'enterprise_id': expected "
          "an 18-character unified social credit code with a valid check character, found "
          + raw("enterprise_id")(rows))
    fault("wrong_period", pc.is_null(month), lambda rows: "column 'period': expected YYYY-MM or "
          "YYYYMM, found " + raw("period")(rows))
    if period is not None:
        fault("wrong_period", pc.not_equal(month, period), lambda rows: "column 'period': "
              f"expected the run's period {period}, found " + raw("period")(rows))
    fault("bad_number", pc.equal(text["quantity"], ""), lambda rows: "column 'quantity': "
          "empty, expected a non-negative decimal number")
    for name, scale in _NUMBERS:
        _, ok, why = numbers[name]
        fault("bad_number", ~ok, lambda rows, name=name, scale=scale, why=why:
              f"column '{name}': " + text_of(why, rows).fillna("")
              + ", found " + raw(name)(rows)
              + f"; expected a decimal ≥ 0 with at most {scale} decimal places")
    exceeds = pc.and_(pc.greater(production, quantity),
                      pa.array(quantity_ok & production_ok))
    fault("production_exceeds_total", exceeds, lambda rows: "column 'production_quantity': "
          + raw("production_quantity")(rows) + " exceeds quantity " + raw("quantity")(rows))

    lines_per_key, owners = crossed.lines_per_key, crossed.owners
    fault("duplicate_line", lines_per_key > 1, lambda rows: "(utility, account_id, period) = ("
          + text_of(utility, rows) + ", " + text_of(account_id, rows) + ", "
          + text_of(month, rows) + ") occurs on " + num(lines_per_key, rows) + " lines")

    fault("account_conflict", owners > 1, lambda rows: "account (" + text_of(utility, rows)
          + ", " + text_of(account_id, rows) + ") belongs to "
          + num(owners, rows) + " different enterprise ids")

    reason = np.full(lines.num_rows, -1, dtype=np.int16)
    for number, (_code, where, _why) in enumerate(faults):
        reason[where & (reason < 0)] = number
    rejected = reason >= 0
    at = np.flatnonzero(rejected)
    codes = np.empty(len(at), dtype=object)
    details = np.empty(len(at), dtype=object)
    for number, (code, _where, why) in enumerate(faults):
        first = reason == number
        if first.any():
            codes[reason[at] == number] = code
            found = why(first)
            details[reason[at] == number] = (found.to_numpy(dtype=object)
                                             if isinstance(found, pd.Series) else found)

    taken = pa.array(at, type=pa.int64())
    rejects = pd.DataFrame({
        "source": _string_series(lines["source"].take(taken)),
        "line": lines["line"].take(taken).to_numpy(),
        "reason_code": pd.array(codes, dtype=pd.StringDtype()),
        "detail": pd.array(details, dtype=pd.StringDtype()),
        "file_order": lines["file_order"].take(taken).to_numpy()})
    for name in COLUMNS:
        rejects[name] = _string_series(raw_text[name].take(taken))
    rejects = rejects.sort_values(["file_order", "line"], kind="stable").drop(
        columns="file_order").reset_index(drop=True)

    keep = pa.array(~rejected)
    clean = pd.DataFrame({
        "source": _string_series(lines["source"].filter(keep)),
        "line": lines["line"].filter(keep).to_numpy(),
        "raw_row": np.flatnonzero(~rejected),
        "utility": _string_series(utility.filter(keep)),
        "account_id": _string_series(account_id.filter(keep)),
        "enterprise_id": _string_series(keys.enterprise_id.filter(keep)),
        "period": _string_series(month.filter(keep)),
        "quantity_milli": _int_series(quantity.filter(keep), nullable=False),
        "production_milli": _int_series(production_milli.filter(keep), nullable=False),
        "quota_milli": _int_series(numbers["quota"][0].filter(keep), nullable=True),
        "base_price_micro": _int_series(numbers["base_price"][0].filter(keep), nullable=True),
    }, copy=False)  # fresh columns: taken as they are, not copied into one block
    return clean, rejects
