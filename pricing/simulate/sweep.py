"""Vary one threshold or rate over a range: revenue and enterprises per class at each value.

``diffprice sweep --set SETTING`` answers the district official's "what if the limit were 600
instead of 550?" for a whole range at once (DOMAIN: districts test proposals on history).

Setting syntax (``LEFT=VALUES``):

- ``RULEBOOK.RULE=…`` varies the numeric constant of that rule's condition. When the condition
  compares several constants, name the one meant: ``RULEBOOK.RULE.NAME=…`` where NAME is the
  field or metric the constant is compared with, and, if NAME is still bounded twice
  (``1 < over_limit <= 2``), ``RULEBOOK.RULE.NAME.lower`` or ``.upper``
  (``RULEBOOK.RULE.lower`` when one name is compared).
- ``RULEBOOK.bands.K=…`` varies the K-th edge (1-based) of a rulebook written with ``bands``.
- ``COMPONENT.CLASS=…`` varies the flat rate of CLASS (yuan per unit) in every effective
  period of that component id.
- ``COMPONENT.threshold=…``, ``.step=…``, ``.increment=…``, ``.cap=…`` vary a stepped component.
- ``VALUES`` is ``FROM..TO:STEP`` (both ends included when TO is reached) or one value. Values
  are ``Decimal``: ``500..700:10`` is exactly 500, 510, …, 700, never 509.99999.

Only what the setting can reach is recomputed: a rule sweep re-evaluates the changed rules on
the rulebook's facts (fields and metrics are computed once) and re-decides that rulebook; each
value then reprices only the lines of the components that read it (with the components sharing
a ``group``, which compete with them). The revenue of every other component is computed once.
Faults are kept exact: a line rejected by either part loses all its surcharges, as in a run.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pricing.billing.batch import RunOptions, compute_month
from pricing.billing.components import InForce, in_force
from pricing.billing.money import decimal_to_scaled, format_fixed
from pricing.billing.outputs import RunDirectory, write_csv
from pricing.billing.overrides import read_overrides
from pricing.billing.price import price_lines
from pricing.catalog import Catalog, load_catalog
from pricing.classify.policy import decide
from pricing.classify.table import apply_overrides
from pricing.errors import DiffpriceError
from pricing.expr import vectorized
from pricing.expr.check import CompiledRulebook, compile_rulebook
from pricing.expr.nodes import (
    BinOp,
    BoolOp,
    Call,
    Compare,
    ListLit,
    Lookup,
    Name,
    Neg,
    Node,
    Not,
    Num,
    Str,
    walk,
)
from pricing.expr.parse import parse
from pricing.simulate.compare import billing_periods
from pricing.spec.tariff import Flat, Stepped, Tariff

MAX_POINTS = 1000
STEPPED_FIELDS = ("threshold", "step", "increment", "cap")
_NUMBER = r"-?[0-9]+(?:\.[0-9]+)?"
_RANGE = re.compile(rf"^(?P<start>{_NUMBER})(?:\.\.(?P<stop>{_NUMBER}):(?P<step>{_NUMBER}))?$")
_LOWER = {">": "lower", ">=": "lower", "<": "upper", "<=": "upper"}
_FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}


class SweepError(DiffpriceError):
    """A setting that cannot be swept: says what was expected and what was found."""


# ---------------------------------------------------------------------------- the setting


@dataclass(frozen=True)
class Setting:
    """``target.key[.name[.bound]]=values`` as written."""

    text: str
    target: str
    key: str
    name: str | None
    bound: str | None
    values: list[Decimal]


def parse_setting(text: str) -> Setting:
    """Split ``--set`` into its parts (module docstring); values via :func:`decimal_range`."""
    left, sep, right = text.partition("=")
    parts = left.strip().split(".")
    if not sep or len(parts) < 2 or len(parts) > 4 or not all(parts):
        raise SweepError(f"--set {text!r}: expected RULEBOOK.RULE=FROM..TO:STEP or "
                         "COMPONENT.CLASS=FROM..TO:STEP")
    name = parts[2] if len(parts) > 2 else None
    bound = parts[3] if len(parts) > 3 else None
    if len(parts) == 3 and name in ("lower", "upper"):
        name, bound = None, name
    if bound is not None and bound not in ("lower", "upper"):
        raise SweepError(f"--set {text!r}: the last part must be 'lower' or 'upper', "
                         f"found {bound!r}")
    return Setting(text, parts[0], parts[1], name, bound, decimal_range(right.strip()))


def decimal_range(text: str) -> list[Decimal]:
    """``FROM..TO:STEP`` → exact Decimals ``FROM + k·STEP ≤ TO``; a lone number is one value."""
    found = _RANGE.match(text)
    if not found:
        raise SweepError(f"values {text!r}: expected FROM..TO:STEP such as 500..700:10, "
                         "or one number")
    try:
        start = Decimal(found["start"])
        if found["stop"] is None:
            return [start]
        stop, step = Decimal(found["stop"]), Decimal(found["step"])
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise SweepError(f"values {text!r}: not decimal numbers") from None
    if step <= 0 or stop < start:
        raise SweepError(f"values {text!r}: need FROM ≤ TO and a positive STEP")
    count = int((stop - start) // step) + 1
    if count > MAX_POINTS:
        raise SweepError(f"values {text!r}: {count} points, at most {MAX_POINTS}")
    return [start + k * step for k in range(count)]


# ---------------------------------------------------------------------------- rule constants


@dataclass(frozen=True)
class Constant:
    """A number in a condition, the name it is compared with and which side it bounds."""

    node: Num
    name: str
    bound: str  # lower | upper | equal


def rule_constants(node: Node) -> list[Constant]:
    """Every ``name op number`` / ``number op name`` pair of the condition, in source order."""
    found = []
    for part in walk(node):
        if not isinstance(part, Compare):
            continue
        left = part.left
        for op, right in zip(part.ops, part.comparators, strict=True):
            if isinstance(left, Name) and isinstance(right, Num):
                found.append(Constant(right, left.id, _LOWER.get(op, "equal")))
            elif isinstance(left, Num) and isinstance(right, Name):
                found.append(Constant(left, right.id, _LOWER.get(_FLIPPED[op], "equal")))
            left = right
    return found


def replace_node(tree: Node, old: Node, new: Node) -> Node:
    """A copy of ``tree`` with the node object ``old`` (by identity) replaced by ``new``."""
    if tree is old:
        return new
    if not dataclasses.is_dataclass(tree):
        return tree
    changes = {}
    for item in dataclasses.fields(tree):
        value = getattr(tree, item.name)
        if isinstance(value, tuple):
            rebuilt = tuple(replace_node(v, old, new) for v in value)
        elif dataclasses.is_dataclass(value):
            rebuilt = replace_node(value, old, new)
        else:
            continue
        if rebuilt is not value:
            changes[item.name] = rebuilt
    return dataclasses.replace(tree, **changes) if changes else tree


def condition_text(node: Node) -> str:
    """Expression text that parses back to exactly ``node`` (the inverse of ``parse``)."""
    match node:
        case Num(value=value):
            return format(value, "f")
        case Str(value=value):
            return repr(value)
        case ListLit(items=items):
            return "[" + ", ".join(condition_text(i) for i in items) + "]"
        case Name(id=name):
            return name
        case Compare(left=left, ops=ops, comparators=comparators):
            parts = [_operand(left)]
            for op, right in zip(ops, comparators, strict=True):
                parts += [op, _operand(right)]
            return " ".join(parts)
        case BoolOp(op=op, values=values):
            return f" {op} ".join(_wrap(v, BoolOp) for v in values)
        case Not(operand=operand):
            return "not " + _wrap(operand, BoolOp)
        case BinOp(op=op, left=left, right=right):
            return f"{_operand(left)} {op} {_operand(right)}"
        case Neg(operand=operand):
            return "-" + _operand(operand)
        case Call(func=func, args=args, by=by):
            inner = [condition_text(a) for a in args] + ([f"by={by}"] if by else [])
            return f"{func}({', '.join(inner)})"
        case Lookup(table=table, key=key):
            return f"{table}[{condition_text(key)}]"
    raise TypeError(f"cannot write {node!r}")  # pragma: no cover - the tree admits no other


def _operand(node: Node) -> str:
    atomic = isinstance(node, Num | Str | ListLit | Name | Call | Lookup)
    text = condition_text(node)
    return text if atomic and not text.startswith("-") else f"({text})"


def _wrap(node: Node, kinds: type) -> str:
    text = condition_text(node)
    return f"({text})" if isinstance(node, kinds) else text


# ---------------------------------------------------------------------------- what varies


@dataclass(frozen=True)
class RuleVariation:
    """A constant of one rulebook (a rule's condition or a band edge)."""

    label: str
    compiled: CompiledRulebook
    baseline: Decimal
    rule_id: str | None  # None: a band edge
    constant: Constant | None
    edge: int | None

    @property
    def rulebook(self) -> str:
        return self.compiled.rulebook.id

    def compiled_at(self, value: Decimal) -> CompiledRulebook:
        """The rulebook rebuilt through the model and ``compile_rulebook`` (never text edits)."""
        rb = self.compiled.rulebook
        if self.edge is not None:
            edges = list(rb.bands.edges)
            edges[self.edge] = value
            if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
                raise SweepError(f"{self.label}={value}: band edges must stay increasing, "
                                 f"found {[format(e, 'f') for e in edges]}")
            return compile_rulebook(rb.model_copy(update={
                "bands": rb.bands.model_copy(update={"edges": edges})}))
        rules = []
        for rule, node in self.compiled.rules:
            if rule.id == self.rule_id:
                changed = replace_node(node, self.constant.node, Num(value))
                text = condition_text(changed)
                if parse(text, path=rb.path, line=rule.line, kind="condition") != changed:
                    raise AssertionError(f"rewritten condition {text!r} does not parse back")
                rule = rule.model_copy(update={"when": text})
            rules.append(rule)
        return compile_rulebook(rb.model_copy(update={"rules": rules}))


@dataclass(frozen=True)
class ComponentVariation:
    """A flat rate of one class, or a stepped parameter, of every component with one id."""

    label: str
    component_id: str
    field: str  # "rates.<class>" or a stepped field
    rulebook: str | None
    baseline: Decimal | None

    def in_force_at(self, tariffs: list[Tariff], period: str) -> ComponentVariation:
        """The baseline value is the one in force in ``period`` (a component id may have
        several effective periods, e.g. the yearly aluminium thresholds)."""
        for item in in_force(tariffs, period):
            if item.component.id == self.component_id:
                comp = item.component
                value = (comp.rates.get(self.field.removeprefix("rates."))
                         if self.field.startswith("rates.") else getattr(comp, self.field))
                return dataclasses.replace(self, baseline=value)
        return dataclasses.replace(self, baseline=None)

    def tariffs_at(self, tariffs: list[Tariff], value: Decimal) -> list[Tariff]:
        return [t.model_copy(update={"components": [self._component_at(c, value)
                                                    if c.id == self.component_id else c
                                                    for c in t.components]})
                for t in tariffs]

    def _component_at(self, comp: Any, value: Decimal) -> Any:
        if self.field.startswith("rates."):
            klass = self.field.removeprefix("rates.")
            _check_places(self.label, value, 9)
            if value < 0:
                raise SweepError(f"{self.label}={value}: a rate cannot be negative")
            return comp.model_copy(update={"rates": {**comp.rates, klass: value}})
        if (value < 0) if self.field == "threshold" else (value <= 0):
            raise SweepError(f"{self.label}={value}: {self.field} must be "
                             f"{'≥ 0' if self.field == 'threshold' else 'positive'}")
        if self.field in ("increment", "cap"):
            _check_places(self.label, value, 9)
        return comp.model_copy(update={self.field: value})


def _check_places(label: str, value: Decimal, places: int) -> None:
    try:
        decimal_to_scaled(value, places)
    except ValueError:
        raise SweepError(f"{label}={value}: more than {places} decimal places") from None


def resolve(setting: Setting, catalog: Catalog) -> RuleVariation | ComponentVariation:
    """What the setting names in the loaded policy, or a SweepError saying what exists."""
    label = setting.text.partition("=")[0].strip()
    rb = catalog.rulebooks.get(setting.target)
    components = [c for t in catalog.tariffs for c in t.components if c.id == setting.target]
    if rb is not None and (setting.key == "bands" or
                           setting.key in {r.id for r in rb.all_rules()} or not components):
        return _rule_variation(setting, label, catalog.compiled[rb.id])
    if components:
        return _component_variation(setting, label, components)
    known = sorted({*catalog.rulebooks, *(c.id for t in catalog.tariffs for c in t.components)})
    raise SweepError(f"--set {label}: '{setting.target}' is neither a rulebook nor a "
                     f"component; expected one of {', '.join(known)}")


def _rule_variation(setting: Setting, label: str, compiled: CompiledRulebook) -> RuleVariation:
    rb = compiled.rulebook
    if setting.key == "bands":
        if rb.bands is None or setting.name is None or not setting.name.isdigit() \
                or not 1 <= int(setting.name) <= len(rb.bands.edges):
            raise SweepError(f"--set {label}: expected {rb.id}.bands.K with K from 1 to the "
                             f"number of band edges of a rulebook written with bands")
        edge = int(setting.name) - 1
        return RuleVariation(label, compiled, rb.bands.edges[edge], None, None, edge)
    if rb.bands is not None:
        raise SweepError(f"--set {label}: rulebook {rb.id} is written with bands; vary an edge "
                         f"as {rb.id}.bands.K")
    nodes = {rule.id: node for rule, node in compiled.rules}
    if setting.key not in nodes:
        raise SweepError(f"--set {label}: rulebook {rb.id} has no rule '{setting.key}'; "
                         f"expected one of {', '.join(nodes)}")
    found = rule_constants(nodes[setting.key])
    chosen = [c for c in found if (setting.name is None or c.name == setting.name)
              and (setting.bound is None or c.bound == setting.bound)]
    if len(chosen) != 1:
        options = ", ".join(f"{label.split('.')[0]}.{setting.key}.{c.name}"
                            + (f".{c.bound}" if sum(d.name == c.name for d in found) > 1 else "")
                            + f" (now {format(c.node.value, 'f')})" for c in found)
        what = "no numeric constant" if not chosen else f"{len(chosen)} constants"
        raise SweepError(f"--set {label}: rule {setting.key} has {what} matching; "
                         f"name one of: {options or 'none (nothing to vary)'}")
    return RuleVariation(label, compiled, chosen[0].node.value, setting.key, chosen[0], None)


def _component_variation(setting: Setting, label: str,
                         components: list[Any]) -> ComponentVariation:
    comp = components[-1]
    if setting.name is not None:
        raise SweepError(f"--set {label}: expected COMPONENT.CLASS or COMPONENT.FIELD")
    if isinstance(comp, Stepped):
        if setting.key not in STEPPED_FIELDS:
            raise SweepError(f"--set {label}: component {comp.id} is stepped; vary one of "
                             f"{', '.join(STEPPED_FIELDS)}")
        return ComponentVariation(label, comp.id, setting.key, comp.rulebook,
                                  getattr(comp, setting.key))
    if isinstance(comp, Flat):
        return ComponentVariation(label, comp.id, f"rates.{setting.key}", comp.rulebook,
                                  comp.rates.get(setting.key))
    raise SweepError(f"--set {label}: component {comp.id} is {comp.kind}; only flat rates and "
                     "stepped parameters can be swept")


def check_class(variation: ComponentVariation, catalog: Catalog) -> None:
    """A flat rate must name a class of its rulebook."""
    if variation.field.startswith("rates.") and variation.rulebook in catalog.rulebooks:
        classes = catalog.rulebooks[variation.rulebook].classes
        klass = variation.field.removeprefix("rates.")
        if klass not in classes:
            raise SweepError(f"--set {variation.label}: '{klass}' is not a class of rulebook "
                             f"{variation.rulebook}; expected one of {', '.join(classes)}")


# ---------------------------------------------------------------------------- one period


@dataclass
class PeriodState:
    """What one period contributes, computed once: the constant revenue and what to reprice."""

    period: str
    table: pd.DataFrame  # classification after overrides, every rulebook
    affected_table: pd.DataFrame  # its rows of the rulebooks the affected components read
    facts: dict[str, pd.DataFrame]
    outcomes: dict[str, pd.DataFrame]
    overrides: pd.DataFrame | None
    lines: pd.DataFrame  # the affected lines, positions 0..n-1
    line_rows: np.ndarray  # their positions among all clean lines
    affected: list[InForce]
    constant_fen: int  # revenue of the other components, lines they reject excluded
    constant_by_row: pd.Series  # that revenue per line position, to drop a rejected line
    baseline_fen: int
    counts: pd.Series  # enterprises per class of the counted rulebook, as classified


def prepare_period(opts: RunOptions, catalog: Catalog,
                   variation: RuleVariation | ComponentVariation) -> PeriodState:
    """Run the month once, then split its components into affected and constant."""
    month = compute_month(opts, catalog)
    components = in_force(catalog.tariffs, opts.period)
    affected_ids = _affected_ids(components, variation)
    affected = [c for c in components if c.component.id in affected_ids]
    constant = [c for c in components if c.component.id not in affected_ids]
    lines = month.lines
    table = month.classification.table
    fixed = price_lines(lines, table, month.classification.facts, constant)
    fixed_faults = fixed.faults["row"].to_numpy()
    by_row = fixed.surcharges.groupby("row")["amount_fen"].sum()
    rows = _affected_rows(lines, table, affected, fixed_faults)
    overrides = (read_overrides(opts.overrides, encoding=opts.input_encoding)
                 if opts.overrides is not None else None)
    return PeriodState(
        period=opts.period, table=table,
        affected_table=_plain_text(
            table[table["rulebook"].isin({c.component.rulebook for c in affected})]),
        facts=month.classification.facts,
        outcomes=month.classification.outcomes, overrides=overrides,
        lines=_plain_text(lines.iloc[rows]), line_rows=rows, affected=affected,
        constant_fen=int(by_row.sum()), constant_by_row=by_row,
        baseline_fen=int(month.priced.surcharges["amount_fen"].sum()),
        counts=class_counts(table, variation.rulebook))


def _plain_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as Python-object arrays: the frames repriced at every value are matched
    with ``isin`` and look-ups many times, which hash plain objects much faster than Arrow
    strings. Values are unchanged, so the prices are too."""
    frame = frame.reset_index(drop=True)
    text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])]
    return frame.astype({c: object for c in text})


def _affected_ids(components: list[InForce], variation: Any) -> set[str]:
    """Components the setting reaches, plus those sharing a group with them (they compete)."""
    if isinstance(variation, RuleVariation):
        ids = {c.component.id for c in components if c.component.rulebook == variation.rulebook}
    else:
        ids = {variation.component_id}
    groups = {c.component.group for c in components
              if c.component.id in ids and c.component.group is not None}
    return ids | {c.component.id for c in components if c.component.group in groups}


def _affected_rows(lines: pd.DataFrame, table: pd.DataFrame, affected: list[InForce],
                   fixed_faults: np.ndarray) -> np.ndarray:
    """Lines an affected component can price: its utility, an enterprise its rulebook
    classified (every line of the utility for a component without rulebook), not already
    rejected by a constant component."""
    keep = np.zeros(len(lines), dtype=bool)
    for item in affected:
        comp = item.component
        on = (lines["utility"] == comp.utility).to_numpy(dtype=bool)
        if comp.rulebook is not None:
            ids = table.loc[table["rulebook"] == comp.rulebook, "enterprise_id"]
            on &= lines["enterprise_id"].isin(ids).to_numpy(dtype=bool)
        keep |= on
    keep[fixed_faults] = False
    return np.flatnonzero(keep)


def revenue_at(state: PeriodState, table: pd.DataFrame, affected: list[InForce]) -> int:
    """Constant revenue − what the lines rejected now would have paid + affected revenue."""
    priced = price_lines(state.lines, table, state.facts, affected)
    rejected = state.line_rows[priced.faults["row"].to_numpy()]
    lost = int(state.constant_by_row.reindex(rejected).fillna(0).sum())
    return state.constant_fen - lost + int(priced.surcharges["amount_fen"].sum())


def reclassify(state: PeriodState, variation: RuleVariation,
               compiled: CompiledRulebook) -> pd.DataFrame:
    """The rulebook's table rows at one value: only the rules whose tree changed are
    re-evaluated, on the facts computed once; overrides in force are applied again."""
    rb_id = variation.rulebook
    facts = state.facts.get(rb_id)
    rows = state.table[state.table["rulebook"] == rb_id]
    if facts is None or len(facts) == 0:
        return rows
    outcomes = state.outcomes[rb_id].copy()
    before = dict((rule.id, node) for rule, node in variation.compiled.rules)
    for rule, node in compiled.rules:
        if before.get(rule.id) != node:
            outcomes[rule.id] = vectorized.evaluate(node, facts, compiled.tables) \
                .astype("boolean").to_numpy()
    decision = decide(compiled, outcomes)
    fresh = pd.DataFrame({
        "enterprise_id": facts.index.to_numpy(dtype=object), "rulebook": rb_id,
        "class": decision["class"].to_numpy(), "rule_id": decision["rule_id"].to_numpy(),
        "decided_by": decision["decided_by"].to_numpy(), "evidence": ""}, dtype=object)
    if state.overrides is not None:
        fresh = apply_overrides(fresh, state.overrides, state.period)
    return fresh


# ---------------------------------------------------------------------------- the sweep


def run_sweep(*, register: Path, billing: list[Path], paths: list[Path],
              overrides: Path | None, year: int | None, input_encoding: str | None,
              periods: list[str], setting: str, out: Path | None) -> str:
    """``diffprice sweep``: the revenue over the periods and the enterprises per class (in the
    latest period) at every value; with ``out``, also sweep.csv and sweep.svg."""
    parsed = parse_setting(setting)
    catalog = load_catalog(list(paths))
    variation = resolve(parsed, catalog)
    if isinstance(variation, ComponentVariation):
        check_class(variation, catalog)
    periods = sorted(set(periods)) or billing_periods(billing, input_encoding)
    if isinstance(variation, ComponentVariation):
        variation = variation.in_force_at(catalog.tariffs, periods[-1])
    states = [prepare_period(RunOptions(period=p, register=Path(register),
                                        billing=list(billing), catalog=catalog,
                                        overrides=overrides, year=year,
                                        input_encoding=input_encoding), catalog, variation)
              for p in periods]
    table = sweep_table(states, variation, parsed.values, catalog)
    if out is not None:
        write_outputs(Path(out), table, variation.label)
    return render_text(table, variation, periods, states, out)


def sweep_table(states: list[PeriodState], variation: Any, values: list[Decimal],
                catalog: Catalog) -> pd.DataFrame:
    """One row per value: ``value``, ``revenue_fen`` and one count column per class."""
    counted = variation.rulebook
    classes = list(catalog.rulebooks[counted].classes) if counted in catalog.rulebooks else []
    rows = []
    for value in values:
        revenue, counts = 0, pd.Series(dtype="int64")
        if isinstance(variation, RuleVariation):
            compiled = variation.compiled_at(value)
        else:
            tariffs = variation.tariffs_at(catalog.tariffs, value)
        for state in states:
            table = state.affected_table
            counts = state.counts
            if isinstance(variation, RuleVariation):
                fresh = reclassify(state, variation, compiled)
                table = pd.concat([table[table["rulebook"] != counted], fresh],
                                  ignore_index=True)
                affected = state.affected
                counts = class_counts(fresh, counted)
            else:
                ids = {c.component.id for c in state.affected}
                affected = [c for c in in_force(tariffs, state.period) if c.component.id in ids]
            revenue += revenue_at(state, table, affected)
        rows.append({"value": value, "revenue_fen": revenue, **counts.to_dict()})
    frame = pd.DataFrame(rows)
    extra = [c for c in frame.columns if c not in ("value", "revenue_fen", *classes)]
    columns = ["value", "revenue_fen", *classes, *sorted(extra)]
    frame = frame.reindex(columns=columns)
    frame[columns[2:]] = frame[columns[2:]].fillna(0).astype("int64")
    return frame


def class_counts(table: pd.DataFrame, rulebook: str | None) -> pd.Series:
    """Enterprises per class; an unclassified or conflicting one counts under that word."""
    rows = table[table["rulebook"] == rulebook]
    label = rows["class"].where(~rows["decided_by"].isin(["unclassified", "conflict"]),
                                rows["decided_by"])
    return label.astype(str).value_counts().astype("int64")


def csv_table(table: pd.DataFrame) -> pd.DataFrame:
    """sweep.csv: the value as written, revenue in yuan (exact), counts as integers."""
    frame = pd.DataFrame({"value": [format(v, "f") for v in table["value"]],
                          "revenue": format_fixed(table["revenue_fen"], 2).to_numpy()})
    for column in table.columns[2:]:
        frame[column] = table[column].astype(str).to_numpy()
    return frame


def write_outputs(out: Path, table: pd.DataFrame, label: str) -> None:
    """sweep.csv and sweep.svg, written atomically."""
    svg = sweep_svg(table, label)
    with RunDirectory(out) as run_dir:
        write_csv(csv_table(table), run_dir.path("sweep.csv"))
        run_dir.path("sweep.svg").write_bytes(svg.encode("utf-8"))


def sweep_svg(table: pd.DataFrame, label: str) -> str:
    """Revenue (top) and enterprises per class (bottom) against the value; floats only draw."""
    import io

    import matplotlib
    from matplotlib.figure import Figure

    x = [float(v) for v in table["value"]]
    with matplotlib.rc_context({"svg.hashsalt": "diffprice-sweep", "font.size": 9}):
        figure = Figure(figsize=(7.0, 5.5))
        top, bottom = figure.subplots(2, 1, sharex=True)
        top.plot(x, table["revenue_fen"].to_numpy() / 100, marker="o", color="#d9822b")
        top.set_ylabel("revenue (yuan)")
        for column in table.columns[2:]:
            bottom.plot(x, table[column].to_numpy(), marker=".", label=str(column))
        bottom.set_ylabel("enterprises")
        bottom.set_xlabel(label)
        if len(table.columns) > 2:
            bottom.legend(frameon=False)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return buffer.getvalue()


def render_text(table: pd.DataFrame, variation: Any, periods: list[str],
                states: list[PeriodState], out: Path | None) -> str:
    """The terminal table; the row of the baseline value is marked with ``*``."""
    shown = csv_table(table)
    shown.insert(0, "", ["*" if variation.baseline is not None and v == variation.baseline
                         else "" for v in table["value"]])
    header = [*shown.columns[:2], "revenue (yuan)", *shown.columns[3:]]
    rows = [header, *shown.astype(str).values.tolist()]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    lines = ["  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
             for row in rows]
    baseline = format_fixed(pd.Series([sum(s.baseline_fen for s in states)]), 2).iloc[0]
    head = (f"sweep {variation.label} over {', '.join(periods)}: baseline value "
            f"{'none' if variation.baseline is None else format(variation.baseline, 'f')}, "
            f"baseline revenue {baseline} yuan; class counts of {variation.rulebook or '-'} "
            f"in {periods[-1]}")
    tail = [f"written to {out}: sweep.csv, sweep.svg"] if out is not None else []
    return "\n".join([head, *lines, *tail])
