"""Cross-file checks of rulebooks and tariffs (SPEC "Tariffs", last paragraph).

Everything here is static: references resolve, flat rates never fall as classes get more
severe, one component id's periods never overlap, parameters are positive, and a district
proposal stays inside its guard rails. Expression checks live in ``pricing.expr.check``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from pricing.errors import SpecError
from pricing.spec.rulebook import UNCLASSIFIED, Rulebook
from pricing.spec.tariff import Component, Flat, OverQuota, Stepped, Tariff


def check_rulebook(rb: Rulebook) -> list[SpecError]:
    """Classes, defaults and rule ids that a rulebook refers to must exist."""
    errors = []
    classes = set(rb.classes)

    def bad(line: int, message: str) -> None:
        errors.append(SpecError(rb.path, line, message))

    if rb.default not in classes:
        bad(rb.line, f"default '{rb.default}' is not one of the classes {rb.classes}")
    if rb.on_missing not in classes and rb.on_missing != UNCLASSIFIED:
        bad(rb.line, f"on_missing '{rb.on_missing}' must be one of the classes {rb.classes} "
            f"or '{UNCLASSIFIED}'")
    for rule in rb.rules:  # duplicate rule ids are reported by the expression compiler
        if rule.class_ not in classes:
            bad(rule.line, f"rule {rule.id}: unknown class '{rule.class_}', expected one of "
                f"{rb.classes}")
    rule_ids = {r.id for r in rb.all_rules()}
    for example in rb.examples:
        expect = example.expect
        if expect.class_ is not None and expect.class_ not in classes:
            bad(example.line, f"example '{example.name}': unknown class '{expect.class_}'")
        if expect.rule is not None and expect.rule not in rule_ids:
            bad(example.line, f"example '{example.name}': unknown rule '{expect.rule}'")
    if rb.bands is not None and rb.bands.metric not in _numbers(rb):
        bad(rb.bands.line, f"bands: '{rb.bands.metric}' is not a metric or number field "
            "of this rulebook")
    return errors


def check_tariffs(tariffs: Iterable[Tariff], rulebooks: dict[str, Rulebook]) -> list[SpecError]:
    """References, monotone rates, positive parameters and non-overlapping periods."""
    errors: list[SpecError] = []
    periods: dict[str, list[tuple[Component, str]]] = {}
    for tariff in tariffs:
        for comp in tariff.components:
            errors += check_component(comp, tariff.path, rulebooks)
            for other, other_path in periods.get(comp.id, []):
                if _overlap(comp, other):
                    errors.append(SpecError(tariff.path, comp.line,
                                            f"component '{comp.id}': effective period "
                                            f"{comp.effective or 'always'} overlaps the one at "
                                            f"{other_path}:{other.line}"))
            periods.setdefault(comp.id, []).append((comp, tariff.path))
    return errors


def check_component(comp: Component, path: str,
                    rulebooks: dict[str, Rulebook]) -> list[SpecError]:
    """One component against the rulebooks it reads."""
    errors = []

    def bad(message: str) -> None:
        errors.append(SpecError(path, comp.line, f"component '{comp.id}': {message}"))

    rb = rulebooks.get(comp.rulebook) if comp.rulebook else None
    if comp.rulebook and rb is None:
        bad(f"unknown rulebook '{comp.rulebook}'" + _suggest(comp.rulebook, rulebooks))
        return errors
    if comp.classes is not None:
        if rb is None:
            bad("'classes' needs a 'rulebook'")
        else:
            for cls in comp.classes:
                if cls not in rb.classes:
                    bad(f"unknown class '{cls}' of rulebook '{rb.id}' (classes: {rb.classes})")
    if isinstance(comp, Flat) and rb is not None:
        for cls in comp.rates:
            if cls not in rb.classes:
                bad(f"rate for unknown class '{cls}' of rulebook '{rb.id}' "
                    f"(classes: {rb.classes})")
        rates = [comp.rates.get(cls, Decimal(0)) for cls in rb.classes]
        for i in range(1, len(rates)):
            if rates[i] < rates[i - 1]:
                bad(f"rate falls as the class gets more severe: {rb.classes[i - 1]} "
                    f"{rates[i - 1]} > {rb.classes[i]} {rates[i]}")
    if isinstance(comp, Stepped) and rb is not None:
        numbers = _numbers(rb)
        if comp.metric not in numbers:
            bad(f"'{comp.metric}' is not a metric or number field of rulebook '{rb.id}'")
        if comp.reduction and comp.reduction.metric not in numbers:
            bad(f"reduction: '{comp.reduction.metric}' is not a metric or number field of "
                f"rulebook '{rb.id}'")
    if isinstance(comp, OverQuota) and comp.utility != "water":
        bad("over_quota prices water lines against their quota; utility must be water")
    return errors


def check_limits(comp: Component, limit: Decimal | None, path: str) -> list[SpecError]:
    """A proposal component may not charge more per unit than the baseline's ``limits``."""
    if limit is None:
        return []
    if isinstance(comp, Flat):
        worst = max(comp.rates.values(), default=Decimal(0))
        if worst > limit:
            return [SpecError(path, comp.line, f"component '{comp.id}': rate {worst} is above "
                              f"the limit of {limit} yuan per unit set by the baseline tariff")]
    if isinstance(comp, Stepped) and (comp.cap is None or comp.cap > limit):
        return [SpecError(path, comp.line, f"component '{comp.id}': a stepped rate must be "
                          f"capped at most at the limit of {limit} yuan per unit "
                          f"(cap: {comp.cap})")]
    return []


def _overlap(a: Component, b: Component) -> bool:
    if a.effective is None or b.effective is None:
        return True
    return a.effective.overlaps(b.effective)


def _numbers(rb: Rulebook) -> set[str]:
    return {m.name for m in rb.metrics} | {n for n, f in rb.fields.items() if f.type == "number"}


def _suggest(name: str, known: Iterable[str]) -> str:
    from difflib import get_close_matches

    close = get_close_matches(name, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
