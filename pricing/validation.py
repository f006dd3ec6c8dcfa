"""Static warnings of ``diffprice validate`` beyond the schema and reference checks.

- ``unique`` rulebooks: two rules that can hold together are a conflict waiting to happen.
  ``validate`` proves an overlap by finding a witness — values of the names the two rules read
  that make both conditions true — on a grid built from the constants the rules compare
  against, evaluated with the vectorized back end (no second evaluator). Metrics are treated as
  free values, so a witness may be unreachable through the metric formulas: it is a warning.
- The rete engine cannot hold more than 512 distinct constants of one field (DURABLE_RULES.md).
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import numpy as np
import pandas as pd

from pricing.catalog import Catalog
from pricing.expr import nodes
from pricing.expr.check import CompiledRulebook
from pricing.expr.vectorized import evaluate

GRID_LIMIT = 50_000
RETE_CONSTANT_LIMIT = 512
OTHER_TEXT = "(other)"


def static_warnings(catalog: Catalog) -> list[str]:
    found = []
    for rb_id in sorted(catalog.compiled):
        compiled = catalog.compiled[rb_id]
        if compiled.rulebook.hit_policy == "unique":
            found += unique_overlaps(compiled)
        found += rete_constant_limits(compiled)
    return found


def unique_overlaps(compiled: CompiledRulebook) -> list[str]:
    """One warning per pair of rules that provably hold together."""
    rb = compiled.rulebook
    warnings = []
    for (rule_a, node_a), (rule_b, node_b) in itertools.combinations(compiled.rules, 2):
        names = list(dict.fromkeys([*compiled.reads[rule_a.id], *compiled.reads[rule_b.id]]))
        frame = _grid(names, compiled, [node_a, node_b])
        if frame.empty:
            continue
        both = (evaluate(node_a, frame, {}) & evaluate(node_b, frame, {})).fillna(False)
        hits = np.flatnonzero(both.to_numpy(dtype=bool))
        if len(hits):
            witness = frame.iloc[hits[0]]
            shown = ", ".join(f"{k}={_show(witness[k])}" for k in names)
            warnings.append(f"{rb.path}:{rule_b.line}: rulebook {rb.id} (hit_policy unique): "
                            f"rules {rule_a.id} and {rule_b.id} both hold when {shown}")
    return warnings


def rete_constant_limits(compiled: CompiledRulebook) -> list[str]:
    counts: dict[str, set] = {}
    for _, node in compiled.rules:
        for name, value in _comparisons(node):
            counts.setdefault(name, set()).add(value)
    rb = compiled.rulebook
    return [f"{rb.path}:{rb.line}: rulebook {rb.id}: {len(v)} distinct constants compared with "
            f"'{k}'; the rete engine holds at most {RETE_CONSTANT_LIMIT}"
            for k, v in sorted(counts.items()) if len(v) > RETE_CONSTANT_LIMIT]


def _grid(names: list[str], compiled: CompiledRulebook, roots: list) -> pd.DataFrame:
    constants: dict[str, set] = {n: set() for n in names}
    for root in roots:
        for name, value in _comparisons(root):
            if name in constants:
                constants[name].add(value)
    numbers = sorted({v for vs in constants.values() for v in vs if isinstance(v, Decimal)})
    axes = []
    for name in names:
        kind = compiled.types.get(name, "number")
        if kind == "boolean":
            axes.append([True, False])
        elif kind == "string":
            axes.append(sorted(v for v in constants[name] if isinstance(v, str)) + [OTHER_TEXT])
        else:
            mine = sorted(v for v in constants[name] if isinstance(v, Decimal)) or numbers \
                or [Decimal(0)]
            points = set()
            for value in mine:
                points |= {value - 1, value - Decimal("0.5"), value, value + Decimal("0.5"),
                           value + 1}
            for low, high in zip(mine, mine[1:], strict=False):
                points.add((low + high) / 2)
            axes.append(sorted(float(p) for p in points))
    size = int(np.prod([len(a) for a in axes], dtype=float)) if axes else 0
    if size == 0:
        return pd.DataFrame()
    if size <= GRID_LIMIT:
        rows = list(itertools.product(*axes))
    else:
        rng = np.random.default_rng(0)
        rows = [tuple(axis[rng.integers(len(axis))] for axis in axes) for _ in range(GRID_LIMIT)]
    frame = pd.DataFrame(rows, columns=names)
    for name in names:
        kind = compiled.types.get(name, "number")
        frame[name] = frame[name].astype({"boolean": "boolean", "string": "string"}
                                         .get(kind, "Float64"))
    return frame


def _comparisons(node) -> list[tuple[str, object]]:
    """(name, constant) pairs of every comparison in a condition."""
    found = []
    if isinstance(node, nodes.Compare):
        operands = [node.left, *node.comparators]
        for left, right in zip(operands, operands[1:], strict=False):
            for a, b in ((left, right), (right, left)):
                if isinstance(a, nodes.Name):
                    if isinstance(b, nodes.Num | nodes.Str):
                        found.append((a.id, b.value))
                    elif isinstance(b, nodes.ListLit):
                        found += [(a.id, item.value) for item in b.items]
    elif isinstance(node, nodes.BoolOp):
        for value in node.values:
            found += _comparisons(value)
    elif isinstance(node, nodes.Not):
        found += _comparisons(node.operand)
    return found


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)
