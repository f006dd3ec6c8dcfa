"""The proposal report: one self-contained, deterministic HTML page (SPEC "Outputs of simulate")."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from pricing.simulate.report import ReportData, render_report, to_fen, yuan

CHROMIUM = Path("/usr/bin/chromium")
TITLE = "鄞州区铸造业个性化差别电价方案"

# Three enterprises in district 330212 over two months, foundry rulebook:
# - E1 restricted → eliminated: 0.10 → 0.30 yuan/kWh on 100,000 kWh = 10,000.00 → 30,000.00
# - E2 permitted → restricted: 0 → 0.10 on 50,000 kWh = 0 → 5,000.00
# - E3 eliminated → restricted: 0.30 → 0.10 on 20,000 kWh = 6,000.00 → 2,000.00
# Per month: base 16,000.00, proposal 37,000.00; two months: 32,000.00 → 74,000.00 (+42,000.00).
E1, E2, E3 = "91330212MA2AAAAA1X", "91330212MA2BBBBB2Y", "91330212MA2CCCCC3Z"


def _impact() -> pd.DataFrame:
    rows = []
    for period in ("2024-01", "2024-02"):
        rows += [
            [period, E1, "330212", "C3391", "foundry", "restricted", "eliminated",
             "10000.00", "30000.00", "20000.00", "100000", "80000.00"],
            [period, E2, "330212", "C3392", "foundry", "permitted", "restricted",
             "0.00", "5000.00", "5000.00", "50000", ""],
            [period, E3, "330212", "C3391", "foundry", "eliminated", "restricted",
             "6000.00", "2000.00", "-4000.00", "20000", "16000.00"],
        ]  # fmt: skip
    columns = [
        "period", "enterprise_id", "district", "industry_code", "rulebook", "base_class",
        "proposal_class", "base_amount", "proposal_amount", "delta", "quantity", "base_bill",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns, dtype="string")


def _data(**overrides: object) -> ReportData:
    summary = pd.DataFrame(
        [["2024-01", "330212", "foundry", "eliminated", "6000.00", "30000.00", "24000.00", "2"]],
        columns=[
            "period", "district", "rulebook", "class", "base", "proposal", "delta",
            "enterprises_changed",
        ],
        dtype="string",
    )  # fmt: skip
    transitions = pd.DataFrame(
        [
            ["foundry", "restricted", "eliminated", "1"],
            ["foundry", "permitted", "restricted", "1"],
            ["foundry", "eliminated", "restricted", "1"],
        ],
        columns=["rulebook", "base_class", "proposal_class", "enterprises"],
        dtype="string",
    )
    changes = pd.DataFrame(
        [
            ["rule", "FD-E1", "when", "kgce_per_t > 700", "kgce_per_t > 550 <script>"],
            ["rate", "foundry-electricity", "rates.eliminated", "0.30", "0.50"],
        ],
        columns=["kind", "id", "field", "baseline", "proposal"],
        dtype="string",
    )
    fields: dict[str, object] = dict(
        proposal_id="yinzhou-2024",
        title=TITLE,
        districts=["330212"],
        periods=["2024-01", "2024-02"],
        impact=_impact(),
        summary=summary,
        transitions=transitions,
        changes=changes,
        classes={"foundry": ["permitted", "restricted", "eliminated"]},
    )
    fields.update(overrides)
    return ReportData(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def page() -> str:
    return render_report(_data())


def test_amount_text_becomes_exact_fen() -> None:
    fen = to_fen(pd.Series(["123.40", "-5", "0.1", "", None, "100000000000.99"]))
    assert fen.tolist() == [12340, -500, 10, 0, 0, 10_000_000_000_099]
    with pytest.raises(ValueError, match="1.005"):
        to_fen(pd.Series(["1.005"]))
    assert yuan(-123456) == "−1,234.56" and yuan(5, signed=True) == "+0.05"


def test_page_is_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page
    assert page.count("<svg") >= 4  # month, industry, burden per kWh, share of bill
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<script" not in page.lower() and "@import" not in page and "url(http" not in page
    assert '"Noto Sans CJK SC"' in page and '"WenQuanYi Micro Hei"' in page


def test_headline_figures_are_the_hand_computed_totals(page: str) -> None:
    headline = page[page.index('id="headline"') : page.index('id="revenue"')]
    assert "32,000.00 元" in headline
    assert "74,000.00 元" in headline
    assert "+42,000.00 元" in headline and "+131.3%" in headline
    # E1 and E2 pay more, E3 pays less.
    assert re.search(r"paying more</div><div class=\"figure\">2<", headline)
    assert re.search(r"paying less</div><div class=\"figure\">1<", headline)


def test_chinese_text_stays_text(page: str) -> None:
    assert f"<title>{TITLE}</title>" in page and f"<h1>{TITLE}</h1>" in page
    assert "基准 baseline" in page  # chart legend drawn as SVG text, not glyph paths
    svg_text = re.findall(r"<text[^>]*>([^<]*)</text>", page)
    assert any("方案" in t for t in svg_text)


def test_text_is_escaped(page: str) -> None:
    assert "kgce_per_t &gt; 550 &lt;script&gt;" in page


def test_sections_show_transitions_and_most_affected(page: str) -> None:
    matrix = page[page.index('id="transitions"') : page.index('id="burden"')]
    assert matrix.count('class="num tighter"') == 3 and matrix.count('class="num milder"') == 3
    # restricted → eliminated: one enterprise, shaded as tightening at full strength.
    assert 'style="background: rgba(200,60,50,0.80)">1</td>' in matrix
    top = page[page.index('id="top"') : page.index('id="summary"')]
    assert top.index(E1) < top.index(E2) < top.index(E3)  # |delta| 40,000 > 10,000 > 8,000
    assert "−8,000.00" in top
    assert "industry" in page and ">C33<" in page


def test_rendering_is_deterministic(page: str) -> None:
    assert render_report(_data()) == page


def test_without_quantities_or_changes_the_page_still_renders() -> None:
    impact = _impact().drop(columns=["quantity", "base_bill"])
    text = render_report(_data(impact=impact, changes=pd.DataFrame(columns=["kind", "id"])))
    assert "burden not shown" in text and "changes no rule or rate" in text


def test_inconsistent_delta_is_refused() -> None:
    impact = _impact()
    impact.loc[0, "delta"] = "1.00"
    with pytest.raises(ValueError, match="not proposal − base"):
        render_report(_data(impact=impact))


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt: chromium)")
def test_headless_chromium_renders_without_console_errors(page: str, tmp_path: Path) -> None:
    html_path = tmp_path / "report.html"
    html_path.write_text(page, encoding="utf-8")
    profile = tmp_path / "profile"
    result = subprocess.run(
        [
            str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
            "--dump-dom", html_path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    shutil.rmtree(profile, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert TITLE in result.stdout and "74,000.00" in result.stdout
    console = [
        line
        for line in result.stderr.splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "report.html" in line
    ]
    assert console == []
