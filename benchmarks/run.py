"""Speed and scale figures of ``diffprice run`` (``make bench``); no timed unit tests.

Prints one table: the floor (a process in which pyarrow only reads the extract and writes a
CSV as large as surcharges.csv), the whole ``diffprice run`` and their ratio; the run at a
quarter of the lines against the full size (linear cost); the run's peak RSS; the vectorized
and durable_rules classification of the same enterprises; optionally a ``--cluster`` run.
Every process figure is a subprocess's wall time, interpreter start included. Data is
generated once into ``benchmarks/data/`` (gitignored).

    .venv/bin/python benchmarks/run.py                      # 1M lines, 100k enterprises
    .venv/bin/python benchmarks/run.py --lines 100000 --enterprises 10000 --cluster local:2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from data import PERIOD, BenchData, ensure_data  # noqa: E402

TARGETS = {"run/floor": 4.0, "1M/250k": 4.5, "peak_rss_gb": 3.0, "rete/vectorized": 50.0}

FLOOR = """
import sys, pyarrow as pa, pyarrow.csv as pacsv
extract, rows, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
table = pacsv.read_csv(extract, convert_options=pacsv.ConvertOptions(
    column_types={n: pa.string() for n in ("utility", "account_id", "enterprise_id", "period",
                  "quantity", "production_quantity", "quota", "base_price")}))
wide = pa.table(list(table.columns) * 2, names=[f"c{i}" for i in range(2 * table.num_columns)])
copies = -(-rows // max(1, wide.num_rows))
pacsv.write_csv(pa.concat_tables([wide] * copies).slice(0, rows), out)
"""


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of one child process, via wait4 (that child only)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    stderr = child.stderr.read().decode() if child.stderr else ""
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(command)} failed ({child.returncode}):\n{stderr}")
    return seconds, usage.ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def best(command: list[str], repeat: int) -> tuple[float, float]:
    runs = [timed(command) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def run_command(data: BenchData, lines: int, out: Path, cluster: str | None = None) -> list[str]:
    command = [str(ROOT / ".venv/bin/diffprice"), "run", "--period", PERIOD,
               "--register", str(data.register), "--billing", str(data.billing[lines]),
               "--overrides", str(data.overrides), "--rules", str(ROOT / "rules"),
               "--tariffs", str(ROOT / "tariffs"), "--out", str(out)]
    return command + (["--cluster", cluster] if cluster else [])


def classification_times(register: Path, rete_limit: int | None) -> dict[str, float]:
    """Seconds to classify the register under every bundled rulebook, per engine."""
    from pricing.billing.components import month_bounds
    from pricing.billing.register import read_register
    from pricing.catalog import load_catalog
    from pricing.classify.table import classify

    catalog = load_catalog([ROOT / "rules", ROOT / "tariffs"])
    first, last = month_bounds(PERIOD)
    compiled = catalog.active(str(first), str(last))
    frame = read_register(register).frame
    year = int(PERIOD[:4]) - 1
    times = {}
    for engine in ("vectorized", "rete"):
        rows = frame if engine == "vectorized" or rete_limit is None else frame.head(rete_limit)
        classify(compiled, rows.head(100), year, engine=engine, source="warm-up")
        repeat = 3 if engine == "vectorized" else 1  # best of 3: the fast side is noisier
        seconds = []
        for _ in range(repeat):
            start = time.perf_counter()
            classify(compiled, rows, year, engine=engine, source=str(register))
            seconds.append(time.perf_counter() - start)
        times[engine] = min(seconds) * len(frame) / len(rows)
    return times


def print_table(rows: list[tuple[str, str, str]]) -> None:
    """Figure, value, note: one aligned line each."""
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'value':>10}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="best of N for process times")
    parser.add_argument("--cluster", help="also time the full run with --cluster (local:2)")
    parser.add_argument("--rete-enterprises", type=int, default=None,
                        help="classify only this many with rete and scale the time linearly")
    parser.add_argument("--skip-rete", action="store_true")
    parser.add_argument("--cold", type=float, default=0, metavar="SECONDS",
                        help="also one floor and one run, each after this long idle: a "
                        "single measurement, where memory the system has not handed out "
                        "recently costs more to touch than in back-to-back runs")
    args = parser.parse_args()

    quarter = max(1, args.lines // 4)
    data = ensure_data(HERE / "data", args.enterprises, [quarter, args.lines])
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="diffprice-bench-") as tmp:
        out = Path(tmp) / "run"
        run_s, rss = best(run_command(data, args.lines, out), args.repeat)
        surcharges = out / "surcharges.csv"
        surcharge_rows = sum(1 for _ in surcharges.open("rb")) - 1
        floor_s, _ = best([sys.executable, "-c", FLOOR, str(data.billing[args.lines]),
                           str(surcharge_rows), str(Path(tmp) / "floor.csv")], args.repeat)
        quarter_s, _ = best(run_command(data, quarter, Path(tmp) / "quarter"), args.repeat)
        rows += [
            ("floor: pyarrow read extract + write CSV", f"{floor_s:.2f} s",
             f"{surcharge_rows:,} rows, {surcharges.stat().st_size / 1e6:.0f} MB"),
            (f"diffprice run, {args.lines:,} lines", f"{run_s:.2f} s", ""),
            ("  ratio run / floor", f"{run_s / floor_s:.2f}", f"target ≤ {TARGETS['run/floor']}"),
            (f"diffprice run, {quarter:,} lines", f"{quarter_s:.2f} s", ""),
            ("  ratio full / quarter", f"{run_s / quarter_s:.2f}",
             f"target ≤ {TARGETS['1M/250k']}"),
            ("  peak RSS of the full run", f"{rss:.2f} GB", f"target ≤ {TARGETS['peak_rss_gb']}"),
        ]
        if args.cold:
            time.sleep(args.cold)
            cold_floor, _ = timed([sys.executable, "-c", FLOOR, str(data.billing[args.lines]),
                                   str(surcharge_rows), str(Path(tmp) / "floor.csv")])
            time.sleep(args.cold)
            cold_run, _ = timed(run_command(data, args.lines, Path(tmp) / "cold"))
            rows += [
                (f"one floor after {args.cold:g} s idle", f"{cold_floor:.2f} s", ""),
                (f"one run after {args.cold:g} s idle", f"{cold_run:.2f} s", ""),
                ("  ratio run / floor, one each", f"{cold_run / cold_floor:.2f}",
                 f"target ≤ {TARGETS['run/floor']}"),
            ]
        if args.cluster:
            cluster_s, _ = best(run_command(data, args.lines, Path(tmp) / "cluster",
                                            args.cluster), args.repeat)
            same = all((out / n).read_bytes() == (Path(tmp) / "cluster" / n).read_bytes()
                       for n in ("surcharges.csv", "rejects.csv", "summary.csv"))
            rows.append((f"diffprice run --cluster {args.cluster}", f"{cluster_s:.2f} s",
                         "outputs identical" if same else "OUTPUTS DIFFER"))
    if not args.skip_rete:
        times = classification_times(data.register, args.rete_enterprises)
        scaled = " (scaled)" if args.rete_enterprises else ""
        rows += [
            (f"classify {args.enterprises:,} enterprises, vectorized",
             f"{times['vectorized']:.3f} s", "all bundled rulebooks, in process"),
            (f"classify {args.enterprises:,} enterprises, rete{scaled}", f"{times['rete']:.1f} s",
             ""),
            ("  ratio rete / vectorized", f"{times['rete'] / times['vectorized']:.0f}",
             f"target ≥ {TARGETS['rete/vectorized']}"),
        ]
    print_table(rows)


if __name__ == "__main__":
    main()
