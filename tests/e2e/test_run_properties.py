"""Invariants of `run` on random extracts: no line lost, totals equal the CSV, order-free."""

from __future__ import annotations

import csv
import io
import json
import random
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing.billing.batch import RunOptions, run_month
from pricing.catalog import load_catalog

GOLDEN = Path(__file__).parent / "golden"
CATALOG = load_catalog([GOLDEN / "rules", GOLDEN / "tariffs"])
ENTERPRISES = [row.split(",")[0] for row in
               (GOLDEN / "register.csv").read_text(encoding="utf-8").splitlines()[1:]]
ENTERPRISES += ["91330212MA2H00012D", "913302120000000000"]  # unregistered, bad check char
HEADER = "utility,account_id,enterprise_id,period,quantity,production_quantity,quota,base_price"

quantity = st.decimals(min_value=0, max_value=10**7, places=3).map(str)
line = st.fixed_dictionaries({
    "utility": st.sampled_from(["electricity", "electricity", "water", "gas"]),
    "account": st.integers(0, 40),
    "enterprise": st.sampled_from(ENTERPRISES),
    "period": st.sampled_from(["2025-03", "2025-03", "202503", "2025-02"]),
    "quantity": st.one_of(quantity, st.sampled_from(["", "abc", "-1", "1.2345"])),
    "production": st.one_of(st.just(""), quantity),
    "quota": st.one_of(st.just(""), quantity),
    "base_price": st.sampled_from(["", "3.00", "4.32", "2.705"]),
})


def extract_text(lines: list[dict]) -> str:
    rows = [HEADER]
    for item in lines:
        rows.append(",".join([item["utility"], f"A{item['account']:03d}", item["enterprise"],
                              item["period"], item["quantity"], item["production"],
                              item["quota"], item["base_price"]]))
    return "\n".join(rows) + "\n"


def run_once(tmp: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    billing = tmp / f"{name}.csv"
    billing.write_bytes(text.encode(encoding))
    out = tmp / f"{name}-run"
    run_month(RunOptions(period="2025-03", register=GOLDEN / "register.csv", billing=[billing],
                         catalog=CATALOG, overrides=GOLDEN / "overrides.csv",
                         max_reject_rate=1.0), out)
    return out


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(line, min_size=1, max_size=40), st.randoms(use_true_random=False))
def test_no_line_lost_totals_match_and_order_does_not_matter(tmp_path: Path, lines: list[dict],
                                                             rnd: random.Random) -> None:
    tag = f"{len(list(tmp_path.iterdir()))}"
    text = extract_text(lines)
    first = run_once(tmp_path, f"a{tag}", text)
    manifest = json.loads((first / "manifest.json").read_text(encoding="utf-8"))
    counts = manifest["counts"]
    assert counts["billing_rows"] == len(lines)
    assert counts["billing_rows"] == (counts["priced_rows"] + counts["unpriced_rows"]
                                      + counts["rejected_rows"])
    assert counts["rejected_rows"] == len(rows(first / "rejects.csv"))
    surcharges = rows(first / "surcharges.csv")
    assert counts["surcharge_lines"] == len(surcharges)
    assert counts["priced_rows"] == len({(r["utility"], r["account_id"]) for r in surcharges})
    for utility in ("electricity", "water"):
        total = sum((Decimal(r["amount"]) for r in surcharges if r["utility"] == utility),
                    Decimal("0.00"))
        assert manifest["totals"][utility] == f"{total:.2f}"
    assert all(Decimal(r["amount"]) > 0 for r in surcharges)

    shuffled = lines[:]
    rnd.shuffle(shuffled)
    second = run_once(tmp_path, f"b{tag}", extract_text(shuffled), encoding="gb18030")
    for name in ("surcharges.csv", "classification.csv", "summary.csv"):
        assert (second / name).read_bytes() == (first / name).read_bytes()
