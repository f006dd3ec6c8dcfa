"""The sweep a district runs to choose a threshold: 50 values over a province-size month.

Prints the wall time of ``diffprice sweep`` (one subprocess, interpreter start included) for a
rule constant and for a flat rate, over the same data as ``benchmarks/run.py``. Target (issue:
district proposals): a 50-point sweep over 100k enterprises and 1M lines well under a minute.

    .venv/bin/python benchmarks/sweep_bench.py [--lines 1000000] [--enterprises 100000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from data import ensure_data  # noqa: E402

SETTINGS = {
    "rule constant (foundry FD-R1 upper bound, 50 values)": "foundry.FD-R1.upper=1.51..2.5:0.02",
    "flat rate (foundry restricted, 50 values)": "foundry-electricity.restricted=0.01..0.5:0.01",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--enterprises", type=int, default=100_000)
    args = parser.parse_args()
    data = ensure_data(HERE / "data", args.enterprises, [args.lines])
    diffprice = str(Path(sys.executable).with_name("diffprice"))
    print(f"sweep over {args.lines:,} lines, {args.enterprises:,} enterprises")
    for label, setting in SETTINGS.items():
        command = [diffprice, "sweep", "--register", str(data.register), "--billing",
                   str(data.billing[args.lines]), "--rules", str(ROOT / "rules"),
                   "--tariffs", str(ROOT / "tariffs"), "--period", "2025-01", "--set", setting]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"{setting} failed:\n{done.stderr}")
        print(f"  {label:<58} {seconds:6.1f} s")


if __name__ == "__main__":
    main()
