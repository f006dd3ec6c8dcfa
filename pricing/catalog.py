"""The loaded policy: rulebooks compiled, tariffs checked, ready to classify and price.

This is the one place where the spec models meet the expression compiler, so every command
(validate, test, classify, run, explain, simulate) sees the same checks and the same errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pricing.errors import DiffpriceError, ErrorList, raise_if_any
from pricing.expr.check import CompiledRulebook, compile_rulebook
from pricing.spec.checks import check_rulebook, check_tariffs
from pricing.spec.load import Specs, load_specs
from pricing.spec.rulebook import Rulebook
from pricing.spec.tariff import Tariff


@dataclass
class Catalog:
    rulebooks: dict[str, Rulebook]
    compiled: dict[str, CompiledRulebook]
    tariffs: list[Tariff] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def active(self, first_day: str, last_day: str) -> list[CompiledRulebook]:
        """Rulebooks in force on some day of ``first_day..last_day`` (ISO dates)."""
        found = []
        for rb_id in sorted(self.compiled):
            eff = self.rulebooks[rb_id].effective
            if eff is None or (str(eff.from_) <= last_day
                               and (eff.to is None or str(eff.to) >= first_day)):
                found.append(self.compiled[rb_id])
        return found


def load_catalog(paths: list[Path]) -> Catalog:
    """Load rule and tariff files (or directories) and run every static check."""
    return build_catalog(load_specs(paths))


def build_catalog(specs: Specs) -> Catalog:
    errors: list[DiffpriceError] = []
    compiled = {}
    for rb in specs.rulebooks.values():
        problems = check_rulebook(rb)
        errors += problems
        try:
            compiled[rb.id] = compile_rulebook(rb)
        except ErrorList as exc:
            errors += exc.errors
        except DiffpriceError as exc:
            errors.append(exc)
    errors += check_tariffs(specs.tariffs, specs.rulebooks)
    raise_if_any(errors)
    return Catalog(dict(specs.rulebooks), compiled, list(specs.tariffs), list(specs.files))
