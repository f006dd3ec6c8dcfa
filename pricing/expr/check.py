"""Static checks of a rulebook's expressions: names, types, metric order, table keys.

SPEC "Rulebooks": unknown names, type mismatches and syntax errors are reported as
``file:line: message``, every problem of a file at once (``ErrorList``). A rulebook that passes
here cannot fail at evaluation time for a reason the author could have seen: both back ends
trust the types inferred here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from pricing.errors import DiffpriceError, ErrorList, SpecError
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
    names,
    walk,
)
from pricing.expr.parse import Kind, parse
from pricing.expr.rete import fact_value

Type = Literal["number", "string", "boolean", "list"]

# Register columns every rulebook may read without declaring them (SPEC "Register").
REGISTER_STRING_FIELDS = ("district", "industry_code")


@dataclass(frozen=True)
class TypeEnv:
    """What an expression may refer to.

    ``names``: fields and already-typed metrics; ``tables``: name → (key field, value type);
    ``by_fields``: string fields allowed in ``rank_pct(x, by=…)``.
    """

    names: Mapping[str, Type]
    tables: Mapping[str, tuple[str, Type]] = field(default_factory=dict)
    by_fields: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CompiledRulebook:
    """A rulebook whose expressions are parsed and typed, metrics in evaluation order.

    ``reads`` / ``metric_reads`` list the field and metric names each rule condition / metric
    reads, in first-appearance order (used for evidence and for the missing-data report).
    ``tables`` are the rulebook's look-up tables as plain dicts, ready for the back ends.
    """

    rulebook: Any
    metrics: tuple[tuple[str, Node, Type], ...]
    rules: tuple[tuple[Any, Node], ...]
    types: dict[str, Type]
    reads: dict[str, tuple[str, ...]]
    metric_reads: dict[str, tuple[str, ...]]
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)


def infer(node: Node, env: TypeEnv, *, path: str, line: int, kind: Kind) -> Type:
    """The type of ``node``; raises ``SpecError`` at ``path:line`` for the first problem.

    A condition must be boolean: a rule holds only when its condition is true (SPEC).
    """
    found = _Inferer(env, path, line).type_of(node)
    if kind == "condition" and found != "boolean":
        raise SpecError(path, line, f"a condition must be true or false, but this is a {found}")
    if kind == "condition":
        _check_rete_numbers(node, path, line)
    return found


def _check_rete_numbers(node: Node, path: str, line: int) -> None:
    """Refuse condition constants the rete reference engine cannot hold exactly.

    durable_rules reads JSON without exponents (DURABLE_RULES.md), and a float below 0.0001
    in size is written as ``1e-05``: such a rule would compile on one engine and not the other.
    """
    for sub in walk(node):
        if isinstance(sub, Num):
            try:
                fact_value(sub.value)
            except ValueError:
                raise SpecError(
                    path,
                    line,
                    f"the number {sub.value} is too small for a condition (at least 0.0001 "
                    "in size, or 0): scale the metric instead, e.g. per 10,000 units",
                ) from None


class _Inferer:
    def __init__(self, env: TypeEnv, path: str, line: int) -> None:
        self.env = env
        self.path = path
        self.line = line

    def error(self, message: str) -> SpecError:
        return SpecError(self.path, self.line, message)

    def type_of(self, node: Node) -> Type:
        match node:
            case Num():
                return "number"
            case Str():
                return "string"
            case ListLit():
                return "list"
            case Name(id=name):
                return self.name(name)
            case Compare():
                self.compare(node)
                return "boolean"
            case BoolOp(op=op, values=values):
                for value in values:
                    self.expect(value, "boolean", f"'{op}'")
                return "boolean"
            case Not(operand=operand):
                self.expect(operand, "boolean", "'not'")
                return "boolean"
            case BinOp(op=op, left=left, right=right):
                self.expect(left, "number", f"'{op}'")
                self.expect(right, "number", f"'{op}'")
                return "number"
            case Neg(operand=operand):
                self.expect(operand, "number", "unary '-'")
                return "number"
            case Call():
                return self.call(node)
            case Lookup():
                return self.lookup(node)
        raise self.error(f"unexpected expression {node!r}")  # pragma: no cover - parse refuses

    def name(self, name: str) -> Type:
        if name in self.env.names:
            return self.env.names[name]
        if name in self.env.tables:
            key = self.env.tables[name][0]
            raise self.error(f"'{name}' is a table: look it up as {name}[{key}]")
        raise self.error(f"unknown name '{name}'{_suggest(name, self.env.names)}")

    def expect(self, node: Node, wanted: Type, where: str) -> None:
        found = self.type_of(node)
        if found != wanted:
            raise self.error(f"{where} needs a {wanted}, found a {found}{_show(node)}")

    def compare(self, node: Compare) -> None:
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(left, Num | Str) and isinstance(right, Num | Str | ListLit):
                raise self.error(f"'{op}' compares two constants; one side must be a name")
            left_type = self.type_of(left)
            if op in ("in", "not in"):
                self.membership(op, left, left_type, right)
            else:
                right_type = self.type_of(right)
                if "list" in (left_type, right_type):
                    raise self.error(f"a list can only follow 'in' or 'not in', not '{op}'")
                if op in ("<", "<=", ">", ">="):
                    if left_type != "number" or right_type != "number":
                        raise self.error(
                            f"'{op}' compares numbers, found {left_type}{_show(left)} "
                            f"and {right_type}{_show(right)}"
                        )
                elif left_type != right_type:
                    raise self.error(
                        f"'{op}' compares a {left_type}{_show(left)} "
                        f"with a {right_type}{_show(right)}"
                    )
            left = right

    def membership(self, op: str, left: Node, left_type: Type, right: Node) -> None:
        if not isinstance(right, ListLit):
            raise self.error(f"'{op}' needs a [list] on its right, found {self.type_of(right)}")
        if not right.items:
            raise self.error(f"'{op} []' with an empty list")
        if left_type not in ("number", "string"):
            raise self.error(f"'{op}' needs a number or a string on its left, found {left_type}")
        for item in right.items:
            item_type = self.type_of(item)
            if item_type != left_type:
                raise self.error(
                    f"'{op}' list holds a {item_type} ({_literal(item)}) but the left side"
                    f"{_show(left)} is a {left_type}"
                )

    def call(self, node: Call) -> Type:
        for arg in node.args:
            self.expect(arg, "number", f"{node.func}()")
        if node.by is not None and node.by not in self.env.by_fields:
            raise self.error(
                f"rank_pct(by={node.by}): '{node.by}' is not a string field"
                f"{_suggest(node.by, self.env.by_fields)}"
            )
        return "number"

    def lookup(self, node: Lookup) -> Type:
        if node.table not in self.env.tables:
            raise self.error(f"unknown table '{node.table}'{_suggest(node.table, self.env.tables)}")
        key, value_type = self.env.tables[node.table]
        if not isinstance(node.key, Name) or node.key.id != key:
            found = node.key.id if isinstance(node.key, Name) else "an expression"
            raise self.error(
                f"table '{node.table}' is keyed by '{key}', not '{found}': write "
                f"{node.table}[{key}]"
            )
        self.type_of(node.key)
        return value_type


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _show(node: Node) -> str:
    if isinstance(node, Name):
        return f" ('{node.id}')"
    if isinstance(node, Num | Str):
        return f" ({_literal(node)})"
    return ""


def _literal(node: Node) -> str:
    if isinstance(node, Str):
        return repr(node.value)
    if isinstance(node, Num):
        return str(node.value)
    return type(node).__name__


def compile_rulebook(rb: Any) -> CompiledRulebook:
    """Parse and type every metric and rule of a rulebook; raise ``ErrorList`` of all problems.

    Metrics may be written in any order: they are sorted so each comes after what it reads
    (file order among independent ones); a cycle, or a metric named like a field or another
    metric, is an error.
    """
    path = str(rb.path)
    errors: list[DiffpriceError] = []
    field_types: dict[str, Type] = {name: spec.type for name, spec in rb.fields.items()}
    for column in REGISTER_STRING_FIELDS:
        field_types.setdefault(column, "string")
    by_fields = frozenset(n for n, t in field_types.items() if t == "string")

    tables, table_types = _tables(rb, path, field_types, errors)
    metric_nodes = _parse_metrics(rb, path, field_types, tables, errors)
    order = _metric_order(rb, path, metric_nodes, errors)

    types: dict[str, Type] = dict(field_types)
    compiled_metrics: list[tuple[str, Node, Type]] = []
    lines: dict[str, int] = {}
    for metric in rb.metrics:
        lines.setdefault(metric.name, metric.line)  # a repeated name keeps its first line
    declared = set(lines)
    for name in order:
        node = metric_nodes[name]
        if any(n in declared and n not in types for n in names(node)):
            continue  # it reads a metric that already failed: one error is enough
        env = TypeEnv(names=types, tables=table_types, by_fields=by_fields)
        try:
            metric_type = infer(node, env, path=path, line=lines[name], kind="metric")
        except SpecError as err:
            errors.append(err)
            continue
        types[name] = metric_type
        compiled_metrics.append((name, node, metric_type))

    rules: list[tuple[Any, Node]] = []
    reads: dict[str, tuple[str, ...]] = {}
    env = TypeEnv(names=types, tables=table_types, by_fields=by_fields)
    rule_ids: set[str] = set()
    for rule in rb.all_rules():
        if rule.id in rule_ids:
            errors.append(SpecError(path, rule.line, f"rule id '{rule.id}' is used twice"))
            continue
        rule_ids.add(rule.id)
        try:
            node = parse(rule.when, path=path, line=rule.line, kind="condition")
            if any(n in declared and n not in types for n in names(node)):
                continue  # the metric's own error is reported
            infer(node, env, path=path, line=rule.line, kind="condition")
        except SpecError as err:
            errors.append(err)
            continue
        rules.append((rule, node))
        reads[rule.id] = names(node)

    if errors:
        raise ErrorList(errors)
    return CompiledRulebook(
        rulebook=rb,
        metrics=tuple(compiled_metrics),
        rules=tuple(rules),
        types=types,
        reads=reads,
        metric_reads={name: names(node) for name, node, _ in compiled_metrics},
        tables=tables,
    )


def _tables(
    rb: Any, path: str, field_types: Mapping[str, Type], errors: list[DiffpriceError]
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[str, Type]]]:
    """Each table's key must be a string field and its values all numbers or all strings."""
    tables: dict[str, dict[str, Any]] = {}
    table_types: dict[str, tuple[str, Type]] = {}
    for name, table in rb.tables.items():
        line = getattr(table, "line", 0)
        values = dict(table.values)
        kinds = {_value_type(v) for v in values.values()}
        if name in field_types:
            errors.append(SpecError(path, line, f"table '{name}' is named like a field"))
        elif table.key not in field_types:
            errors.append(
                SpecError(
                    path,
                    line,
                    f"table '{name}': key '{table.key}' is not a declared field"
                    f"{_suggest(table.key, field_types)}",
                )
            )
        elif field_types[table.key] != "string":
            errors.append(
                SpecError(path, line, f"table '{name}': key field '{table.key}' must be a string")
            )
        elif len(kinds) != 1 or None in kinds:
            errors.append(
                SpecError(path, line, f"table '{name}': values must be all numbers or all text")
            )
        else:
            tables[name] = values
            table_types[name] = (table.key, kinds.pop())  # type: ignore[arg-type]
    return tables, table_types


def _value_type(value: object) -> Type | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _parse_metrics(
    rb: Any,
    path: str,
    field_types: Mapping[str, Type],
    tables: Mapping[str, Any],
    errors: list[DiffpriceError],
) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    seen: set[str] = set()
    for metric in rb.metrics:
        if metric.name in field_types:
            errors.append(
                SpecError(path, metric.line, f"metric '{metric.name}' is named like a field")
            )
            continue
        if metric.name in seen:
            errors.append(SpecError(path, metric.line, f"metric '{metric.name}' is defined twice"))
            continue
        seen.add(metric.name)
        if metric.name in rb.tables:
            errors.append(
                SpecError(path, metric.line, f"metric '{metric.name}' is named like a table")
            )
            continue
        try:
            nodes[metric.name] = parse(metric.expr, path=path, line=metric.line, kind="metric")
        except SpecError as err:
            errors.append(err)
    return nodes


def _metric_order(
    rb: Any, path: str, nodes: Mapping[str, Node], errors: list[DiffpriceError]
) -> list[str]:
    """Metrics sorted so each follows the metrics it reads; file order among the free ones."""
    depends = {name: [n for n in names(node) if n in nodes] for name, node in nodes.items()}
    order: list[str] = []
    done: set[str] = set()
    pending = list(nodes)
    while pending:
        ready = next((m for m in pending if all(d in done for d in depends[m])), None)
        if ready is None:
            break
        order.append(ready)
        done.add(ready)
        pending.remove(ready)
    lines: dict[str, int] = {}
    for metric in rb.metrics:
        lines.setdefault(metric.name, metric.line)
    reported: set[str] = set()
    for start in pending:
        cycle = _find_cycle(start, depends, done)
        if cycle and not reported.intersection(cycle):
            reported.update(cycle)
            shown = " -> ".join([*cycle, cycle[0]])
            message = f"metrics depend on each other: {shown}"
            errors.append(SpecError(path, lines[cycle[0]], message))
    return order


def _find_cycle(start: str, depends: Mapping[str, list[str]], done: set[str]) -> list[str]:
    """Follow unresolved dependencies from ``start`` until a metric repeats."""
    trail: list[str] = []
    current = start
    while current not in trail:
        trail.append(current)
        current = next(d for d in depends[current] if d not in done)
    return trail[trail.index(current) :]
