"""Price billing lines: a pure function of (lines, classification, components in force).

SPEC "Tariffs" and "Outputs of run". Every candidate surcharge is computed vectorized per
component; a line with any fault is rejected whole (none of its components is priced); among
components sharing a ``group`` only the largest amount of a line applies (DOMAIN: Hebei, no
stacking; ties go to the component listed first). The same function prices a whole month or one
partition of it, so a distributed run gives the same lines.

Joins are positional: enterprise ids are hashed once per call (Arrow dictionary encoding and
``index_in``) into positions in the classification table, so a million lines are joined with
numpy ``take``, never with string ``isin``/``.loc`` per component. Candidates stay integer
arrays until the end, where the surviving ones become one DataFrame and their text is taken
from a handful of distinct values.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pricing.billing.components import InForce
from pricing.billing.money import amount_fen, decimal_to_scaled
from pricing.billing.textindex import TextIndex, encoded_lookup, index_in
from pricing.spec.tariff import Flat, OverQuota, Stepped

NANO = 9
EXCESS_PRECISION = 6  # metric − threshold is rounded here so float noise cannot add a step

CANDIDATE_COLUMNS = ["row", "order", "component_id", "group", "band", "rulebook", "class",
                     "rule_id", "basis_milli", "rate_nano", "days", "days_in_month"]
FAULT_COLUMNS = ["row", "order", "reason_code", "detail"]
BLOCKING = ("unclassified", "conflict")
_STRING, _LARGE = pa.string(), pa.large_string()
_EMPTY_TEXT = pa.array([""], _LARGE)
_SPLIT_ROWS = 200_000  # lines from which enterprise ids are hashed by two threads


@dataclass
class Priced:
    """Surcharge candidates that survived, and the lines rejected while pricing."""

    surcharges: pd.DataFrame  # CANDIDATE_COLUMNS + amount_fen; `row` points into the lines
    faults: pd.DataFrame  # one row per rejected line: row, reason_code, detail
    enterprise_codes: np.ndarray | None = None  # per line: its enterprise's position in the
    # ClassificationIndex's ids (-1: not classified), when priced against a kept index


def _text(values: pd.Series | pd.Index, kind: pa.DataType = _STRING) -> pa.Array:
    """A text column as one Arrow array of ``kind`` (Arrow-backed columns convert without
    copy; ``large_string``, what pandas holds, keeps even the offsets); from its array, which
    Arrow converts without probing the Series (and hashing its index)."""
    array = pa.array(values.array, type=kind, from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _nullable(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """An integer column as (int64 values with 0 for missing, missing mask)."""
    missing = column.isna().to_numpy(dtype=bool)
    return column.to_numpy(dtype=np.int64, na_value=0), missing


def _first_positions(codes: np.ndarray) -> np.ndarray:
    """Where each code first appears, codes being numbered in order of first appearance
    (``pd.factorize``): where the running maximum grows."""
    seen = np.maximum.accumulate(codes)
    return np.flatnonzero(np.r_[len(codes) > 0, seen[1:] > seen[:-1]])


class ClassificationIndex:
    """The classification table as Arrow text and integer codes.

    Enterprise ids are hashed once here (and the lines' once in :class:`_Lines`); each
    rulebook is then a list of table rows, so joining it to the lines is numpy indexing.
    Built per call, or once by the caller for many calls on the same classification (a
    streamed run's pieces)."""

    def __init__(self, classification: pd.DataFrame,
                 register_rows: np.ndarray | None = None) -> None:
        ids = _text(classification["enterprise_id"])
        if register_rows is not None and len(register_rows) == len(ids):
            # ``Classification.rows``: one register row per enterprise, so the rows tell the
            # ids apart as integers; codes in order of first appearance, as Arrow's
            codes = pd.factorize(register_rows)[0].astype(np.int64)
            self.enterprise_codes = codes
            self.enterprise_ids = ids.take(pa.array(_first_positions(codes)))
        else:
            encoded = pc.dictionary_encode(ids, null_encoding="encode")
            self.enterprise_ids = encoded.dictionary
            self.enterprise_codes = encoded.indices.to_numpy(
                zero_copy_only=False).astype(np.int64)
        self.ids = TextIndex(self.enterprise_ids)  # hashed once, on the first large lookup
        classes = pc.dictionary_encode(_text(classification["class"]))
        self.class_codes = pc.fill_null(classes.indices, -1).to_numpy(
            zero_copy_only=False).astype(np.int64)
        self.class_names = [str(name) for name in classes.dictionary.to_pylist()]
        rows = len(classification)
        # A trailing "" answers for lines priced without a rulebook (table row ``rows``);
        # kept as the table holds them (``large_string``): what the surcharges wrap in pandas
        self.class_ = pa.concat_arrays([_text(classification["class"], _LARGE), _EMPTY_TEXT])
        self.rule_id = pa.concat_arrays([_text(classification["rule_id"], _LARGE), _EMPTY_TEXT])
        self.decided_by = _text(classification["decided_by"])
        self.blocked = pc.fill_null(pc.is_in(self.decided_by, value_set=pa.array(
            BLOCKING, pa.string())), False).to_numpy(zero_copy_only=False)
        codes, names = pd.factorize(classification["rulebook"])
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
        self.rulebook_rows = {str(name): order[bounds[i]:bounds[i + 1]]
                              for i, name in enumerate(names)}
        self.rows = rows
        self._verdict_of: dict[str, np.ndarray] = {}
        self._of_rulebook: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def rows_of(self, rulebook: str) -> np.ndarray:
        """The table rows of a rulebook (none for one that classified nobody)."""
        return self.rulebook_rows.get(rulebook, np.zeros(0, dtype=np.int64))

    def of_rulebook(self, rulebook: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A rulebook's table rows, their class codes and whether each blocks its lines;
        taken once per rulebook, whatever the lines (a province's pieces took them again,
        a million rows per rulebook, for every piece)."""
        if rulebook not in self._of_rulebook:
            rows = self.rows_of(rulebook)
            self._of_rulebook[rulebook] = rows, self.class_codes[rows], self.blocked[rows]
        return self._of_rulebook[rulebook]

    def verdict_of(self, rulebook: str) -> np.ndarray:
        """Per enterprise code (and a trailing -1 for none), its first row among the
        rulebook's rows, -1 if it has none; made once per rulebook, whatever the lines."""
        if rulebook not in self._verdict_of:
            codes = self.enterprise_codes[self.rows_of(rulebook)]
            verdict_of = np.full(len(self.enterprise_ids) + 1, -1, dtype=np.int32)
            verdict_of[codes] = np.arange(len(codes))
            if not (verdict_of[codes] == np.arange(len(codes))).all():  # an id seen twice
                enterprises, first = np.unique(codes, return_index=True)
                verdict_of[enterprises] = first
            self._verdict_of[rulebook] = verdict_of
        return self._verdict_of[rulebook]


@dataclass
class _Verdicts:
    """One rulebook's classification rows, and where each billing line's enterprise is.

    Text stays in the table's Arrow columns, addressed by ``table_rows``; the classes are
    integer codes into ``class_names`` so rates and class filters are looked up per distinct
    class, not per line."""

    table: ClassificationIndex
    table_rows: np.ndarray  # per verdict row: its row in the classification table
    class_codes: np.ndarray  # per verdict row, into class_names; -1 = missing
    class_names: list[str]
    blocked: np.ndarray  # unclassified or conflict: the lines are faults
    lines: np.ndarray  # the lines this rulebook classified, ascending
    at_line: np.ndarray  # per line in ``lines``: its verdict row

    def codes_in(self, classes: object) -> np.ndarray:
        """Per class code (plus a trailing slot for -1): is it one of ``classes``?"""
        wanted = set(classes)  # type: ignore[call-overload]
        return np.array([name in wanted for name in self.class_names] + [False])

    def enterprise_ids(self) -> pa.Array:
        """The enterprise id of each verdict row."""
        table = self.table
        return table.enterprise_ids.take(pa.array(table.enterprise_codes[self.table_rows]))


@dataclass
class _Lines:
    """The columns of the lines that pricing reads, as numpy arrays, built once per call."""

    frame: pd.DataFrame
    utility: pa.Array
    table: ClassificationIndex
    table_enterprise: np.ndarray  # per line: code into ``table.enterprise_ids``, -1 = none
    quantity: np.ndarray
    production: np.ndarray
    quota: np.ndarray
    quota_missing: np.ndarray
    base_price: np.ndarray
    base_price_missing: np.ndarray
    verdicts: dict[str, _Verdicts] = field(default_factory=dict)
    on_utility: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def of(cls, lines: pd.DataFrame, table: ClassificationIndex, kept: bool) -> _Lines:
        quota, quota_missing = _nullable(lines["quota_milli"])
        price, price_missing = _nullable(lines["base_price_micro"])
        return cls(lines, _text(lines["utility"]), table,
                   _table_codes(_text(lines["enterprise_id"]), table, kept),
                   lines["quantity_milli"].to_numpy(dtype=np.int64),
                   lines["production_milli"].to_numpy(dtype=np.int64), quota, quota_missing,
                   price, price_missing)

    def lines_on(self, utility: str) -> tuple[np.ndarray, np.ndarray]:
        """Positions and mask of the lines of one utility (asked once per component,
        computed once)."""
        if utility not in self.on_utility:
            mask = pc.fill_null(pc.equal(self.utility, utility), False).to_numpy(
                zero_copy_only=False)
            self.on_utility[utility] = np.flatnonzero(mask), mask
        return self.on_utility[utility]

    def verdicts_of(self, rulebook: str) -> _Verdicts:
        """A rulebook's verdicts; a line's is its enterprise's first row under the rulebook."""
        if rulebook not in self.verdicts:
            table = self.table
            table_rows, class_codes, blocked = table.of_rulebook(rulebook)
            at = table.verdict_of(rulebook)[self.table_enterprise]
            lines = np.flatnonzero(at >= 0)
            self.verdicts[rulebook] = _Verdicts(table, table_rows, class_codes,
                                                table.class_names, blocked, lines, at[lines])
        return self.verdicts[rulebook]


def _table_codes(ids: pa.Array, table: ClassificationIndex, kept: bool) -> np.ndarray:
    """Per line, the position of its enterprise id in the table's ids (int32, -1 = none).

    Hashing a million ids is the costliest step of pricing. Against a table kept for many
    calls (a streamed run's) and at least half as long as the lines (a province's), the
    table's hashes answer (:class:`TextIndex`, built on the first call); otherwise the two
    halves of a long column are encoded by two threads (Arrow's kernels release the GIL);
    each line's result depends on its own id only, so the split changes nothing."""
    if kept and len(ids) <= 2 * len(table.enterprise_ids):
        return table.ids.positions(ids).astype(np.int32)  # halves the traffic
    if len(ids) < _SPLIT_ROWS:
        return _codes_in(ids, table.enterprise_ids)
    half = len(ids) // 2
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(_codes_in, ids.slice(0, half), table.enterprise_ids)
        second = _codes_in(ids.slice(half), table.enterprise_ids)
        return np.concatenate([first.result(), second])


def _codes_in(ids: pa.Array, table_ids: pa.Array) -> np.ndarray:
    """:func:`_table_codes` of one slice: hash the ids once, look up only the distinct ones."""
    return encoded_lookup(ids, table_ids).astype(np.int32)


@dataclass
class _Base:
    """The lines a component looks at: positions, and the verdict each carries."""

    row: np.ndarray
    verdicts: _Verdicts | None = None  # None: a component without rulebook
    verdict: np.ndarray | None = None  # row in the rulebook's verdicts

    def take(self, keep: np.ndarray) -> _Base:
        return _Base(self.row[keep], self.verdicts,
                     None if self.verdict is None else self.verdict[keep])

    def class_codes(self) -> np.ndarray:
        assert self.verdicts is not None and self.verdict is not None
        return self.verdicts.class_codes[self.verdict]

    def table_rows(self, table: ClassificationIndex) -> np.ndarray:
        """Each line's classification row (``table.rows``, the empty class, without one)."""
        if self.verdicts is None or self.verdict is None:
            return np.full(len(self.row), table.rows, dtype=np.int64)
        return self.verdicts.table_rows[self.verdict]


@dataclass
class _Found:
    """One component's candidates as integer columns; text is attached once, at the end."""

    item: int  # position of the component in the list priced
    row: np.ndarray
    table_row: np.ndarray  # classification row, or ``ClassificationIndex.rows`` for none
    band: np.ndarray | int  # 0 = no band
    basis_milli: np.ndarray
    rate_nano: np.ndarray


def facts_read(components: list[InForce]) -> dict[str, list[str]]:
    """The facts pricing reads, per rulebook: the metrics of its stepped components and of
    their reductions. Nothing else of the classification's facts changes an amount."""
    read: dict[str, list[str]] = {}
    for item in components:
        comp = item.component
        if isinstance(comp, Stepped) and comp.rulebook:
            names = read.setdefault(comp.rulebook, [])
            for metric in (comp.metric, *([comp.reduction.metric] if comp.reduction else [])):
                if metric not in names:
                    names.append(metric)
    return read


def pricing_facts(facts: dict[str, pd.DataFrame], components: list[InForce]
                  ) -> dict[str, pd.DataFrame]:
    """Of the classification's facts, the columns pricing reads (:func:`facts_read`); prices
    exactly as all the facts do."""
    return {rulebook: facts[rulebook][[name for name in names if name in facts[rulebook]]]
            for rulebook, names in facts_read(components).items() if rulebook in facts}


def price_lines(lines: pd.DataFrame, classification: pd.DataFrame,
                facts: dict[str, pd.DataFrame], components: list[InForce],
                index: ClassificationIndex | None = None) -> Priced:
    """Price clean lines (``pricing.billing.extract`` columns) with a positional ``row`` key.

    ``classification``: the classification table (``enterprise_id, rulebook, class, rule_id,
    decided_by``) after overrides; ``facts``: per rulebook, metrics by enterprise_id;
    ``index``: :class:`ClassificationIndex` of ``classification`` when the caller has it.
    """
    table = index if index is not None else ClassificationIndex(classification)
    view = _Lines.of(lines.reset_index(drop=True), table, kept=index is not None)
    codes = view.table_enterprise if index is not None else None
    found: list[_Found] = []
    faults: list[pd.DataFrame] = []
    for number, item in enumerate(components):
        comp = item.component
        on_utility, of_utility = view.lines_on(comp.utility)
        if len(on_utility) == 0:
            continue
        if comp.rulebook is not None:
            base, blocked = _attach_class(view, of_utility, item)
            faults += blocked
            if comp.classes is not None:
                assert base.verdicts is not None
                base = base.take(base.verdicts.codes_in(comp.classes)[base.class_codes()])
        else:
            base = _Base(on_utility)
        if isinstance(comp, Flat):
            found += _flat(base, view, item, number)
        elif isinstance(comp, Stepped):
            stepped, fault = _stepped(base, view, facts.get(comp.rulebook or ""), item, number)
            found += stepped
            faults.append(fault)
        elif isinstance(comp, OverQuota):
            bands, fault = _over_quota(base, view, item, number)
            found += bands
            faults.append(fault)
        else:  # pragma: no cover - the model admits no other kind
            raise TypeError(comp)

    fault = _concat(faults, FAULT_COLUMNS)
    fault = fault.sort_values(["row", "order"], kind="stable").drop_duplicates("row")
    faulted = fault[["row", "reason_code", "detail"]].reset_index(drop=True)
    found = [part for part in found if len(part.row)]
    if not found:
        cand = _concat([], CANDIDATE_COLUMNS)
        cand = cand.assign(amount_fen=amount_fen(cand["basis_milli"], cand["rate_nano"],
                                                 cand["days"], cand["days_in_month"]))
        return Priced(cand.reset_index(drop=True), faulted, codes)
    return Priced(_surcharges(found, components, table, fault["row"].to_numpy()), faulted,
                  codes)


def _surcharges(found: list[_Found], components: list[InForce], table: ClassificationIndex,
                fault_rows: np.ndarray) -> pd.DataFrame:
    """CANDIDATE_COLUMNS + amount_fen of the candidates that survive: lines without a fault,
    the largest of each group, amounts above zero; one DataFrame, built once."""
    sizes = [len(part.row) for part in found]
    item = np.repeat(np.array([part.item for part in found], dtype=np.int64), sizes)
    row = np.concatenate([part.row for part in found]).astype(np.int64)
    band = np.concatenate([np.broadcast_to(np.asarray(part.band, dtype=np.int64), size)
                           for part, size in zip(found, sizes, strict=True)])
    table_row = np.concatenate([part.table_row for part in found])
    basis = np.concatenate([part.basis_milli for part in found]).astype(np.int64)
    rate = np.concatenate([part.rate_nano for part in found]).astype(np.int64)
    per_item = [(c.order, c.days, c.days_in_month) for c in components]
    order_of, days_of, month_days_of = (np.array(v, dtype=np.int64) for v in zip(*per_item,
                                                                                 strict=True))
    groups = [c.component.group or "" for c in components]
    group_number: dict[str, int] = {}
    group_of = np.array([group_number.setdefault(name, len(group_number)) if name else -1
                         for name in groups], dtype=np.int64)

    faulted = np.isin(row, fault_rows)
    if faulted.any():
        clean = np.flatnonzero(~faulted)
        item, row, band, table_row, basis, rate = (
            values[clean] for values in (item, row, band, table_row, basis, rate))
    order, days, month_days = order_of[item], days_of[item], month_days_of[item]
    fen = amount_fen(basis, rate, days, month_days).to_numpy(dtype=np.int64)
    keep = np.flatnonzero(_largest_in_group(row, group_of[item], order, fen) & (fen > 0))

    def text(values: list[str], codes: np.ndarray) -> pd.arrays.ArrowStringArray:
        return pd.arrays.ArrowStringArray(pa.array(values, pa.large_string())
                                          .take(pa.array(codes)))

    item, band, table_row = item[keep], band[keep], table_row[keep]
    bands = ["", *map(str, range(1, int(band.max(initial=0)) + 1))]
    return pd.DataFrame({
        "row": row[keep],
        "order": order[keep],
        "component_id": text([c.component.id for c in components], item),
        "group": text(groups, item),
        "band": text(bands, band),
        "rulebook": text([c.component.rulebook or "" for c in components], item),
        "class": pd.arrays.ArrowStringArray(table.class_.take(pa.array(table_row))),
        "rule_id": pd.arrays.ArrowStringArray(table.rule_id.take(pa.array(table_row))),
        "basis_milli": basis[keep],
        "rate_nano": rate[keep],
        "days": days[keep],
        "days_in_month": month_days[keep],
        "amount_fen": fen[keep],
    }, copy=False)  # fresh arrays: taken as they are, not copied into one block


def _attach_class(view: _Lines, of_utility: np.ndarray,
                  item: InForce) -> tuple[_Base, list[pd.DataFrame]]:
    """Lines of enterprises the rulebook classified; unclassified and conflicts are faults."""
    rulebook = item.component.rulebook
    assert rulebook is not None
    verdicts = view.verdicts_of(rulebook)
    row, at = verdicts.lines, verdicts.at_line
    on = of_utility[row]
    if not on.all():
        row, at = row[on], at[on]
    blocked = verdicts.blocked[at]
    if not blocked.any():
        return _Base(row, verdicts, at), []
    return (_Base(row[~blocked], verdicts, at[~blocked]),
            [_blocked_faults(verdicts, row[blocked], at[blocked], item)])


def _blocked_faults(verdicts: _Verdicts, row: np.ndarray, at: np.ndarray,
                    item: InForce) -> pd.DataFrame:
    """The faults of lines whose enterprise is unclassified or in conflict."""
    rulebook = item.component.rulebook
    table_rows = pa.array(verdicts.table_rows[at])
    decided_by = verdicts.table.decided_by.take(table_rows).to_numpy(zero_copy_only=False)
    rule_text = pc.fill_null(verdicts.table.rule_id.take(table_rows), "")
    return pd.DataFrame({
        "row": row, "order": item.order, "reason_code": decided_by,
        "detail": np.where(
            decided_by.astype(object) == "conflict",
            f"rulebook {rulebook}: rules " + rule_text.to_numpy(zero_copy_only=False)
            .astype(object) + " all hold under hit policy unique",
            f"rulebook {rulebook}: data missing and on_missing is unclassified")})


def _basis(view: _Lines, base: _Base, item: InForce) -> np.ndarray:
    column = view.production if item.component.basis == "production" else view.quantity
    return column[base.row]


def _flat(base: _Base, view: _Lines, item: InForce, number: int) -> list[_Found]:
    comp = item.component
    assert isinstance(comp, Flat)
    rates = {cls: decimal_to_scaled(rate, NANO) for cls, rate in comp.rates.items()}
    assert base.verdicts is not None
    rate_of = np.array([rates.get(name, -1) for name in base.verdicts.class_names] + [-1],
                       dtype=np.int64)
    rate = rate_of[base.class_codes()]  # code -1 (missing class) picks the trailing -1
    has_rate = rate >= 0
    base = base.take(has_rate)
    return [_candidates(base, view, _basis(view, base, item), rate[has_rate], number)]


def _stepped(base: _Base, view: _Lines, facts: pd.DataFrame | None, item: InForce,
             number: int) -> tuple[list[_Found], pd.DataFrame]:
    """DOMAIN: rate = increment × ceil((metric − threshold) / step), capped, then reduced."""
    comp = item.component
    assert isinstance(comp, Stepped)
    rate = np.zeros(len(base.row), dtype=np.int64)
    missing = np.ones(len(base.row), dtype=bool)
    if facts is not None and comp.metric in facts and len(base.row):
        by_enterprise = stepped_rates(comp, facts)
        verdict_ids = view.verdicts[comp.rulebook or ""].enterprise_ids()
        at_fact = np.append(index_in(verdict_ids, _text(facts.index)), -1)
        values = np.append(by_enterprise.to_numpy(dtype=np.int64, na_value=0), 0)
        absent = np.append(by_enterprise.isna().to_numpy(dtype=bool), True)
        assert base.verdict is not None
        fact_row = at_fact[base.verdict]
        rate, missing = values[fact_row], absent[fact_row]
    fault = pd.DataFrame({
        "row": base.row[missing], "order": item.order, "reason_code": "missing_metric",
        "detail": f"component {comp.id}: metric {comp.metric} of rulebook {comp.rulebook} "
                  "is missing for this enterprise"})
    keep = ~missing & (rate > 0)
    base = base.take(keep)
    return [_candidates(base, view, _basis(view, base, item), rate[keep], number)], fault


def stepped_rates(comp: Stepped, facts: pd.DataFrame) -> pd.Series:
    """Rate in nano-yuan per enterprise (index enterprise_id); <NA> where the metric is missing.

    Reduction: ``rate × (1 − per_point × points above 'above')``, not below zero; the reduced
    rate is rounded half up to the nano-yuan. A missing reduction metric earns no reduction.
    """
    metric = facts[comp.metric].astype("Float64")
    excess = (metric - float(comp.threshold)).round(EXCESS_PRECISION)
    steps = np.ceil(excess.to_numpy(dtype="float64", na_value=np.nan) / float(comp.step)
                    - 1e-12)
    steps = np.where(np.isnan(steps), np.nan, np.clip(steps, 0, None))
    rate = pd.Series(steps, index=facts.index).astype("Int64") * \
        decimal_to_scaled(comp.increment, NANO)
    if comp.cap is not None:
        rate = rate.clip(upper=decimal_to_scaled(comp.cap, NANO))
    if comp.reduction is not None:
        red = comp.reduction
        points = (facts[red.metric].astype("Float64") - float(red.above)).round(6)
        points_micro = (points.clip(lower=0).fillna(0) * 1_000_000).round().astype("int64")
        per_point_micro = decimal_to_scaled(red.per_point, 6)
        # factor = 1 − per_point × points, in units of 1e-12; Python ints avoid overflow.
        factor = (10**12 - per_point_micro * points_micro.astype(object)).clip(lower=0)
        present = rate.notna()
        reduced = rate[present].astype(object) * factor[present]
        rate.loc[present] = ((reduced + 5 * 10**11) // 10**12).astype("int64")
    return rate


def _over_quota(base: _Base, view: _Lines, item: InForce,
                number: int) -> tuple[list[_Found], pd.DataFrame]:
    """One candidate per band reached; each band prices its own slice of the excess."""
    comp = item.component
    assert isinstance(comp, OverQuota)
    quota, quantity = view.quota[base.row], view.quantity[base.row]
    over = ~view.quota_missing[base.row] & (quantity > quota)
    base, quota, quantity = base.take(over), quota[over], quantity[over]
    missing = view.base_price_missing[base.row]
    fault = pd.DataFrame({
        "row": base.row[missing], "order": item.order, "reason_code": "missing_base_price",
        "detail": f"component {comp.id}: quantity exceeds the quota but base_price is empty"})
    base, quota, quantity = base.take(~missing), quota[~missing], quantity[~missing]
    price = view.base_price[base.row]
    excess = quantity - quota
    found = []
    lower = np.zeros(len(base.row), dtype=np.int64)
    for band, spec in enumerate(comp.bands, start=1):
        if spec.upto_pct is None:
            upper = excess
        else:
            pct_milli = decimal_to_scaled(spec.upto_pct, 3)  # percent in 1e-3
            upper = (quota * pct_milli + 50_000) // 100_000  # half up to the milli-unit
        in_band = np.clip(np.minimum(excess, upper) - lower, 0, None)
        rate = price * decimal_to_scaled(spec.multiple, 3)
        reached = in_band > 0
        found.append(_candidates(base.take(reached), view, in_band[reached], rate[reached],
                                 number, band))
        lower = upper
    return found, fault


def _candidates(base: _Base, view: _Lines, basis_milli: np.ndarray, rate_nano: np.ndarray,
                number: int, band: int = 0) -> _Found:
    return _Found(number, base.row, base.table_rows(view.table), band,
                  np.asarray(basis_milli, dtype=np.int64), np.asarray(rate_nano, dtype=np.int64))


def _largest_in_group(row: np.ndarray, group: np.ndarray, order: np.ndarray,
                      fen: np.ndarray) -> np.ndarray:
    """Which candidates to keep: within a group (-1 = none), a line pays only its largest
    component (all its bands); ties go to the first ``order``. Sorts of integer keys, so
    a million candidates take milliseconds."""
    keep = np.ones(len(row), dtype=bool)
    grouped = np.flatnonzero(group >= 0)
    if len(grouped) == 0:
        return keep
    by_key = grouped[np.lexsort((order[grouped], group[grouped], row[grouped]))]
    key_row, key_group, key_order = row[by_key], group[by_key], order[by_key]
    new_key = np.ones(len(by_key), dtype=bool)
    new_key[1:] = ((key_row[1:] != key_row[:-1]) | (key_group[1:] != key_group[:-1])
                   | (key_order[1:] != key_order[:-1]))
    starts = np.flatnonzero(new_key)
    component = np.cumsum(new_key) - 1  # per sorted candidate: its (row, group, order)
    total = np.add.reduceat(fen[by_key], starts)
    first_row, first_group, first_order = key_row[starts], key_group[starts], key_order[starts]
    best = np.lexsort((first_order, -total, first_group, first_row))
    winner = np.ones(len(best), dtype=bool)
    winner[1:] = ((first_row[best][1:] != first_row[best][:-1])
                  | (first_group[best][1:] != first_group[best][:-1]))
    wins = np.zeros(len(starts), dtype=bool)
    wins[best[winner]] = True
    keep[by_key] = wins[component]
    return keep


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("row", "order") else "object")
                             for c in columns})
    return pd.concat(frames, ignore_index=True)
