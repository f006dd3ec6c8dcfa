"""District proposals (SPEC "Proposals"): merge a proposal directory into the baseline.

Inside the named districts a proposal rulebook or component replaces the baseline one with the
same id and new ones are added; outside them nothing changes. The merged catalog is checked
like the baseline, plus the baseline's guard rails (``limits``). Confinement to the districts
is enforced where the two runs are combined (``pricing.simulate.compare``), so no proposal text
can reach an enterprise outside its districts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from pricing.catalog import Catalog, build_catalog
from pricing.errors import DiffpriceError, SpecError, raise_if_any
from pricing.spec.checks import check_limits
from pricing.spec.load import Specs, load_specs
from pricing.spec.proposal import Proposal
from pricing.spec.tariff import Component, Flat, Stepped, Tariff

PROPOSAL_FILE = "proposal.yaml"


@dataclass
class ProposalBundle:
    proposal: Proposal
    catalog: Catalog  # the baseline with the proposal merged in
    replaced: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    changes: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    @property
    def districts(self) -> list[str]:
        return list(self.proposal.districts)


def load_proposal(baseline: Catalog, directory: Path) -> ProposalBundle:
    """Load, merge and check a proposal directory against the baseline catalog."""
    head = directory / PROPOSAL_FILE
    if not head.is_file():
        raise SpecError(str(head), 0, f"a proposal directory needs a {PROPOSAL_FILE}")
    specs = load_specs([directory])
    if len(specs.proposals) != 1:
        raise SpecError(str(head), 0, "a proposal directory holds exactly one proposal file")
    proposal = specs.proposals[0]
    errors: list[DiffpriceError] = []
    for rb in specs.rulebooks.values():
        outside = [d for d in (rb.scope.districts or [])
                   if not any(d.startswith(p) or p.startswith(d) for p in proposal.districts)]
        if outside:
            errors.append(SpecError(rb.path, rb.scope.line, f"rulebook {rb.id}: scope districts "
                                    f"{outside} lie outside the proposal's districts "
                                    f"{proposal.districts}"))
    merged, replaced, added, changes = _merge(baseline, specs)
    errors += _limit_errors(baseline, specs)
    raise_if_any(errors)
    catalog = build_catalog(merged)
    return ProposalBundle(proposal, catalog, replaced, added, changes)


def _merge(baseline: Catalog, specs: Specs) -> tuple[Specs, list[str], list[str], list]:
    rulebooks = dict(baseline.rulebooks)
    replaced, added, changes = [], [], []
    for rb_id, rb in specs.rulebooks.items():
        if rb_id in rulebooks:
            replaced.append(f"rulebook {rb_id}")
            changes += _rule_changes(rulebooks[rb_id], rb)
        else:
            added.append(f"rulebook {rb_id}")
        rulebooks[rb_id] = rb
    new_components = {c.id: c for t in specs.tariffs for c in t.components}
    baseline_ids = {c.id for t in baseline.tariffs for c in t.components}
    tariffs: list[Tariff] = []
    for tariff in baseline.tariffs:
        kept = [c for c in tariff.components if c.id not in new_components]
        for comp in tariff.components:
            if comp.id in new_components:
                changes += _rate_changes(comp, new_components[comp.id])
        tariffs.append(tariff.model_copy(update={"components": kept}))
    for tariff in specs.tariffs:
        tariffs.append(tariff)
        for comp in tariff.components:
            (replaced if comp.id in baseline_ids else added).append(f"component {comp.id}")
            if comp.id not in baseline_ids:
                changes += [("component", comp.id, "(new)", "", _describe(comp))]
    merged = Specs(rulebooks=rulebooks, tariffs=tariffs, proposals=[],
                   files=[*baseline.files, *specs.files])
    return merged, sorted(set(replaced)), sorted(set(added)), changes


def _limit_errors(baseline: Catalog, specs: Specs) -> list[SpecError]:
    """A proposal component may not exceed the guard rail of the baseline tariffs."""
    errors = []
    for tariff in specs.tariffs:
        for comp in tariff.components:
            errors += check_limits(comp, _limit(baseline, comp.utility), tariff.path)
    return errors


def _limit(baseline: Catalog, utility: str) -> Decimal | None:
    limits = [getattr(t.limits, utility) for t in baseline.tariffs if t.limits is not None]
    limits = [x for x in limits if x is not None]
    return min(limits) if limits else None


def _rule_changes(old, new) -> list[tuple[str, str, str, str, str]]:
    """Rules side by side: what the official reads before filing."""
    before = {r.id: r for r in old.all_rules()}
    after = {r.id: r for r in new.all_rules()}
    rows = []
    for rule_id in [*before, *(k for k in after if k not in before)]:
        a, b = before.get(rule_id), after.get(rule_id)
        text_a = f"{a.class_}: {a.when}" if a else "(none)"
        text_b = f"{b.class_}: {b.when}" if b else "(removed)"
        if text_a != text_b:
            rows.append(("rule", f"{new.id}.{rule_id}", "when", text_a, text_b))
    for key in ("default", "on_missing", "hit_policy"):
        if getattr(old, key) != getattr(new, key):
            rows.append(("rulebook", new.id, key, str(getattr(old, key)),
                         str(getattr(new, key))))
    return rows


def _rate_changes(old: Component, new: Component) -> list[tuple[str, str, str, str, str]]:
    a, b = _describe(old), _describe(new)
    return [] if a == b else [("component", new.id, "rates", a, b)]


def _describe(comp: Component) -> str:
    if isinstance(comp, Flat):
        body = ", ".join(f"{k} {v}" for k, v in comp.rates.items())
    elif isinstance(comp, Stepped):
        body = (f"{comp.metric} > {comp.threshold}: +{comp.increment} per {comp.step}"
                + (f", cap {comp.cap}" if comp.cap is not None else ""))
    else:
        body = "; ".join(f"≤{b.upto_pct}%: ×{b.multiple}" if b.upto_pct is not None
                         else f"above: ×{b.multiple}" for b in comp.bands)
    period = f" [{comp.effective}]" if comp.effective is not None else ""
    return f"{comp.kind} {body}{period}"
