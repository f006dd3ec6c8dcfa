"""``make demo``: a synthetic city priced end to end, as the bureau would run it each month."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from pricing.billing.batch import RunOptions, run_month
from pricing.catalog import load_catalog
from pricing.errors import DiffpriceError
from pricing.sample import write_sample

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-output"


def main() -> int:
    sample_dir = OUT / "sample"
    files = write_sample(sample_dir, enterprises=2000, months=3, seed=1, start="2025-01")
    catalog = load_catalog([ROOT / "rules", ROOT / "tariffs"])
    rows = []
    for billing in sorted(sample_dir.glob("billing-*.csv")):
        period = billing.stem.removeprefix("billing-")
        out = OUT / f"run-{period}"
        opts = RunOptions(period=period, register=sample_dir / "register.csv",
                          billing=[billing], catalog=catalog,
                          overrides=sample_dir / "overrides.csv")
        try:
            manifest = run_month(opts, out)
        except DiffpriceError as exc:
            print(f"{period}: {exc}", file=sys.stderr)
            return 1
        counts, totals = manifest["counts"], manifest["totals"]
        rows.append({"period": period, "lines": counts["billing_rows"],
                     "priced": counts["priced_rows"], "owe nothing": counts["unpriced_rows"],
                     "rejected": counts["rejected_rows"],
                     "electricity (yuan)": totals["electricity"],
                     "water (yuan)": totals["water"], "outputs": str(out.relative_to(ROOT))})
    print(f"sample city ({len(files.billing)} months of extracts, register, overrides) in "
          f"{sample_dir.relative_to(ROOT)}/")
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"\noutputs are in {OUT.relative_to(ROOT)}/run-YYYY-MM/ "
          "(surcharges.csv, classification.csv, rejects.csv, summary.csv, manifest.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
