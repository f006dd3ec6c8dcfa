"""Streamed runs (``make bench``): extracts larger than a piece, memory bounded by the piece.

Prints, for a tiled extract of ``--lines`` lines (20 million by default, about 1.6 GB), the
wall time, lines per second and peak RSS of ``diffprice run --chunk-lines C``; and, on the
1M-line extract, the peak RSS in memory against pieces of a quarter million lines, which shows
memory following the piece size rather than the file. Subprocess figures, interpreter start
included. Data is generated once into ``benchmarks/data/`` (gitignored).

    .venv/bin/python benchmarks/stream_bench.py                   # 20M lines, default pieces
    .venv/bin/python benchmarks/stream_bench.py --lines 5000000 --chunk-lines 1000000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from data import ensure_data  # noqa: E402
from run import print_table, run_command, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000_000)
    parser.add_argument("--chunk-lines", type=int, default=None,
                        help="pieces of this many lines (default: the command's own, "
                        "500,000 lines for this register)")
    parser.add_argument("--enterprises", type=int, default=100_000)
    args = parser.parse_args()

    data = ensure_data(HERE / "data", args.enterprises, [1_000_000, args.lines])
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="diffprice-stream-") as tmp:
        small = run_command(data, 1_000_000, Path(tmp) / "memory")
        memory_s, memory_gb = timed(small)
        piece_s, piece_gb = timed([*run_command(data, 1_000_000, Path(tmp) / "pieces"),
                                   "--chunk-lines", "250000"])
        same = all((Path(tmp) / "memory" / n).read_bytes() == (Path(tmp) / "pieces" / n)
                   .read_bytes() for n in ("surcharges.csv", "rejects.csv", "summary.csv",
                                           "manifest.json"))
        rows += [
            ("1,000,000 lines in memory", f"{memory_s:.1f} s", f"peak {memory_gb:.2f} GB"),
            ("1,000,000 lines, pieces of 250,000", f"{piece_s:.1f} s",
             f"peak {piece_gb:.2f} GB, " + ("outputs identical" if same else "OUTPUTS DIFFER")),
        ]
        big = [*run_command(data, args.lines, Path(tmp) / "big"),
               *(["--chunk-lines", str(args.chunk_lines)] if args.chunk_lines else [])]
        big_s, big_gb = timed(big)
        size = data.billing[args.lines].stat().st_size / 1e9
        rows += [
            (f"{args.lines:,} lines ({size:.1f} GB), pieces of "
             f"{args.chunk_lines or 500_000:,}",
             f"{big_s:.1f} s", f"peak {big_gb:.2f} GB, {args.lines / big_s:,.0f} lines/s"),
        ]
    print_table(rows)


if __name__ == "__main__":
    main()
