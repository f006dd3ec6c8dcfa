"""The classification table (SPEC "classification.csv") and bureau overrides on top of it.

Every enterprise × rulebook in scope gets one row: its class, the rule that decided, how it was
decided and the evidence — the values the deciding rule read (or every rule read, when no rule
decided) — as compact JSON, so "why was enterprise X charged this?" has an answer in the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pricing.bytematrix import byte_matrix, take_text, word_matrix
from pricing.classify import engine as vectorized_engine
from pricing.classify import metrics
from pricing.classify.policy import Coded, Verdicts, verdicts
from pricing.decimaltext import scaled_text
from pricing.errors import DiffpriceError, ErrorList, InputError, raise_if_any

TABLE_COLUMNS = ["enterprise_id", "year", "district", "industry_code", "rulebook", "class",
                 "rule_id", "decided_by", "evidence"]
EVIDENCE_DECIMALS = 6
_OPEN_END = "9999-12"


@dataclass
class Classification:
    """``table``: SPEC classification.csv columns, all text; ``facts`` and ``outcomes``: per
    rulebook id, the typed fields + metrics and the rule outcomes, indexed by enterprise_id."""

    table: pd.DataFrame
    facts: dict[str, pd.DataFrame] = field(default_factory=dict)
    outcomes: dict[str, pd.DataFrame] = field(default_factory=dict)
    # per table row, its register row among the rows of the year (in register order; one
    # per enterprise): the enterprise's place, found without looking its id up
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def classify(compiled: list[Any], register: pd.DataFrame, year: int, *,
             engine: Literal["vectorized", "rete"] = "vectorized",
             source: str, keep: dict[str, list[str]] | None = None) -> Classification:
    """Classify the register rows of ``year`` under every rulebook, in its scope.

    Each register column is converted once for all rulebooks and each scope is a list of row
    positions, so nothing is copied per rulebook; the table is assembled once at the end.
    The vectorized engine runs two rulebooks at a time (Arrow and numpy release the GIL;
    rulebooks share nothing but the converted columns), and results are taken in rulebook
    order, so the table and the errors do not depend on which finished first.

    ``keep`` (a batch, which only writes the table and prices): of each rulebook's facts
    only these columns, and no rule outcomes; each rulebook lets the rest go as soon as its
    evidence is written (a province's are hundreds of megabytes)."""
    of_year = np.asarray((register["year"] == year).fillna(False), dtype=bool)
    rows = register if of_year.all() else register[of_year]
    ids = _arrow_text(rows["enterprise_id"])
    # the converted columns (a province's: hundreds of MB) go before the table is made
    done, id_rank = _books(compiled, metrics.TypedColumns(rows), ids, engine, source, keep)
    result = Classification(table=pd.DataFrame(columns=TABLE_COLUMNS, dtype="string"))
    raise_if_any([error for book in done for error in book.errors])
    for book, found in zip(compiled, done, strict=True):
        if found.facts is not None:
            result.facts[book.rulebook.id] = found.facts
        if found.outcomes is not None:
            result.outcomes[book.rulebook.id] = found.outcomes
    if done:
        result.table, result.rows = _table([found.part for found in done], rows, ids,
                                           id_rank, year,
                                           [book.rulebook.id for book in compiled])
    return result


def _books(compiled: list[Any], typed: metrics.TypedColumns, ids: pa.Array,
           engine: Literal["vectorized", "rete"], source: str,
           keep: dict[str, list[str]] | None) -> tuple[list[_Book], np.ndarray]:
    """Every rulebook classified (in rulebook order), and the dense rank of ``ids``."""
    if engine == "rete":
        from pricing.classify.rete_engine import ReteEngine

        rete = ReteEngine()
        return ([_classify_book(book, number, typed, source, rete.rule_outcomes, keep)
                 for number, book in enumerate(compiled)], _dense_rank(ids))
    with ThreadPoolExecutor(max_workers=2) as pool:
        ranking = pool.submit(_dense_rank, ids)
        done = list(pool.map(lambda item: _classify_book(
            item[1], item[0], typed, source, vectorized_engine.rule_outcomes, keep),
            enumerate(compiled)))
        return done, ranking.result()


@dataclass(frozen=True)
class _Part:
    """One rulebook's rows: register positions, rulebook number, verdicts and evidence."""

    at: np.ndarray
    book: int
    verdicts: Verdicts
    evidence: pa.Array


@dataclass
class _Book:
    """One rulebook classified, or the input errors that stopped it."""

    errors: list[DiffpriceError]
    facts: pd.DataFrame | None = None
    outcomes: pd.DataFrame | None = None
    part: _Part | None = None


def _classify_book(book: Any, number: int, typed: metrics.TypedColumns, source: str,
                   rule_outcomes: Callable[[Any, pd.DataFrame], pd.DataFrame],
                   keep: dict[str, list[str]] | None = None) -> _Book:
    at = np.flatnonzero(typed.in_scope(book.rulebook))
    try:
        facts = metrics.scope_facts(book, typed, at, source=source)
    except ErrorList as error:
        return _Book(error.errors)
    except InputError as error:
        return _Book([error])
    outcomes = rule_outcomes(book, facts)
    found = verdicts(book, outcomes)
    part = _Part(at, number, found, evidence(book, facts, found.rule))
    if keep is None:
        return _Book([], facts, outcomes, part)
    names = keep.get(book.rulebook.id)
    kept = None if names is None else facts[[name for name in names if name in facts]]
    return _Book([], kept, None, part)


def _table(parts: list[_Part], rows: pd.DataFrame, ids: pa.Array, id_rank: np.ndarray,
           year: int, book_ids: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The classification table sorted by enterprise_id, then rulebook, and each of its
    rows' position in ``rows``: the order comes from the ranks of the year's ids
    (``id_rank``) and of the rulebook ids, not a sort of 2 text keys."""
    at = np.concatenate([part.at for part in parts])
    book = np.concatenate([np.full(len(part.at), part.book, dtype=np.int64)
                           for part in parts])
    book_rank = _dense_rank(pa.array(book_ids, type=pa.string()))
    rank_at = id_rank[at].astype(np.int64)
    order = _table_order([len(part.at) for part in parts], rank_at,
                         [int(book_rank[part.book]) for part in parts])
    if order is None:  # an id twice in a rulebook's rows: one stable sort of both keys
        key = rank_at * (int(book_rank.max(initial=0)) + 1) + book_rank[book].astype(np.int64)
        order = np.argsort(key, kind="stable")
    at_row = at[order]
    table = pa.table({
        "enterprise_id": take_text(ids, at_row),
        "year": pa.repeat(pa.scalar(str(year), pa.string()), len(order)),
        "district": take_text(_arrow_text(rows["district"]), at_row),
        "industry_code": take_text(_arrow_text(rows["industry_code"]), at_row),
        "rulebook": pa.array(book_ids, type=pa.string()).take(pa.array(book[order])),
        **{column: _coded_text([getattr(part.verdicts, attribute) for part in parts], order)
           for column, attribute in (("class", "class_"), ("rule_id", "rule_id"),
                                     ("decided_by", "decided_by"))},
        "evidence": pa.concat_arrays([part.evidence for part in parts]).take(pa.array(order)),
    })
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get), at_row


def _table_order(sizes: list[int], id_rank: np.ndarray, book_rank: list[int]
                 ) -> np.ndarray | None:
    """The rows, in rulebook parts of ``sizes`` rows one after the other, ordered by
    ``id_rank`` and then by their part's ``book_rank``: what a stable sort on the two gives,
    placed without sorting (a province's 1.25M rows: 0.12 s of argsort). Each id's rows go
    to a run of places (ids counted); the parts are placed in rulebook order, each row in
    the next free place of its id's run. None when an id has two rows in one part, which a
    register of one row per enterprise and year never gives."""
    bounds = np.cumsum([0, *sizes])
    starts = np.zeros(int(id_rank.max(initial=0)) + 2, dtype=np.int64)
    np.cumsum(np.bincount(id_rank, minlength=len(starts) - 1), out=starts[1:])
    free = starts[:-1].copy()
    order = np.empty(len(id_rank), dtype=np.int64)
    for part in sorted(range(len(sizes)), key=book_rank.__getitem__):
        ranks = id_rank[bounds[part]:bounds[part + 1]]
        order[free[ranks]] = np.arange(bounds[part], bounds[part + 1])
        free[ranks] += 1
    if not np.array_equal(free, starts[1:]):
        return None
    return order


def _coded_text(columns: list[Coded], order: np.ndarray) -> pa.Array:
    """The rulebooks' coded columns end to end, taken in ``order``: the codes are renumbered
    into one list of words and taken, and each text is made once, in its final place."""
    words = list(dict.fromkeys(word for column in columns for word in column.words))
    number = {word: position for position, word in enumerate(words)}
    codes = np.concatenate([np.array([number[word] for word in column.words],
                                     dtype=np.int64)[column.codes] if len(column.words)
                            else np.zeros(len(column.codes), dtype=np.int64)
                            for column in columns])
    return pa.array(words, type=pa.string()).take(pa.array(codes[order]))


def _dense_rank(text: pa.Array) -> np.ndarray:
    """Rank of each text in Arrow's sort order (missing last, all equal), ties sharing one,
    from 1 (Arrow's ``rank``).

    Texts of one byte width up to 32 (credit codes: 18) are ranked on their bytes read as
    big-endian 64-bit words, zero-padded, which order as the bytes do: one numpy sort of
    integer keys, where Arrow compares a province's million ids as strings (0.24 against
    0.39-0.44 s)."""
    matrix = byte_matrix(text)
    if matrix is None or matrix.shape[1] > 32:
        return pc.rank(text, tiebreaker="dense").to_numpy()
    keys = word_matrix(matrix, big_endian=True)
    order = np.lexsort(keys.T[::-1])  # the last key sorts first: the first word leads
    ordered = keys[order]
    new = np.r_[True, (ordered[1:] != ordered[:-1]).any(axis=1)]
    rank = np.empty(len(order), dtype=np.uint64)
    rank[order] = np.cumsum(new)
    return rank


def _arrow_text(values: pd.Series | pd.Index) -> pa.Array:
    """Text as one Arrow string array (Arrow-backed columns convert without copying)."""
    array = pa.array(values.astype("string"), type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def evidence(compiled: Any, facts: pd.DataFrame, rule: np.ndarray) -> pa.Array:
    """Compact JSON of the names read by the deciding rule (``rule``: its position in
    ``compiled.rules``, −1 when no single rule decided), or by all rules otherwise.

    Rows are grouped by the name list they show; each group is one Arrow join over only its
    rows, and each name's text is formatted once for the rows that show it.
    """
    if len(rule) == 0:
        return pa.array([], type=pa.string())
    every = list(dict.fromkeys(n for names in compiled.reads.values() for n in names))
    lists = [list(compiled.reads[r.id]) for r, _node in compiled.rules] + [every]
    shown = np.where(rule >= 0, rule, len(lists) - 1)
    order = np.argsort(shown, kind="stable")
    groups, starts = np.unique(shown[order], return_index=True)
    bounds = [*starts[1:], len(order)]
    texts = {name: _Texts(facts[name], compiled.types.get(name)) for name in every}
    pieces = [_joined(texts, lists[group], order[start:stop])
              for group, start, stop in zip(groups, starts, bounds, strict=True)]
    back = np.empty(len(order), dtype=np.int64)
    back[order] = np.arange(len(order))
    return pa.concat_arrays(pieces).take(pa.array(back))


def _joined(texts: dict[str, _Texts], names: list[str], at: np.ndarray) -> pa.Array:
    """``{"a":1,"b":"x"}`` for the rows at ``at``: one join of key literals and value texts."""
    if not names:
        return pa.repeat(pa.scalar("{}", pa.string()), len(at))
    parts: list[Any] = ["{"]
    for number, name in enumerate(names):
        parts += ["," if number else "", json.dumps(name, ensure_ascii=False) + ":",
                  texts[name].at(at)]
    parts += ["}", ""]
    return pc.binary_join_element_wise(*parts)


class _Texts:
    """A facts column ready to be shown as JSON values for any subset of rows."""

    def __init__(self, column: pd.Series, kind: str | None) -> None:
        self.kind = kind
        if kind == "number":
            self.floats = column.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        elif kind == "boolean":
            truth = column.astype("boolean")
            self.codes = np.where(truth.isna().to_numpy(), 2,
                                  truth.fillna(False).to_numpy(dtype=bool).astype(np.int64))
            self.words = pa.array(["false", "true", "null"], type=pa.string())
        else:
            codes, uniques = pd.factorize(column.astype("string"))
            self.words = pa.array([json.dumps(u, ensure_ascii=False) for u in uniques]
                                  + ["null"], type=pa.string())
            self.codes = np.where(codes < 0, len(uniques), codes)

    def at(self, rows: np.ndarray) -> pa.Array:
        if self.kind == "number":
            return _number_text(self.floats[rows])
        return self.words.take(pa.array(self.codes[rows]))


def format_numbers(values: pd.Series) -> np.ndarray:
    """Plain decimals, at most 6 decimals, no exponent, no trailing zeros; missing = null."""
    floats = values.to_numpy(dtype="float64", na_value=np.nan)
    return _number_text(floats).to_numpy(zero_copy_only=False).astype(object)


def _number_text(floats: np.ndarray) -> pa.Array:
    """:func:`format_numbers` of float64 values (NaN = missing) as Arrow text."""
    missing = np.isnan(floats)
    scaled = np.round(np.where(missing, 0.0, floats) * 10**EVIDENCE_DECIMALS)
    fits = np.abs(scaled) < 2**62
    micro = np.where(fits, scaled, 0).astype(np.int64)
    # the money formatter's digits: a sixth less time than Arrow's casts and joins
    text = scaled_text(micro, np.zeros(len(micro), dtype=bool), EVIDENCE_DECIMALS,
                       trim=True).cast(pa.string())
    huge = np.flatnonzero(~fits & ~missing)
    if len(huge):  # beyond ±4.6e12: exact Decimal text
        exact = text.to_numpy(zero_copy_only=False).astype(object)
        for i in huge:
            exact[i] = format(Decimal(repr(float(floats[i]))).to_integral_value(ROUND_HALF_UP), "f")
        text = pa.array(exact, type=pa.string())
    return pc.if_else(pa.array(missing), "null", text)


def apply_overrides(table: pd.DataFrame, overrides: pd.DataFrame, period: str, *,
                    source: str = "overrides") -> pd.DataFrame:
    """Replace the computed class by bureau decisions in force in ``period`` (SPEC
    "Overrides"): ``decided_by=override``, rule_id empty, evidence keeps the reference, the
    reason and the computed class. Two overrides covering one enterprise × rulebook × month
    is an error naming both lines."""
    if overrides is None or overrides.empty:
        return table
    end = overrides["valid_to"].astype("string").fillna(_OPEN_END)
    start = overrides["valid_from"].astype("string")
    active = overrides[((start <= period) & (end >= period)).fillna(False).astype(bool)]
    lines = (active["line"] if "line" in active else pd.Series(active.index + 2,
                                                               index=active.index))
    doubled = active.duplicated(["enterprise_id", "rulebook"], keep=False)
    if doubled.any():
        errors: list[DiffpriceError] = []
        for (eid, book), group in active[doubled].groupby(["enterprise_id", "rulebook"]):
            found = sorted(int(x) for x in lines[group.index])
            errors.append(InputError(source, found[-1], None,
                                     f"overrides at lines {' and '.join(map(str, found))} both "
                                     f"cover {eid} / {book} in {period}"))
        raise_if_any(errors)
    if active.empty:
        return table
    result = table.copy()
    # overrides are a handful of bureau decisions: look only at their enterprises' rows
    candidates = np.flatnonzero(result["enterprise_id"].astype(str).isin(
        set(active["enterprise_id"].astype(str))).to_numpy(dtype=bool))
    found = {(str(result["enterprise_id"].iat[i]), str(result["rulebook"].iat[i])):
             result.index[i] for i in candidates}
    for _, row in active.iterrows():
        hit = found.get((str(row["enterprise_id"]), str(row["rulebook"])))
        if hit is None:
            continue  # not classified under that rulebook this year: nothing to replace
        computed = result.at[hit, "class"]
        result.loc[hit, ["class", "rule_id", "decided_by"]] = [row["class"], "", "override"]
        result.at[hit, "evidence"] = json.dumps(
            {"reference": _plain(row["reference"]), "reason": _plain(row["reason"]),
             "computed": _plain(computed)},
            separators=(",", ":"), ensure_ascii=False)
    return result


def _plain(value: Any) -> Any:
    return None if value is None or value is pd.NA or (isinstance(value, float)
                                                       and np.isnan(value)) else str(value)
