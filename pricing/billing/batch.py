"""The monthly batch (SPEC "diffprice run"): classify, price, write an auditable run directory.

Flow: policy → register → classification (+ overrides) → extract → price → outputs. Every
billing line ends in exactly one place: priced, unpriced (owes nothing) or rejected, and the
manifest proves it (``billing_rows == priced_rows + unpriced_rows + rejected_rows``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pricing import __version__
from pricing.billing.components import InForce, in_force, month_bounds
from pricing.billing.crosscheck import sort_key
from pricing.billing.extract import Extract, arrow_text, raw_of, read_extracts
from pricing.billing.money import format_fixed, format_trimmed
from pricing.billing.outputs import RunDirectory, run_id, sha256_file, write_csv, write_manifest
from pricing.billing.overrides import read_overrides
from pricing.billing.price import ClassificationIndex, Priced, facts_read, price_lines
from pricing.billing.register import read_register
from pricing.billing.textindex import TextIndex, encoded_lookup
from pricing.bytematrix import take_text
from pricing.catalog import Catalog
from pricing.classify.table import Classification, apply_overrides, classify
from pricing.errors import InputError, RejectRateExceeded, raise_if_any
from pricing.progress import SILENT, Progress
from pricing.spec.tariff import UNITS

if TYPE_CHECKING:
    from pricing.billing.distributed import ClusterPricer
    from pricing.billing.prefetch import Prefetch

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
    progress: Progress = SILENT
    chunk_lines: int = 1_000_000  # extracts with more lines are streamed
    piece_lines: int | None = None  # lines per streamed piece; None: chunk_lines
    prefetched: Prefetch | None = None  # files the CLI started reading at its start

    @property
    def lines_per_piece(self) -> int:
        return self.piece_lines or self.chunk_lines

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
    register: pd.DataFrame | None = None  # the register as read, every year
    places: TextIndex | None = None  # place_index(enterprises), when made once per run
    place_of_code: np.ndarray | None = None  # per id of the kept ClassificationIndex (and a
    # last -1): its row in the places, when priced.enterprise_codes refer to that index
    raw: pa.Table | None = None  # the lines' text as read, at their raw_row (Extract.raw)


def place_index(enterprises: pd.DataFrame) -> TextIndex:
    """Where each enterprise id is in the register's places (district, industry code)."""
    return TextIndex(arrow_text(enterprises.index))


def compute_month(opts: RunOptions, catalog: Catalog | None = None, *,
                  lean: bool = False) -> MonthResult:
    """Classify and price one month in memory (no files written).

    The extracts are read and validated in a second thread while the register is classified:
    both are independent until pricing, and Arrow's CSV reader and kernels release the GIL.
    Errors keep their order: the register's and the rulebooks' are raised first. ``lean``
    (the batch, which writes only the table) keeps of the classification no rule outcomes
    and only the facts pricing reads (:func:`pricing.billing.price.facts_read`); ``explain``
    and ``sweep`` need them all.
    """
    catalog = catalog or opts.catalog
    if opts.prefetched is not None and opts.prefetched.reads_extracts:  # checked there
        return _compute_month(opts, catalog, opts.prefetched.extract(opts.period), lean)
    with ThreadPoolExecutor(max_workers=1) as pool:
        reading = pool.submit(read_extracts, opts.billing, period=opts.period,
                              encoding=opts.input_encoding)
        try:
            return _compute_month(opts, catalog, reading, lean)
        finally:
            reading.cancel()


@dataclass
class Classified:
    """The month's policy applied to the register: what pricing every line needs."""

    classification: Classification
    inputs: list[dict]
    enterprises: pd.DataFrame  # district, industry_code by enterprise_id
    register: pd.DataFrame | None  # None once a streamed run has let it go


def classify_month(opts: RunOptions, catalog: Catalog,
                   keep: dict[str, list[str]] | None = None) -> Classified:
    """Read and classify the register, apply the overrides (register errors come first);
    ``keep``: the facts to keep, as :func:`pricing.classify.table.classify` takes it."""
    step = opts.progress.step
    step(f"reading the register {opts.register.name}")
    register = read_register(opts.register, encoding=opts.input_encoding,
                             prefetched=opts.prefetched)
    first, last = month_bounds(opts.period)
    compiled = catalog.active(str(first), str(last))
    step(f"classifying {register.rows} register rows under {len(compiled)} rulebooks")
    classification = classify(compiled, register.frame, opts.assessment_year,
                              engine=opts.engine, source=str(opts.register), keep=keep)
    inputs = [input_entry("register", opts.register, register.sha256, register.rows)]
    if opts.overrides is not None:
        overrides = read_overrides(opts.overrides, encoding=opts.input_encoding)
        _check_overrides(overrides, catalog, str(opts.overrides))
        classification.table = apply_overrides(classification.table, overrides, opts.period)
        inputs.append(input_entry("overrides", opts.overrides, sha256_file(opts.overrides),
                             len(overrides)))
    frame = register.frame
    # one row per enterprise and year (read_register rejects a repeated pair): the year's
    # places need no deduplication, and only their three columns are taken
    enterprises = frame.loc[(frame["year"] == opts.assessment_year).to_numpy(),
                            ["enterprise_id", "district", "industry_code"]
                            ].set_index("enterprise_id")
    return Classified(classification, inputs, enterprises, register.frame)


def price_clean(opts: RunOptions, lines: pd.DataFrame, classified: Classified,
                components: list[InForce], pricer: ClusterPricer | None = None,
                index: ClassificationIndex | None = None) -> Priced:
    """Price clean lines in this process or, with ``--cluster``, on the cluster (through
    ``pricer`` when one is open); ``index`` is the classification's, when built already."""
    classification = classified.classification
    if pricer is not None:
        return pricer.price(lines)
    if opts.cluster:
        from pricing.billing.distributed import price_on_cluster

        return price_on_cluster(opts.cluster, lines, classification.table,
                                classification.facts, components)
    return price_lines(lines, classification.table, classification.facts, components, index)


def _compute_month(opts: RunOptions, catalog: Catalog, reading: Future[Extract],
                   lean: bool = False) -> MonthResult:
    components = in_force(catalog.tariffs, opts.period)
    classified = classify_month(opts, catalog, facts_read(components) if lean else None)
    # indexed while the lines may still be checked: pricing then looks up no table id, nor
    # surcharge_table any place (as a streamed run does once for all its pieces)
    index, placed = kept_index(opts, classified)
    opts.progress.step("reading and checking the billing extracts")
    extract = reading.result()
    inputs = list(classified.inputs)
    for path, sha, rows in extract.inputs:
        inputs.append(input_entry("billing", Path(path), sha, rows))
    lines = extract.clean.reset_index(drop=True)
    opts.progress.step(f"pricing {len(lines)} valid lines with {len(components)} components")
    priced = price_clean(opts, lines, classified, components, index=index)
    rejects = all_rejects(extract.rejects, lines, priced, extract.raw)
    billing_rows = len(extract.clean) + len(extract.rejects)
    return MonthResult(classified.classification, lines, priced, rejects, billing_rows, inputs,
                       classified.enterprises, classified.register, raw=extract.raw,
                       place_of_code=placed)


def run_month(opts: RunOptions, out: Path) -> dict:
    """The whole ``diffprice run``: returns the manifest that was written.

    Extracts with more lines than ``opts.chunk_lines`` are streamed in pieces
    (:mod:`pricing.billing.stream`); the files are the same either way.
    """
    from pricing.billing.stream import needs_streaming, run_streamed

    scans = needs_streaming(opts.billing, opts.chunk_lines, opts.input_encoding,
                            opts.prefetched)
    if scans is not None:
        return run_streamed(opts, out, scans)
    month = compute_month(opts, lean=True)
    counts = counts_of(month)
    failed = reject_rate_exceeded(opts, counts)
    encoding = ENCODINGS[opts.encoding]
    outputs = []
    opts.progress.step(f"writing the run directory {out}")
    with RunDirectory(out) as run_dir:
        sha, rows = write_csv(month.rejects[REJECT_COLUMNS], run_dir.path("rejects.csv"), encoding)
        outputs.append({"name": "rejects.csv", "sha256": sha, "rows": rows})
        if not failed:
            outputs += _write_priced(month, run_dir, encoding)
        written = manifest(opts, month.inputs, counts, fen_by_utility(month), outputs,
                           "failed" if failed else "ok")
        write_manifest(run_dir.path("manifest.json"), written)
    if failed:
        raise_reject_rate(opts, counts, out)
    return written


def reject_rate_exceeded(opts: RunOptions, counts: dict[str, int]) -> bool:
    rate = counts["rejected_rows"] / counts["billing_rows"] if counts["billing_rows"] else 0.0
    return rate > opts.max_reject_rate


def raise_reject_rate(opts: RunOptions, counts: dict[str, int], out: Path) -> None:
    rate = counts["rejected_rows"] / counts["billing_rows"]
    raise RejectRateExceeded(
        f"{counts['rejected_rows']} of {counts['billing_rows']} billing lines rejected "
        f"({rate:.1%}), more than --max-reject-rate {opts.max_reject_rate:.1%}; only "
        f"rejects.csv and manifest.json were written to {out}")


def _write_priced(month: MonthResult, run_dir: RunDirectory, encoding: str) -> list[dict]:
    """surcharges.csv, classification.csv and summary.csv, in that manifest order.

    Two at a time: classification.csv is written while the surcharge table is built, and the
    summary is built and written while surcharges.csv is; Arrow and numpy release the GIL.
    """
    def written(name: str, frame: pd.DataFrame | Callable[[], pd.DataFrame]) -> dict:
        frame = frame() if callable(frame) else frame
        sha, rows = write_csv(frame, run_dir.path(name), encoding)
        return {"name": name, "sha256": sha, "rows": rows}

    with ThreadPoolExecutor(max_workers=1) as pool:
        classification = pool.submit(written, "classification.csv", month.classification.table)
        surcharges = surcharge_table(month)
        classification.result()  # one writer at a time beside the main thread
        columns = surcharges[SURCHARGE_COLUMNS]  # a copy: the two threads share no frame
        summary = pool.submit(written, "summary.csv", lambda: summary_table(surcharges))
        first = written("surcharges.csv", columns)
        return [first, classification.result(), summary.result()]


def surcharge_table(month: MonthResult, ordered: bool = True) -> pd.DataFrame:
    """SPEC surcharges.csv: one row per line × component (× band), sorted, amounts formatted.

    Built on Arrow arrays and integer keys: the line texts are taken (not copied into Python
    strings), the sort is on integer ranks of the keys (:func:`surcharge_order`), and rates
    and prorations, which repeat a handful of values, are formatted once per distinct value.
    ``ordered=False`` leaves the rows unsorted, for a streamed run that sorts whole buckets
    later.
    """
    cand = month.priced.surcharges
    lines = month.lines
    line_rows = cand["row"].to_numpy(dtype=np.int64)
    if ordered:  # the account of each priced line ranked once, however many rows it has
        used = np.zeros(len(lines), dtype=bool)
        used[line_rows] = True
        priced = np.flatnonzero(used)
        accounts = pa.table({name: take_text(arrow_text(lines[name]), priced)
                             for name in ("period", "utility", "account_id")})
        components = pa.table({"component_id": arrow_text(cand["component_id"]),
                               "band": arrow_text(cand["band"]),
                               "order": cand["order"].to_numpy(dtype=np.int64)})
        order = surcharge_order(accounts, components, (np.cumsum(used) - 1)[line_rows])
        cand = cand.take(order)
        line_rows = line_rows[order]
    text = {name: take_text(arrow_text(lines[name]), line_rows)
            for name in ("period", "utility", "account_id")}
    enterprise = take_text(arrow_text(lines["enterprise_id"]), line_rows)
    places = month.enterprises
    found = _places_of(month, enterprise, line_rows)
    at_place = pa.array(found, mask=found < 0)
    utility = text["utility"]
    units = pa.array(list(UNITS.values()), pa.string())
    return pd.DataFrame({
        "period": _series(text["period"]),
        "utility": _series(utility),
        "account_id": _series(text["account_id"]),
        "enterprise_id": _series(enterprise),
        "district": _series(pc.fill_null(pc.take(arrow_text(places["district"]), at_place),
                                         "")),
        "industry_code": _series(pc.fill_null(pc.take(arrow_text(places["industry_code"]),
                                                      at_place), "")),
        "rulebook": _series(arrow_text(cand["rulebook"])),
        "class": _series(arrow_text(cand["class"])),
        "rule_id": _series(pc.fill_null(arrow_text(cand["rule_id"]), "")),
        "component_id": _series(arrow_text(cand["component_id"])),
        "band": _series(arrow_text(cand["band"])),
        "basis_quantity": format_trimmed(cand["basis_milli"].reset_index(drop=True), 3),
        "unit": _series(pc.take(units, pc.index_in(utility, value_set=pa.array(list(UNITS))))),
        "rate": _per_distinct(cand["rate_nano"].to_numpy(dtype=np.int64),
                              lambda values: format_trimmed(pd.Series(values), 9)),
        "proration": _proration(cand),
        "amount": format_fixed(cand["amount_fen"].reset_index(drop=True), 2),
        "_fen": cand["amount_fen"].to_numpy(dtype=np.int64),
        "_order": cand["order"].to_numpy(dtype=np.int64),
        "_row": line_rows,
        "_place": found,
        "_qty": lines["quantity_milli"].to_numpy(dtype=np.int64)[line_rows],
    }, copy=False)  # nothing here is written to again: no copy into blocks


def _places_of(month: MonthResult, enterprise: pa.Array, line_rows: np.ndarray) -> np.ndarray:
    """Each surcharge row's enterprise's row in the register's places, -1 if none.

    A streamed run maps the classification's ids to places once; a piece's rows then take
    their place from the code pricing found for their line, and only the lines of
    enterprises the classification lacks (priced by a component without rulebook) are
    looked up by id."""
    codes = month.priced.enterprise_codes
    if month.place_of_code is not None and codes is not None:
        line_code = codes[line_rows]
        found = month.place_of_code[line_code]  # code -1 takes the trailing -1
        unknown = np.flatnonzero(line_code < 0)
        if len(unknown):
            found[unknown] = _looked_up(month, enterprise.take(pa.array(unknown)))
        return found
    return _looked_up(month, enterprise)


def _looked_up(month: MonthResult, enterprise: pa.Array) -> np.ndarray:
    if month.places is not None:  # hashes kept for the run
        return month.places.positions(enterprise)
    return encoded_lookup(enterprise, arrow_text(month.enterprises.index))


def kept_index(opts: RunOptions, classified: Classified
               ) -> tuple[ClassificationIndex | None, np.ndarray | None]:
    """The classification's index, made once for all the lines a run prices, and the place
    of each of its ids (:func:`place_of_code`); neither with ``--cluster``, whose workers
    price with the verdicts they are sent."""
    if opts.cluster:
        return None, None
    verdicts = classified.classification
    index = ClassificationIndex(verdicts.table, verdicts.rows)
    return index, place_of_code(index, verdicts.rows)


def place_of_code(index: ClassificationIndex, rows: np.ndarray) -> np.ndarray:
    """Per id of ``index`` (and a trailing -1 for none), its row in the places.

    ``rows``: per row of the table ``index`` was made of, its register row among the year's
    (:attr:`Classification.rows`). The places are those rows, one per enterprise and in
    the same order (:func:`classify_month`), so that is the enterprise's place: no id is
    looked up."""
    placed = np.full(len(index.enterprise_ids) + 1, -1, dtype=np.int64)
    placed[index.enterprise_codes] = rows
    return placed


def surcharge_order(accounts: pa.Table, components: pa.Table,
                    line: np.ndarray | None = None) -> np.ndarray:
    """The row order of surcharges.csv: by ``period``, ``utility``, ``account_id`` (columns
    of ``accounts``), then ``component_id``, ``band`` and the component's ``order`` (columns
    of ``components``, one row per surcharge line).

    Each text key is ranked (:func:`_rank`) and the rows sorted on the integer ranks: the
    account as one text key, utility NUL account_id (:func:`sort_key`, ordered as the pair),
    the period only where it varies (a run prices one month), and component ids and bands,
    which repeat a handful of values, ranked once per distinct value. ``line``, when given,
    is each row's row in ``accounts`` (the rows of one billing line share its account), so
    an account is ranked once however many surcharge lines it has; else the two tables are
    row for row.
    """
    def column(table: pa.Table, name: str) -> pa.Array:
        values = table[name]
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values

    def per_row(ranks: np.ndarray) -> np.ndarray:
        return ranks if line is None else ranks[line]

    keys = [column(components, components.column_names[-1]).to_numpy(zero_copy_only=False),
            _rank(column(components, "band"), few=True),
            _rank(column(components, "component_id"), few=True),
            per_row(_rank(sort_key(column(accounts, "utility"),
                                   column(accounts, "account_id"))))]
    period = column(accounts, "period")
    if pc.count_distinct(period, mode="all").as_py() > 1:
        keys.append(per_row(_rank(period, few=True)))
    return np.lexsort(keys)  # the last key is the first sorted on


def _rank(values: pa.Array, few: bool = False) -> np.ndarray:
    """Dense ascending rank of each value in Arrow's text order (equal values equal ranks,
    missing values after all others).

    ``few``: the values repeat a handful of distinct ones, so they are hashed and only the
    distinct ones sorted; otherwise (account keys, nearly all distinct) one sort, then
    neighbours compared, which costs a third of hashing them.
    """
    if few:
        encoded = pc.dictionary_encode(values)
        distinct = encoded.dictionary
        rank = np.empty(len(distinct) + 1, dtype=np.int64)
        rank[pc.sort_indices(distinct).to_numpy()] = np.arange(len(distinct))
        rank[-1] = len(distinct)
        return rank[pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)]
    order = pc.sort_indices(values)
    ordered = values.take(order)
    new = np.ones(len(values), dtype=bool)
    if len(values) > 1:
        after, before = ordered.slice(1), ordered.slice(0, len(values) - 1)
        differs = pc.fill_null(pc.not_equal(after, before), False).to_numpy(
            zero_copy_only=False)
        nulls = pc.is_null(ordered).to_numpy(zero_copy_only=False)
        new[1:] = differs | (nulls[1:] != nulls[:-1])
    rank = np.empty(len(values), dtype=np.int64)
    rank[order.to_numpy()] = np.cumsum(new) - 1
    return rank


def _series(array: pa.Array | pa.ChunkedArray) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(array))


def _per_distinct(values: np.ndarray, text: Callable[[np.ndarray], pd.Series]) -> pd.Series:
    """``text(values)`` computed once per distinct value (rates, prorations repeat a lot);
    the distinct values found by hashing, not sorting."""
    at, distinct = pd.factorize(values)
    formatted = arrow_text(text(np.asarray(distinct)).reset_index(drop=True))
    return _series(pc.take(formatted, at))


SUMMARY_KEYS = ["utility", "district", "rulebook", "class"]
PART_KEYS = [*SUMMARY_KEYS, "enterprise_id"]
PART_SUMS = ["accounts", "quantity_milli", "amount_fen"]
# ``place``: the enterprise's row in the register's places (the same for every piece of a
# run), -1 for an enterprise the register lacks
PART_COLUMNS = [*PART_KEYS, "place", *PART_SUMS]


def summary_table(surcharges: pd.DataFrame) -> pd.DataFrame:
    """SPEC summary.csv: by utility, district, rulebook, class."""
    return summary_from_parts(summary_parts(surcharges))


def summary_parts(surcharges: pd.DataFrame) -> pd.DataFrame:
    """The summary's sums per group and enterprise, for a whole run or one piece of it.

    Grouped on integer codes, the enterprise by its place in the register (its id hashed
    only when the register lacks it). The district follows the enterprise (it is looked up
    from the register), so it is not hashed. In a run an account has one clean line and one
    enterprise (duplicates and account conflicts are rejected): the accounts of a group are
    its distinct billing lines, the quantity counts each of them once, and the parts of
    several pieces add up exactly, since no account is counted in two parts. Amounts are
    int64 sums.
    """
    if surcharges.empty:
        return pd.DataFrame({name: pd.Series(dtype="string" if name in PART_KEYS else np.int64)
                             for name in PART_COLUMNS})
    group, groups, parts = _per_enterprise(surcharges,
                                           surcharges["_place"].to_numpy(dtype=np.int64))
    line = surcharges["_row"].to_numpy(dtype=np.int64)
    first_in_group = _first_mask(group * (int(line.max()) + 1) + line)
    parts["accounts"] = np.bincount(group[first_in_group], minlength=groups).astype(np.int64)
    parts["quantity_milli"] = _sum_per_group(
        group[first_in_group], surcharges["_qty"].to_numpy(dtype=np.int64)[first_in_group],
        groups)
    parts["amount_fen"] = _sum_per_group(group, surcharges["_fen"].to_numpy(dtype=np.int64),
                                         groups)
    return parts


def sum_parts(parts: pd.DataFrame) -> pd.DataFrame:
    """Parts of several pieces summed per group and enterprise (:func:`summary_parts`'s
    rows, in no particular order): grouped on integer codes like the parts themselves, the
    enterprise by its place, several times faster than a groupby on five texts."""
    if parts.empty:
        return parts.reset_index(drop=True)
    group, groups, summed = _per_enterprise(parts, parts["place"].to_numpy(dtype=np.int64))
    for name in PART_SUMS:
        summed[name] = _sum_per_group(group, parts[name].to_numpy(dtype=np.int64), groups)
    return summed


def summary_from_parts(parts: pd.DataFrame) -> pd.DataFrame:
    """The rows of summary.csv from the parts of every piece, sorted by the group keys.

    Grouped on integer codes like the parts (a province's parts are a million rows): the
    sums per group, and its enterprises as the distinct enterprises among its rows."""
    if parts.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    group = _group_codes(parts[SUMMARY_KEYS])
    groups = int(group.max()) + 1
    enterprise = _enterprise_codes(parts["place"].to_numpy(dtype=np.int64),
                                   parts["enterprise_id"])
    first = _first_mask(group * (int(enterprise.max()) + 1) + enterprise)
    summary = _texts_at(parts[SUMMARY_KEYS], _firsts(group, groups))
    for name in PART_SUMS:
        summary[name] = _sum_per_group(group, parts[name].to_numpy(dtype=np.int64), groups)
    summary["enterprises"] = np.bincount(group[first], minlength=groups).astype(np.int64)
    summary = summary.sort_values(SUMMARY_KEYS, kind="stable").reset_index(drop=True)
    summary["enterprises"] = summary["enterprises"].astype(str)
    summary["accounts"] = summary["accounts"].astype(str)
    summary["quantity"] = format_trimmed(summary["quantity_milli"].astype(np.int64), 3)
    summary["amount"] = format_fixed(summary["amount_fen"].astype(np.int64), 2)
    for key in SUMMARY_KEYS:
        summary[key] = summary[key].astype("string")
    return summary[SUMMARY_COLUMNS]


def _per_enterprise(frame: pd.DataFrame, place: np.ndarray
                    ) -> tuple[np.ndarray, int, pd.DataFrame]:
    """Each row's group × enterprise number (``place``: each row's enterprise's place), how
    many there are, and the keys and place of each, as text and integer."""
    group = _group_codes(frame[["utility", "rulebook", "class"]],
                         _enterprise_codes(place, frame["enterprise_id"]))
    groups = int(group.max()) + 1
    first = _firsts(group, groups)
    keys = _texts_at(frame[PART_KEYS], first)
    keys["place"] = place[first]
    return group, groups, keys


def _codes(values: pd.Series) -> np.ndarray:
    return pd.factorize(values, use_na_sentinel=False)[0].astype(np.int64)


def _enterprise_codes(place: np.ndarray, enterprise_id: pd.Series) -> np.ndarray:
    """One integer per enterprise: its place, or for ids the register lacks (place -1) a
    number above every place, one per distinct id (only those ids are hashed)."""
    unknown = np.flatnonzero(place < 0)
    if not len(unknown):
        return place
    codes = place.copy()
    codes[unknown] = int(place.max()) + 1 + _codes(enterprise_id.iloc[unknown])
    return codes


def _group_codes(keys: pd.DataFrame, *more: np.ndarray) -> np.ndarray:
    """Dense group numbers of the combinations of the key columns and of ``more`` keys that
    are non-negative integers already (in no particular order)."""
    combined = np.zeros(len(keys), dtype=np.int64)
    for codes in [*(_codes(keys[column]) for column in keys.columns), *more]:
        radix = int(codes.max(initial=0)) + 1
        if int(combined.max(initial=0)) >= np.iinfo(np.int64).max // radix // 2:
            combined = _codes(pd.Series(combined))  # dense again before it could overflow
        combined = combined * radix + codes
    return _codes(pd.Series(combined))


def _firsts(group: np.ndarray, groups: int) -> np.ndarray:
    """The first row of each group."""
    first = np.full(groups, len(group), dtype=np.int64)
    np.minimum.at(first, group, np.arange(len(group)))
    return first


def _texts_at(keys: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    return keys.iloc[rows].astype("string").reset_index(drop=True)


def _first_mask(key: np.ndarray) -> np.ndarray:
    """True at the first occurrence of each key value (hashing, not sorting)."""
    return ~pd.Series(key).duplicated().to_numpy()


def _sum_per_group(group: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    """Exact int64 sums (``np.bincount`` weights would go through float64)."""
    total = np.zeros(groups, dtype=np.int64)
    np.add.at(total, group, values)
    return total


def _proration(cand: pd.DataFrame) -> pd.Series:
    days = cand["days"].to_numpy(dtype=np.int64)
    month_days = cand["days_in_month"].to_numpy(dtype=np.int64)

    def text(pairs: np.ndarray) -> pd.Series:
        first, second = pairs // 100, pairs % 100
        return pd.Series(["1" if a == b else f"{a}/{b}" for a, b in zip(first, second,
                                                                         strict=True)])

    return _per_distinct(days * 100 + month_days, text)


def all_rejects(extract_rejects: pd.DataFrame, lines: pd.DataFrame,
                 priced: Priced, raw: pa.Table) -> pd.DataFrame:
    """The extract's rejects and the lines rejected while pricing, in file and line order;
    ``raw`` holds the lines' text as read, at their ``raw_row``."""
    faults = priced.faults
    found = lines.iloc[faults["row"].to_numpy()]
    text = raw_of(raw, found["raw_row"].to_numpy())
    pricing_rejects = pd.DataFrame({
        "source": found["source"].to_numpy(),
        "line": found["line"].to_numpy(),
        "reason_code": faults["reason_code"].to_numpy(),
        "detail": faults["detail"].to_numpy(),
        **{col: text[col].to_numpy() for col in RAW_COLUMNS},
    })
    rejects = pd.concat([extract_rejects[REJECT_COLUMNS], pricing_rejects], ignore_index=True)
    order = {name: i for i, name in enumerate(pd.unique(pd.concat(
        [lines["source"], extract_rejects["source"]], ignore_index=True)))}
    rejects = rejects.assign(_source=rejects["source"].map(order),
                             _line=rejects["line"].astype("int64"))
    rejects = rejects.sort_values(["_source", "_line"], kind="stable")
    rejects["line"] = rejects["_line"].astype(str)
    return rejects[REJECT_COLUMNS].fillna("").reset_index(drop=True)


def counts_of(month: MonthResult) -> dict[str, int]:
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


def fen_by_utility(month: MonthResult) -> dict[str, int]:
    """The month's surcharge total per utility, in fen."""
    cand = month.priced.surcharges
    utility = pc.take(arrow_text(month.lines["utility"]), cand["row"].to_numpy())
    fen_values = cand["amount_fen"].to_numpy(dtype=np.int64)
    totals = {}
    for name in UNITS:
        on = pc.fill_null(pc.equal(utility, name), False).to_numpy(zero_copy_only=False)
        totals[name] = int(fen_values[on].sum())
    return totals


def _totals(fen: dict[str, int]) -> dict[str, str]:
    return {name: format_fixed(pd.Series([fen.get(name, 0)]), 2).iloc[0]
            for name in ("electricity", "water")}


def input_entry(role: str, path: Path, sha: str, rows: int) -> dict:
    return {"role": role, "name": Path(path).name, "sha256": sha, "rows": int(rows)}


def _policy(catalog: Catalog) -> list[dict]:
    """Every rulebook and tariff file the run read: id, file name, checksum, rules or
    components."""
    entries = [{"kind": "rulebook", "id": rb.id, "name": Path(rb.path).name,
                "sha256": sha256_file(Path(rb.path)), "rows": len(rb.all_rules())}
               for rb in sorted(catalog.rulebooks.values(), key=lambda rb: rb.id)]
    entries += [{"kind": "tariff", "id": t.id, "name": Path(t.path).name,
                 "sha256": sha256_file(Path(t.path)), "rows": len(t.components)}
                for t in catalog.tariffs]
    return entries


def manifest(opts: RunOptions, inputs: list[dict], counts: dict, fen: dict[str, int],
             outputs: list[dict], status: str) -> dict:
    """The audit record. The run id is derived from content only (checksums and options), so
    the same inputs give the same id wherever the files lie."""
    policy = _policy(opts.catalog)
    options = {"period": opts.period, "year": opts.assessment_year,
               "max_reject_rate": str(opts.max_reject_rate), "encoding": opts.encoding}
    parts = [f"{i['role']}:{i['sha256']}" for i in inputs]
    parts += [f"{p['kind']}:{p['id']}:{p['sha256']}" for p in policy]
    parts += [f"{k}={v}" for k, v in sorted(options.items())]
    return {
        "run_id": run_id(parts),
        "period": opts.period,
        "assessment_year": opts.assessment_year,
        "software": {"name": "diffprice", "version": __version__},
        "options": options,
        "inputs": inputs,
        "policy": policy,
        "outputs": outputs,
        "counts": counts,
        "totals": _totals(fen),
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
