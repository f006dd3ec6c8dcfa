"""The district proposal report: one self-contained HTML page (SPEC "Outputs of simulate").

A district official must see, without a network connection, what the proposal changes, who pays
more and how much revenue moves (DOMAIN: districts file 个性化差别电价 proposals and test them on
history before filing). Amounts arrive as decimal text; tables add them as integer fen and print
them through ``Decimal``, floats are used only to draw charts. Same data → same bytes.
"""

from __future__ import annotations

import html
import io
import re
import warnings
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # matplotlib is imported lazily, only when a report is drawn
    from matplotlib.figure import Figure

FONT_STACK = (
    '"Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", '
    '"Microsoft YaHei", "PingFang SC", "Hiragino Sans GB", "SimHei", sans-serif'
)
_CHART_FONTS = [
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
    "DejaVu Sans",
]
BASE_COLOUR = "#7f8c99"
PROPOSAL_COLOUR = "#d9822b"
TOP_AFFECTED = 20
_AMOUNT = re.compile(r"-?\d+(\.\d{1,2})?")


@dataclass(frozen=True)
class ReportData:
    """What ``simulate`` hands to the report (frames hold text, amounts as decimal text).

    - ``impact``: ``period, enterprise_id, district, industry_code, rulebook, base_class,
      proposal_class, base_amount, proposal_amount, delta``; optional ``quantity`` (kWh) and
      ``base_bill`` (yuan, empty when unknown) for the burden charts.
    - ``summary``: ``period, district, rulebook, class, base, proposal, delta,
      enterprises_changed``.
    - ``transitions``: ``rulebook, base_class, proposal_class, enterprises``.
    - ``changes``: ``kind, id, field, baseline, proposal`` (rules and rates side by side).
    - ``classes``: optional class order per rulebook, mildest first, to order the transition
      matrix and tell tightening from easing.
    """

    proposal_id: str
    title: str
    districts: list[str]
    periods: list[str]
    impact: pd.DataFrame
    summary: pd.DataFrame
    transitions: pd.DataFrame
    changes: pd.DataFrame
    classes: dict[str, list[str]] = field(default_factory=dict)


# ---------------------------------------------------------------------------- numbers


def to_fen(series: pd.Series, column: str = "amount") -> np.ndarray:
    """Decimal yuan text (``"123.40"``, ``"-5"``, empty = 0) → exact int64 fen, vectorized."""
    text = series.astype("string").fillna("").str.strip()
    text = text.where(text != "", "0")
    valid = text.str.fullmatch(_AMOUNT).fillna(False).astype(bool)
    if not valid.all():
        bad = text[~valid].iloc[0]
        raise ValueError(f"column {column!r}: {bad!r} is not a yuan amount with ≤ 2 decimals")
    negative = text.str.startswith("-").to_numpy(dtype=bool)
    parts = text.str.lstrip("-").str.partition(".")
    whole = parts[0].astype("int64").to_numpy()
    cents = parts[2].str.ljust(2, "0").where(parts[2] != "", "0").astype("int64").to_numpy()
    fen = whole * 100 + cents
    return np.where(negative, -fen, fen)


def yuan(fen: int | np.integer, signed: bool = False) -> str:
    """Integer fen as ``1,234.50`` (``+``/``−`` when ``signed``), through Decimal, no float."""
    amount = Decimal(int(fen)).scaleb(-2)
    text = f"{abs(amount):,.2f}"
    if signed and amount > 0:
        return "+" + text
    return ("−" + text) if amount < 0 else text


def _share(part: int, whole: int) -> str:
    if whole == 0:
        return "—"
    pct = (Decimal(int(part)) * 100 / Decimal(int(whole))).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return f"{pct:+}%"


def _with_fen(impact: pd.DataFrame) -> pd.DataFrame:
    frame = impact.copy()
    frame["base_fen"] = to_fen(frame["base_amount"], "base_amount")
    frame["proposal_fen"] = to_fen(frame["proposal_amount"], "proposal_amount")
    frame["delta_fen"] = to_fen(frame["delta"], "delta")
    inconsistent = frame["delta_fen"] != frame["proposal_fen"] - frame["base_fen"]
    if inconsistent.any():
        row = frame[inconsistent].iloc[0]
        raise ValueError(
            f"impact: delta {row['delta']!r} of {row['enterprise_id']} in {row['period']} is not "
            f"proposal − base ({row['proposal_amount']} − {row['base_amount']})"
        )
    frame["industry"] = frame["industry_code"].astype("string").fillna("").str.slice(0, 3)
    return frame


# ---------------------------------------------------------------------------- html pieces


def _e(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return html.escape(str(value))


def _table(
    headers: list[str],
    rows: list[list[str]],
    numeric: frozenset[int] | set[int] = frozenset(),
    caption: str = "",
) -> str:
    """An HTML table; cells arrive already escaped (some carry markup such as delta colour)."""
    head = "".join(
        f'<th class="num">{h}</th>' if i in numeric else f"<th>{h}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    cap = f"<caption>{caption}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _delta_cell(fen: int) -> str:
    css = "up" if fen > 0 else "down" if fen < 0 else "same"
    return f'<span class="{css}">{yuan(fen, signed=True)}</span>'


def _empty(message: str) -> str:
    return f'<p class="empty">{_e(message)}</p>'


# ---------------------------------------------------------------------------- charts


def _svg(figure: Figure, key: str) -> str:
    """A figure as inline SVG: no XML prolog or metadata, ids prefixed to stay unique."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r'\bid="', f'id="{key}-', text)
    text = re.sub(r'(xlink:href|href)="#', rf'\1="#{key}-', text)
    text = text.replace("url(#", f"url(#{key}-")
    return text.replace("<svg ", f'<svg role="img" aria-label="{_e(key)}" ', 1)


def _bar_chart(
    labels: list[str], base: np.ndarray, proposal: np.ndarray, key: str, ylabel: str
) -> str:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    figure = Figure(figsize=(max(5.0, 0.55 * len(labels) + 2), 3.2))
    axes = figure.add_subplot()
    x = np.arange(len(labels))
    axes.bar(x - 0.2, base / 100, 0.4, label="基准 baseline", color=BASE_COLOUR)
    axes.bar(x + 0.2, proposal / 100, 0.4, label="方案 proposal", color=PROPOSAL_COLOUR)
    axes.set_xticks(x, labels, rotation=45 if len(labels) > 8 else 0, ha="right")
    axes.set_ylabel(ylabel)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(frameon=False)
    figure.tight_layout()
    return _svg(figure, key)


def _histogram(base: np.ndarray, proposal: np.ndarray, key: str, xlabel: str) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.0, 3.0))
    axes = figure.add_subplot()
    both = np.concatenate([base, proposal])
    edges = np.histogram_bin_edges(both, bins=min(30, max(5, len(both) // 4)))
    axes.hist(base, bins=edges, alpha=0.6, label="基准 baseline", color=BASE_COLOUR)
    axes.hist(proposal, bins=edges, alpha=0.6, label="方案 proposal", color=PROPOSAL_COLOUR)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("企业·月 enterprise-months")
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(frameon=False)
    figure.tight_layout()
    return _svg(figure, key)


# ---------------------------------------------------------------------------- sections


def _headline(impact: pd.DataFrame) -> str:
    base, proposal = int(impact["base_fen"].sum()), int(impact["proposal_fen"].sum())
    per_enterprise = impact.groupby("enterprise_id", sort=True)["delta_fen"].sum()
    more = int((per_enterprise > 0).sum())
    less = int((per_enterprise < 0).sum())
    same = int((per_enterprise == 0).sum())
    cards = [
        ("基准收入 Baseline revenue", f"{yuan(base)} 元", ""),
        ("方案收入 Proposal revenue", f"{yuan(proposal)} 元", ""),
        ("变化 Change", f"{yuan(proposal - base, signed=True)} 元", _share(proposal - base, base)),
        ("多缴企业 Enterprises paying more", str(more), ""),
        ("少缴企业 Enterprises paying less", str(less), ""),
        ("不变 Unchanged", str(same), ""),
    ]
    items = "".join(
        f'<div class="card"><div class="label">{label}</div>'
        f'<div class="figure">{_e(value)}</div><div class="note">{_e(note)}</div></div>'
        for label, value, note in cards
    )
    return (
        f'<section id="headline"><h2>概要 Headline</h2><div class="cards">{items}</div></section>'
    )


def _revenue(impact: pd.DataFrame) -> str:
    parts = ['<section id="revenue"><h2>收入变化 Revenue: baseline vs proposal</h2>']
    for key, column, title in (
        ("by-month", "period", "按月份 By month"),
        ("by-industry", "industry", "按行业 By industry (GB/T 4754, 3 characters)"),
    ):
        grouped = (
            impact.groupby(column, sort=True)[["base_fen", "proposal_fen", "delta_fen"]]
            .sum()
            .astype("int64")
        )
        parts.append(f"<h3>{_e(title)}</h3>")
        if grouped.empty:
            parts.append(_empty("No billing lines in the simulated periods."))
            continue
        labels = [str(label) for label in grouped.index]
        parts.append(
            '<div class="chart">'
            + _bar_chart(
                labels,
                grouped["base_fen"].to_numpy(),
                grouped["proposal_fen"].to_numpy(),
                key,
                "元 yuan",
            )
            + "</div>"
        )
        rows = [
            [
                _e(label),
                yuan(row.base_fen),
                yuan(row.proposal_fen),
                _delta_cell(row.delta_fen),
                _share(row.delta_fen, row.base_fen),
            ]
            for label, row in zip(labels, grouped.itertuples(), strict=True)
        ]
        rows.append(
            [
                "<b>合计 Total</b>",
                yuan(grouped["base_fen"].sum()),
                yuan(grouped["proposal_fen"].sum()),
                _delta_cell(int(grouped["delta_fen"].sum())),
                _share(int(grouped["delta_fen"].sum()), int(grouped["base_fen"].sum())),
            ]
        )
        parts.append(
            _table(
                [_e(column), "基准 baseline", "方案 proposal", "变化 change", "%"],
                rows,
                numeric={1, 2, 3, 4},
            )
        )
    parts.append("</section>")
    return "".join(parts)


def _class_order(rulebook: str, frame: pd.DataFrame, known: dict[str, list[str]]) -> list[str]:
    seen = pd.unique(
        pd.concat([frame["base_class"], frame["proposal_class"]]).astype("string").fillna("—")
    )
    order = [c for c in known.get(rulebook, []) if c in set(seen)]
    return order + [c for c in seen if c not in order]


def _transitions(transitions: pd.DataFrame, known: dict[str, list[str]]) -> str:
    parts = ['<section id="transitions"><h2>类别变化 Class transitions</h2>']
    parts.append(
        '<p class="hint">Rows: baseline class; columns: proposal class; cells: enterprises. '
        "Red cells move to a more severe class, green to a milder one.</p>"
    )
    if transitions.empty:
        parts.append(_empty("No enterprise is classified by the rulebooks in scope."))
        return "".join(parts) + "</section>"
    frame = transitions.copy()
    frame["enterprises"] = pd.to_numeric(frame["enterprises"]).astype("int64")
    for rulebook, block in frame.groupby("rulebook", sort=True):
        order = _class_order(str(rulebook), block, known)
        ranked = str(rulebook) in known
        counts = (
            block.assign(
                base_class=block["base_class"].astype("string").fillna("—"),
                proposal_class=block["proposal_class"].astype("string").fillna("—"),
            )
            .pivot_table(
                index="base_class",
                columns="proposal_class",
                values="enterprises",
                aggfunc="sum",
                fill_value=0,
            )
            .reindex(index=order, columns=order, fill_value=0)
        )
        peak = max(int(counts.to_numpy().max()), 1)
        head = "".join(f"<th>{_e(c)}</th>" for c in order)
        body = []
        for i, base_class in enumerate(order):
            cells = []
            for j, proposal_class in enumerate(order):
                count = int(counts.loc[base_class, proposal_class])
                alpha = f"{0.12 + 0.68 * count / peak:.2f}" if count else "0"
                if i == j:
                    rgb, css = "127,140,153", "diag"
                elif not ranked:
                    rgb, css = "217,130,43", "moved"
                elif j > i:
                    rgb, css = "200,60,50", "tighter"
                else:
                    rgb, css = "60,150,90", "milder"
                cells.append(
                    f'<td class="num {css}" style="background: rgba({rgb},{alpha})">{count}</td>'
                )
            body.append(f"<tr><th>{_e(base_class)}</th>{''.join(cells)}</tr>")
        parts.append(
            f"<h3>{_e(rulebook)}</h3>"
            f'<table class="matrix"><thead><tr><th>基准 \\ 方案</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>"
        )
    parts.append("</section>")
    return "".join(parts)


def _burden(impact: pd.DataFrame) -> str:
    parts = ['<section id="burden"><h2>负担分布 Burden distribution</h2>']
    if "quantity" not in impact.columns:
        parts.append(_empty("The billing extract gives no quantities: burden not shown."))
        return "".join(parts) + "</section>"
    frame = impact.assign(
        quantity_kwh=pd.to_numeric(impact["quantity"], errors="coerce"),
        base_bill_fen=(
            pd.Series(
                np.where(
                    impact["base_bill"].astype("string").fillna("").str.strip() == "",
                    -1,
                    to_fen(impact["base_bill"], "base_bill"),
                ),
                index=impact.index,
            )
            if "base_bill" in impact.columns
            else -1
        ),
    )
    per_month = frame.groupby(["period", "enterprise_id"], sort=True).agg(
        base_fen=("base_fen", "sum"),
        proposal_fen=("proposal_fen", "sum"),
        quantity_kwh=("quantity_kwh", "max"),
        base_bill_fen=("base_bill_fen", "max"),
    )
    charged = per_month[
        ((per_month["base_fen"] != 0) | (per_month["proposal_fen"] != 0))
        & (per_month["quantity_kwh"] > 0)
    ]
    if charged.empty:
        parts.append(_empty("No enterprise pays a surcharge under either tariff."))
        return "".join(parts) + "</section>"
    parts.append(
        f'<p class="hint">{len(charged)} enterprise-months that pay a surcharge under either '
        "tariff (surcharge ÷ kWh, yuan per kWh).</p>"
    )
    parts.append(
        '<div class="chart">'
        + _histogram(
            charged["base_fen"].to_numpy() / 100 / charged["quantity_kwh"].to_numpy(),
            charged["proposal_fen"].to_numpy() / 100 / charged["quantity_kwh"].to_numpy(),
            "burden-per-kwh",
            "附加费 元/千瓦时 surcharge, yuan per kWh",
        )
        + "</div>"
    )
    billed = charged[charged["base_bill_fen"] > 0]
    if billed.empty:
        parts.append(_empty("Base bills are not known: share of bill not shown."))
    else:
        bill = billed["base_bill_fen"].to_numpy()
        parts.append(
            '<p class="hint">Surcharge as a share of the base electricity bill '
            f"({len(billed)} enterprise-months with a known base bill).</p>"
            '<div class="chart">'
            + _histogram(
                100 * billed["base_fen"].to_numpy() / bill,
                100 * billed["proposal_fen"].to_numpy() / bill,
                "burden-share",
                "占基础电费 % share of base bill, %",
            )
            + "</div>"
        )
    return "".join(parts) + "</section>"


def _top_affected(impact: pd.DataFrame) -> str:
    parts = [f'<section id="top"><h2>影响最大的 {TOP_AFFECTED} 家企业 Most affected</h2>']
    moves = impact.assign(
        move=impact["rulebook"].astype("string").fillna("")
        + ": "
        + impact["base_class"].astype("string").fillna("—")
        + " → "
        + impact["proposal_class"].astype("string").fillna("—")
    )
    per_enterprise = (
        moves.groupby("enterprise_id", sort=True)
        .agg(
            district=("district", "first"),
            industry_code=("industry_code", "first"),
            base_fen=("base_fen", "sum"),
            proposal_fen=("proposal_fen", "sum"),
            delta_fen=("delta_fen", "sum"),
            moves=("move", lambda m: "; ".join(sorted(set(m)))),
        )
        .reset_index()
    )
    per_enterprise = per_enterprise[per_enterprise["delta_fen"] != 0]
    if per_enterprise.empty:
        parts.append(_empty("No enterprise pays a different amount."))
        return "".join(parts) + "</section>"
    per_enterprise["magnitude"] = per_enterprise["delta_fen"].abs()
    top = per_enterprise.sort_values(
        ["magnitude", "enterprise_id"], ascending=[False, True], kind="stable"
    ).head(TOP_AFFECTED)
    rows = [
        [
            _e(row.enterprise_id),
            _e(row.district),
            _e(row.industry_code),
            _e(row.moves),
            yuan(row.base_fen),
            yuan(row.proposal_fen),
            _delta_cell(row.delta_fen),
        ]
        for row in top.itertuples()
    ]
    parts.append(
        _table(
            [
                "统一社会信用代码 enterprise",
                "区县 district",
                "行业 industry",
                "类别 class (baseline → proposal)",
                "基准 baseline",
                "方案 proposal",
                "变化 change",
            ],
            rows,
            numeric={4, 5, 6},
        )
    )
    return "".join(parts) + "</section>"


def _summary(summary: pd.DataFrame) -> str:
    parts = ['<section id="summary"><h2>按区县与类别 By district, rulebook and class</h2>']
    if summary.empty:
        return "".join(parts) + _empty("Nothing to summarise.") + "</section>"
    frame = summary.assign(
        base_fen=to_fen(summary["base"], "base"),
        proposal_fen=to_fen(summary["proposal"], "proposal"),
        delta_fen=to_fen(summary["delta"], "delta"),
        changed=pd.to_numeric(summary["enterprises_changed"]).astype("int64"),
    )
    grouped = frame.groupby(["district", "rulebook", "class"], sort=True).agg(
        base_fen=("base_fen", "sum"),
        proposal_fen=("proposal_fen", "sum"),
        delta_fen=("delta_fen", "sum"),
        changed=("changed", "max"),
    )
    rows = [
        [
            _e(district),
            _e(rulebook),
            _e(klass),
            yuan(row.base_fen),
            yuan(row.proposal_fen),
            _delta_cell(row.delta_fen),
            str(row.changed),
        ]
        for (district, rulebook, klass), row in zip(
            grouped.index, grouped.itertuples(index=False), strict=True
        )
    ]
    parts.append(
        _table(
            [
                "区县 district",
                "rulebook",
                "类别 class",
                "基准 baseline",
                "方案 proposal",
                "变化 change",
                "变化企业 enterprises changed (largest month)",
            ],
            rows,
            numeric={3, 4, 5, 6},
        )
    )
    return "".join(parts) + "</section>"


def _changes(changes: pd.DataFrame) -> str:
    parts = ['<section id="changes"><h2>规则与费率变化 Changed rules and rates</h2>']
    if changes.empty:
        return "".join(parts) + _empty("The proposal changes no rule or rate.") + "</section>"
    ordered = changes.sort_values(["kind", "id", "field"], kind="stable")
    rows = [
        [
            _e(row.kind),
            f"<code>{_e(row.id)}</code>",
            _e(row.field),
            f'<pre class="old">{_e(row.baseline)}</pre>',
            f'<pre class="new">{_e(row.proposal)}</pre>',
        ]
        for row in ordered.itertuples()
    ]
    parts.append(_table(["kind", "id", "field", "基准 baseline", "方案 proposal"], rows))
    return "".join(parts) + "</section>"


_CSS = """
body { font-family: %(fonts)s; margin: 2em auto; max-width: 70em; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #d9822b; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #555; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8em; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em; min-width: 13em; }
.card .label { color: #555; font-size: 0.9em; }
.card .figure { font-size: 1.5em; font-weight: bold; font-variant-numeric: tabular-nums; }
.card .note { color: #555; min-height: 1.2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; vertical-align: top; }
th { background: #f4f4f4; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.matrix td { min-width: 4em; }
.up { color: #b03a2e; } .down { color: #1e8449; } .same { color: #777; }
pre { margin: 0; white-space: pre-wrap; font-family: inherit; }
pre.old { color: #555; } pre.new { color: #000; font-weight: bold; }
.chart svg { max-width: 100%%; height: auto; }
.hint, .empty { color: #555; font-size: 0.92em; }
"""


def render_report(data: ReportData) -> str:
    """The whole page as text: deterministic, self-contained, every string escaped."""
    import matplotlib

    impact = _with_fen(data.impact)
    rc = {
        "svg.fonttype": "none",
        "svg.hashsalt": f"diffprice-{data.proposal_id}",
        "font.family": ["sans-serif"],
        "font.sans-serif": _CHART_FONTS,
        "font.size": 9,
    }
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        # Layout is measured with whichever font matplotlib has; the browser draws the CJK text.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        warnings.filterwarnings("ignore", message="findfont")
        sections = [
            _headline(impact),
            _revenue(impact),
            _transitions(data.transitions, data.classes),
            _burden(impact),
            _top_affected(impact),
            _summary(data.summary),
            _changes(data.changes),
        ]
    title = _e(data.title)
    meta = (
        f"方案 proposal <code>{_e(data.proposal_id)}</code> · "
        f"区县 districts: {_e(', '.join(map(str, data.districts)))} · "
        f"期间 periods: {_e(', '.join(map(str, data.periods)))}"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{_CSS % {'fonts': FONT_STACK}}</style>\n"
        "</head>\n<body>\n"
        f'<h1>{title}</h1>\n<p class="meta">{meta}</p>\n'
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )
