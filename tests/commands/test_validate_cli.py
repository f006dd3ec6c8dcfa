"""`diffprice validate` and `diffprice test` from the command line: exit codes and messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main

ROOT = Path(__file__).resolve().parents[2]

UNIQUE = """\
rulebook: u
title: u
source: s
scope: {industry: [C33]}
fields:
  x: {type: number}
  kind: {type: string}
classes: [a, b, c]
hit_policy: unique
default: a
on_missing: a
rules:
  - id: R1
    class: b
    when: x > 100 and kind == 'big'
  - id: R2
    class: c
    when: x > 150
  - id: R3
    class: c
    when: x < 50
"""


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_bundled_policy_validates() -> None:
    result = invoke("validate", str(ROOT / "rules"), str(ROOT / "tariffs"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ")


def test_bundled_proposal_validates() -> None:
    result = invoke("validate", str(ROOT / "rules"), str(ROOT / "tariffs"), "--proposal",
                    str(ROOT / "tariffs/proposals/yinzhou-foundry-2026"))
    assert result.exit_code == 0, result.output


def test_unique_overlap_is_proven_with_a_witness(tmp_path: Path) -> None:
    path = tmp_path / "u.yaml"
    path.write_text(UNIQUE, encoding="utf-8")
    result = invoke("validate", str(path))
    assert result.exit_code == 0
    assert (f"{path}:16: rulebook u (hit_policy unique): rules R1 and R2 both hold when "
            "x=150.5, kind='big'") in result.output
    assert "R3" not in result.output  # x < 50 never meets x > 100 or x > 150


@pytest.mark.parametrize(("text", "expected"), [
    ("when: x > 100 and kind == 'big'", "when: x > 'big'"),
    ("when: x > 150", "when: __import__('os').system('echo owned')"),
    ("when: x < 50", "when: x <"),
])
def test_broken_rules_exit_1_with_file_and_line(tmp_path: Path, text: str,
                                                expected: str) -> None:
    path = tmp_path / "u.yaml"
    path.write_text(UNIQUE.replace(text, expected), encoding="utf-8")
    result = invoke("validate", str(path))
    assert result.exit_code == 1
    assert f"{path}:" in result.output
    assert "Traceback" not in result.output
    assert "owned" not in result.output


def test_broken_tariff_reference(tmp_path: Path) -> None:
    rules = tmp_path / "u.yaml"
    rules.write_text(UNIQUE, encoding="utf-8")
    tariff = tmp_path / "t.yaml"
    tariff.write_text("tariff: t\ntitle: t\nsource: s\ncomponents:\n  - id: c1\n"
                      "    utility: electricity\n    rulebook: uu\n    kind: flat\n"
                      "    rates: {b: 0.3, c: 0.1}\n", encoding="utf-8")
    result = invoke("validate", str(rules), str(tariff))
    assert result.exit_code == 1
    assert f"{tariff}:5: component 'c1': unknown rulebook 'uu'; did you mean 'u'?" \
        in result.output
    tariff.write_text(tariff.read_text().replace("rulebook: uu", "rulebook: u"))
    result = invoke("validate", str(rules), str(tariff))
    assert result.exit_code == 1
    assert "rate falls as the class gets more severe: b 0.3 > c 0.1" in result.output


def test_every_command_has_help() -> None:
    for name, command in main.commands.items():
        assert command.help, f"diffprice {name} has no help text"
        result = invoke(name, "--help")
        assert result.exit_code == 0, name


def _proposal(tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "proposal"
    shutil.copytree(ROOT / "tariffs/proposals/yinzhou-foundry-2026", target)
    return target


def test_a_proposal_above_the_baseline_limit_is_refused(tmp_path: Path) -> None:
    proposal = _proposal(tmp_path)
    tariff = proposal / "tariff.yaml"
    tariff.write_text(tariff.read_text(encoding="utf-8").replace("eliminated: 0.30",
                                                                 "eliminated: 0.80"),
                      encoding="utf-8")
    result = invoke("validate", str(ROOT / "rules"), str(ROOT / "tariffs"), "--proposal",
                    str(proposal))
    assert result.exit_code == 1
    assert "rate 0.80 is above the limit of 0.50 yuan per unit" in result.output
    assert f"{tariff}:" in result.output


def test_a_proposal_rulebook_scoped_outside_its_districts_is_refused(tmp_path: Path) -> None:
    proposal = _proposal(tmp_path)
    rulebook = proposal / "foundry.yaml"
    text = rulebook.read_text(encoding="utf-8")
    assert "districts:" in text
    lines = [("  districts: ['330281']" if line.strip().startswith("districts:") else line)
             for line in text.splitlines()]
    rulebook.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("validate", str(ROOT / "rules"), str(ROOT / "tariffs"), "--proposal",
                    str(proposal))
    assert result.exit_code == 1
    assert "lie outside the proposal's districts" in result.output
