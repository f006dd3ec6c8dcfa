"""Benchmark inputs: one register and billing extracts of a chosen number of lines.

``pricing.sample`` writes about 2.6 billing lines per enterprise and month; a province-size
month has more accounts per enterprise, so the month is tiled: copy k of every line gets its
account id suffixed with k, which keeps ``(utility, account_id, period)`` unique and each
account with one enterprise. The sample's planted faults are tiled with it, so the reject path
is exercised at scale too. Files are written once and reused while their parameters match.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pricing.sample import write_sample

PERIOD = "2025-01"


@dataclass(frozen=True)
class BenchData:
    register: Path
    overrides: Path
    billing: dict[int, Path]  # lines → extract


def _tiled(month: pa.Table, lines: int) -> pa.Table:
    copies = -(-lines // month.num_rows)
    parts = []
    for copy in range(copies):
        accounts = month["account_id"]
        if copy:
            accounts = pc.binary_join_element_wise(accounts, pa.scalar(f"-{copy}"), "")
        parts.append(month.set_column(month.schema.get_field_index("account_id"),
                                      "account_id", accounts))
    return pa.concat_tables(parts).slice(0, lines)


def ensure_data(root: Path, enterprises: int, line_counts: list[int], seed: int = 7) -> BenchData:
    """Write (or reuse) the sample city and one tiled extract per line count."""
    root = Path(root) / f"e{enterprises}-s{seed}"
    stamp = root / "params.json"
    params = {"enterprises": enterprises, "seed": seed, "period": PERIOD}
    if not stamp.exists() or json.loads(stamp.read_text()) != params:
        files = write_sample(root, enterprises=enterprises, months=1, seed=seed, start=PERIOD)
        files.billing[0].rename(root / "month.csv")
        stamp.write_text(json.dumps(params))
    month = None
    billing = {}
    for lines in line_counts:
        path = root / f"billing-{lines}.csv"
        if not path.exists():
            if month is None:
                month = pacsv.read_csv(root / "month.csv", convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in (
                        "utility", "account_id", "enterprise_id", "period", "quantity",
                        "production_quantity", "quota", "base_price")},
                    strings_can_be_null=False))
            tmp = path.with_suffix(".tmp")
            pacsv.write_csv(_tiled(month, lines), tmp,
                            pacsv.WriteOptions(quoting_style="needed"))
            tmp.rename(path)
        billing[lines] = path
    return BenchData(root / "register.csv", root / "overrides.csv", billing)
