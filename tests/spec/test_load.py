"""Loading rule and tariff files: models, and errors that name file:line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pricing.errors import ErrorList, SpecError
from pricing.spec.load import load_file, load_specs

RULEBOOK = """\
rulebook: foundry
title: Foundry
source: illustrative
effective: {from: 2015-05-01}
scope:
  industry: [C3391, C3392]
  districts: [330212]
fields:
  output_t: {type: number, unit: t}
  energy_tce: {type: number, unit: tce}
  cupola: {type: string}
metrics:
  kgce_per_t: energy_tce * 1000 / output_t
classes: [permitted, restricted, eliminated]
hit_policy: worst
default: permitted
on_missing: restricted
rules:
  - id: FD-E1
    class: eliminated
    when: cupola in ['yes', 'small'] and kgce_per_t > 550
"""

TARIFF = """\
tariff: city
title: City
source: test
components:
  - id: foundry-electricity
    utility: electricity
    rulebook: foundry
    kind: flat
    rates: {restricted: 0.10, eliminated: 0.30}
    effective: {from: 2015-05-01, to: 2017-12-31}
  - id: water-over-quota
    utility: water
    kind: over_quota
    bands:
      - {upto_pct: 20, multiple: 0.2}
      - {multiple: 1}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(exc: pytest.ExceptionInfo) -> list[str]:
    err = exc.value
    return [str(e) for e in err.errors] if isinstance(err, ErrorList) else [str(err)]


def test_rulebook_model_keeps_lines_and_exact_numbers(tmp_path: Path) -> None:
    rb = load_file(write(tmp_path, "foundry.yaml", RULEBOOK))
    assert rb.id == "foundry"
    assert rb.scope.districts == ["330212"]  # unquoted codes stay text
    assert rb.metrics[0].name == "kgce_per_t" and rb.metrics[0].line == 13
    assert rb.rules[0].line == 19 and rb.rules[0].class_ == "eliminated"


def test_tariff_rates_are_decimals_from_their_text(tmp_path: Path) -> None:
    tariff = load_file(write(tmp_path, "city.yaml", TARIFF))
    assert tariff.components[0].rates["restricted"] == Decimal("0.10")
    assert tariff.components[1].bands[0].multiple == Decimal("0.2")
    assert str(tariff.components[0].effective) == "2015-05-01..2017-12-31"


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("hit_policy: worst", "hit_policy: best",
     "foundry.yaml:15: hit_policy: Input should be 'worst', 'first' or 'unique'"),
    ("  cupola: {type: string}", "  cupola: {type: string, colour: red}",
     "foundry.yaml:11: unknown key 'colour'"),
    ("  output_t: {type: number, unit: t}", "  output_t: {type: integer, unit: t}",
     "foundry.yaml:9: fields.output_t.type: Input should be 'number', 'string' or 'boolean'"),
    ("rulebook: foundry", "rulebook: Foundry", "foundry.yaml:1: rulebook: rulebook id"),
    ("default: permitted\n", "", "foundry.yaml:1: missing required key 'default'"),
    ("    class: eliminated", "    class: eliminated\n    class: restricted",
     "foundry.yaml:21: duplicate key 'class' (first at line 20)"),
])
def test_schema_errors_name_file_and_line(tmp_path: Path, old: str, new: str,
                                          expected: str) -> None:
    assert old in RULEBOOK
    path = write(tmp_path, "foundry.yaml", RULEBOOK.replace(old, new))
    with pytest.raises((SpecError, ErrorList)) as exc:
        load_specs([path])
    found = errors_of(exc)
    assert any(e.startswith(f"{tmp_path}/{expected}") for e in found), found


def test_unknown_kind_and_aliases_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"bad.yaml:1: unknown file kind 'rules'"):
        load_file(write(tmp_path, "bad.yaml", "rules: x\n"))
    with pytest.raises(SpecError, match=r"alias.yaml:2: YAML aliases"):
        load_file(write(tmp_path, "alias.yaml", "tariff: &a x\ntitle: *a\n"))


def test_python_tags_are_not_constructed(tmp_path: Path) -> None:
    path = write(tmp_path, "evil.yaml", "rulebook: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(SpecError, match="evil.yaml:1"):
        load_file(path)


def test_duplicate_rulebook_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", RULEBOOK)
    write(tmp_path, "b.yaml", RULEBOOK)
    with pytest.raises(ErrorList) as exc:
        load_specs([tmp_path])
    assert any("b.yaml:1: duplicate rulebook id 'foundry'" in e for e in errors_of(exc))


def test_unknown_component_kind(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", TARIFF.replace("kind: flat", "kind: tiered"))
    with pytest.raises(ErrorList) as exc:
        load_specs([path])
    assert any("t.yaml:8: components.0: unknown kind 'tiered'" in e for e in errors_of(exc)), \
        errors_of(exc)


def test_libyaml_and_reference_loaders_agree_on_bundled_files() -> None:
    """The libyaml path must give the same values, types and lines as the pure-Python one."""
    from pricing.spec import yamlfile

    def same(fast: object, reference: object) -> None:
        assert type(fast) is type(reference)
        for attr in ("line", "key_lines", "item_lines"):
            assert getattr(fast, attr, None) == getattr(reference, attr, None)
        if isinstance(fast, dict):
            assert list(fast) == list(reference)
            for key in fast:
                same(fast[key], reference[key])
        elif isinstance(fast, list):
            assert len(fast) == len(reference)
            for a, b in zip(fast, reference, strict=True):
                same(a, b)
        else:
            assert (fast, str(fast)) == (reference, str(reference))

    root = Path(__file__).resolve().parents[2]
    files = sorted([*root.glob("rules/*.yaml"), *root.glob("tariffs/**/*.yaml")])
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        same(yamlfile.loads(text, str(path)), yamlfile._reference_loads(text, str(path)))
