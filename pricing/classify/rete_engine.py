"""The rete engine: rule outcomes computed by durable_rules, the independent reference.

The vectorized engine is the fast path; this one exists so `diffprice test`, `explain` and the
equivalence property tests can check it against a second, unrelated evaluator (ARCHITECTURE.md).
It returns the same outcome frame as ``engine.rule_outcomes``; ``policy.decide`` does the rest.

How durable_rules is tamed (DURABLE_RULES.md):
- the rulebook is compiled to ONE JSON ruleset (a plain dict, golden-testable): per rule
  TRUE rules and FALSE rules (``expr.rete.condition`` / ``negated``, one durable rule per
  alternative of a top-level ``$or``, which keeps each under durable's limit of 31
  expression entries); a fact matching neither is unknown. A catch-all rule keeps facts
  that match nothing from raising;
- facts, not events, so every matching rule fires; each fact has a unique ``id`` and the
  session is deleted after every small batch (the session limit is 1,025);
- actions only record ``(row, rule, value)``; errors swallowed into the state are checked;
- facts hold plain JSON values; a missing value is an absent key;
- ruleset names are unique (hash + counter) because a ruleset can never be redefined;
- rulesets over ~512 comparison nodes hang in creation: refused before creating them.

This is the only module of ``pricing`` that imports durable_rules, lazily.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from typing import Any

import numpy as np
import pandas as pd

from pricing.errors import DiffpriceError, SpecError
from pricing.expr import rete

ROW_KEY = "_row"
RESERVED_KEYS = ("sid", "id", ROW_KEY)
BATCH = 50
MAX_CONDITION_NODES = 480
_UNKNOWN, _TRUE, _FALSE = 0, 1, 2
_ruleset_numbers = itertools.count(1)


class ReteError(DiffpriceError):
    """durable_rules misbehaved (an action failed, or a rule fired both ways)."""


def compile_ruleset(compiled: Any) -> dict[str, Any]:
    """The rulebook's durable_rules ruleset: ``{rule name: {"all": [...], "run": action}}``.

    Action names are ``"<index>:true"`` / ``"<index>:false"`` (index in ``compiled.rules``)
    and ``"seen"`` for the catch-all.
    """
    ruleset: dict[str, Any] = {}
    for index, (_rule, node) in enumerate(compiled.rules):
        for value, condition in (("true", rete.condition(node)), ("false", rete.negated(node))):
            for number, alternative in enumerate(_alternatives(condition)):
                ruleset[f"r{index}-{value}-{number}"] = {"all": [{"m": alternative}],
                                                         "run": f"{index}:{value}"}
    ruleset["seen"] = {"all": [{"m": {"$ex": {ROW_KEY: 1}}}], "run": "seen"}
    return ruleset


def _alternatives(condition: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a top-level ``$or``, each to become a rule with the same action.

    durable_rules keeps one condition in a sequence of at most 31 entries (comparisons and
    ``$and``/``$or`` marks) and refuses a longer one ("Could not create ruleset, error code:
    113"); a negated ``and`` of ``or``s reaches that quickly. Split, each alternative is a
    rule of its own: a fact matching several records the same outcome several times.
    """
    if "$or" not in condition:
        return [condition]
    return [found for part in condition["$or"] for found in _alternatives(part)]


def check_ruleset_size(compiled: Any, ruleset: dict[str, Any]) -> None:
    """Refuse a ruleset durable_rules would hang on (more than ~512 condition nodes), and
    names that clash with the keys the engine adds to every fact."""
    rulebook = compiled.rulebook
    nodes = _condition_nodes(ruleset)
    if len(nodes) > MAX_CONDITION_NODES:
        raise SpecError(
            rulebook.path, rulebook.line,
            f"rulebook '{rulebook.id}' needs {len(nodes)} distinct comparisons in the rete "
            f"engine, more than its limit of {MAX_CONDITION_NODES}: simplify the rules or "
            f"use --engine vectorized")
    clashes = sorted(set(compiled.types) & set(RESERVED_KEYS))
    if clashes:
        raise SpecError(rulebook.path, rulebook.line,
                        f"the rete engine reserves the names {', '.join(clashes)}")


def _condition_nodes(tree: Any) -> set[str]:
    """Distinct ``{op: {name: value}}`` comparisons of a ruleset (durable shares equal ones)."""
    found: set[str] = set()
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key.startswith("$") and key not in ("$and", "$or") and isinstance(value, dict):
                found.add(json.dumps({key: value}, sort_keys=True))
            elif key not in ("$and", "$or", "all", "m") and not key.startswith("$") \
                    and not isinstance(value, dict | list):
                found.add(json.dumps({key: value}, sort_keys=True))
            else:
                found |= _condition_nodes(value)
    elif isinstance(tree, list):
        for item in tree:
            found |= _condition_nodes(item)
    return found


def facts_as_json(compiled: Any, facts: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row as a plain-JSON fact: numbers, strings, ``"true"``/``"false"``; missing absent.

    Only the names the rules read are sent: fewer keys, faster matching.
    """
    read = list(dict.fromkeys(n for names in compiled.reads.values() for n in names))
    columns: dict[str, list[Any]] = {}
    for name in read:
        kind = compiled.types.get(name)
        column = facts[name]
        if kind == "number":
            values = pd.to_numeric(column).astype("Float64").to_numpy(dtype=object,
                                                                     na_value=None)
            columns[name] = [None if v is None else _number(v, name) for v in values]
        elif kind == "boolean":
            values = column.astype("boolean").to_numpy(dtype=object, na_value=None)
            columns[name] = [None if v is None else ("true" if v else "false") for v in values]
        else:
            columns[name] = list(column.astype("string").to_numpy(dtype=object, na_value=None))
    rows: list[dict[str, Any]] = []
    for row in range(len(facts)):
        fact: dict[str, Any] = {ROW_KEY: row}
        for name, values in columns.items():
            if values[row] is not None:
                fact[name] = values[row]
        rows.append(fact)
    return rows


def _number(value: float, name: str) -> int | float:
    """A fact number: integral floats as ints; written without exponent by ``facts_text``."""
    number = float(value)
    if not math.isfinite(number):
        raise ReteError(f"the rete engine cannot compare '{name}' = {value!r}")
    return int(number) if number.is_integer() else number


def facts_text(batch: list[dict[str, Any]]) -> str:
    """The JSON text of a batch of facts, numbers in positional notation.

    durable_rules' parser refuses exponents, and Python's ``json`` writes ``1.5e-05``; writing
    the text here lets the reference engine compare every value the vectorized one can.
    """
    facts = []
    for fact in batch:
        items = []
        for key, value in fact.items():
            if isinstance(value, float):
                text = np.format_float_positional(value, trim="-")
            else:
                text = json.dumps(value, ensure_ascii=False)
            items.append(f"{json.dumps(key, ensure_ascii=False)}:{text}")
        facts.append("{" + ",".join(items) + "}")
    return "[" + ",".join(facts) + "]"


class ReteEngine:
    """One durable_rules host per engine; rulesets are compiled once per rulebook and reused."""

    def __init__(self) -> None:
        self._host: Any = None
        self._names: dict[str, str] = {}
        self._outcome: np.ndarray = np.zeros((0, 0), dtype=np.int8)
        self._offset = 0
        self._sessions = itertools.count(1)

    def rule_outcomes(self, compiled: Any, facts: pd.DataFrame) -> pd.DataFrame:
        """One nullable ``boolean`` column per rule id (``<NA>`` = unknown), index = facts'."""
        name = self._ruleset(compiled)
        json_facts = facts_as_json(compiled, facts)
        rule_count = len(compiled.rules)
        self._outcome = np.zeros((len(json_facts), rule_count), dtype=np.int8)
        for start in range(0, len(json_facts), BATCH):
            sid = str(next(self._sessions))
            batch = [dict(fact, sid=sid, id=fact[ROW_KEY]) for fact in
                     json_facts[start:start + BATCH]]
            self._assert_facts(name, batch)
            state = self._host.get_state(name, sid)
            self._host.delete_state(name, sid)
            if "exception" in state:
                raise ReteError(f"a durable_rules action failed: {state['exception']}")
        return _outcome_frame(self._outcome, compiled, facts.index)

    def _assert_facts(self, name: str, batch: list[dict[str, Any]]) -> None:
        """``Host.assert_facts`` with our own JSON text (see ``facts_text``); durable_rules is
        pinned at 2.0.28, whose ``Ruleset`` keeps its engine handle in ``_handle``."""
        import durable_rules_engine

        rules = self._host.get_ruleset(name)
        text = facts_text(batch)
        self._host._handle_function(
            rules, lambda _: rules._handle_result(
                durable_rules_engine.assert_facts(rules._handle, text), batch), None, None)

    def _ruleset(self, compiled: Any) -> str:
        """The durable ruleset name for ``compiled``, creating it on first use."""
        ruleset = compile_ruleset(compiled)
        digest = hashlib.sha256(json.dumps(ruleset, sort_keys=True).encode()).hexdigest()[:16]
        if digest in self._names:
            return self._names[digest]
        check_ruleset_size(compiled, ruleset)
        name = f"diffprice-{compiled.rulebook.id}-{digest}-{next(_ruleset_numbers)}"
        if self._host is None:
            self._host = _make_host(self._record)
        self._host.set_rulesets({name: copy.deepcopy(ruleset)})
        self._names[digest] = name
        return name

    def _record(self, action: str) -> Any:
        """The one-argument callback durable runs for ``action`` (two arguments = async)."""
        if action == "seen":
            def seen(c: Any) -> None:
                return None
            return seen
        index_text, value_text = action.split(":")
        index, value = int(index_text), _TRUE if value_text == "true" else _FALSE

        def record(c: Any) -> None:
            row = c.m[ROW_KEY]
            if self._outcome[row, index] not in (_UNKNOWN, value):
                c.s.exception = f"rule {index} held both true and false on row {row}"
            self._outcome[row, index] = value
        return record


def _make_host(actions: Any) -> Any:
    """A durable Host that resolves action names through ``actions`` and runs no timers."""
    from durable.engine import Host

    class _Host(Host):  # type: ignore[misc]
        def _run(self) -> None:
            """No background dispatch threads: every action runs inside assert_facts."""

        def get_action(self, action_name: str) -> Any:
            return actions(action_name)

    return _Host()


def _outcome_frame(outcome: np.ndarray, compiled: Any, index: pd.Index) -> pd.DataFrame:
    data = {}
    for column, (rule, _node) in enumerate(compiled.rules):
        codes = outcome[:, column]
        data[rule.id] = pd.arrays.BooleanArray(codes == _TRUE, codes == _UNKNOWN)
    return pd.DataFrame(data, index=index)
