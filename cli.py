"""The ``diffprice`` command: parses options, calls the package, maps errors to exit codes.

Exit status (SPEC "Commands"): 0 done; 1 invalid rules, tariffs or inputs; 2 usage; 3 more
billing lines rejected than ``--max-reject-rate`` allows. Errors are one clear message each,
never a traceback. Heavy modules are imported inside the commands so ``--help`` is instant.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

PERIOD_HELP = "Billing month, YYYY-MM (YYYYMM accepted)."
ENCODINGS = ["utf-8-sig", "utf-8", "gb18030"]

# numpy backs arrays of 4 MB and more with 2 MB pages on Linux. A run touches most of its
# memory once or twice, and the system clears each huge page whole on first touch (and may
# compact memory to find one): a million-line month took 0.3-0.6 s longer, by system time.
# Set before numpy is imported (the commands import it); a value already set is kept.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
# pydantic looks for plugins in the metadata of every installed distribution when the first
# policy model is built (20-30 ms of each command); the policy models use none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")
# Arrow's buffers come from glibc's malloc, like numpy's, so that both reuse one heap that
# keeps what is freed (:func:`_one_heap`); Arrow's own allocator gave freed pages back to
# the system after 10 ms and the next piece took them again, cleared. Before pyarrow loads.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
# numpy's OpenBLAS starts a thread per core as it loads, each spinning a while before it
# sleeps: 2-3 % of a month's CPU (perf: blas_thread_server) on a machine whose cores the
# run keeps busy. No command multiplies matrices.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a ``DiffpriceError`` into its message on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from pricing.errors import DiffpriceError

        try:
            return command(*args, **kwargs)
        except DiffpriceError as exc:
            click.echo(str(exc), err=True)
            sys.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the contract forbids tracebacks
            if os.environ.get("DIFFPRICE_DEBUG"):
                raise
            click.echo(f"diffprice: internal error: {type(exc).__name__}: {exc} "
                       "(set DIFFPRICE_DEBUG=1 to see where)", err=True)
            sys.exit(1)

    return wrapper


def normalize_period(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if len(text) == 6 and text.isdigit():
        text = f"{text[:4]}-{text[4:]}"
    if not (len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit()
            and 1 <= int(text[5:]) <= 12):
        raise click.BadParameter(f"expected YYYY-MM, found '{value}'")
    return text


def _period_option(required: bool = True) -> Callable[..., Any]:
    return click.option("--period", required=required, help=PERIOD_HELP,
                        callback=lambda ctx, param, value: normalize_period(value))


def run_inputs(command: Callable[..., Any]) -> Callable[..., Any]:
    """The inputs shared by ``run``, ``explain`` and ``simulate``."""
    existing = click.Path(exists=True, dir_okay=False, path_type=Path)
    options = [
        click.option("--register", required=True, type=existing,
                     help="Register CSV: one row per enterprise per assessment year."),
        click.option("--billing", "billing", multiple=True, type=existing,
                     help="Utility billing extract CSV (repeat for several files)."),
        click.option("--rules", "rules", multiple=True, default=["rules"], show_default=True,
                     type=click.Path(exists=True, path_type=Path),
                     help="Rulebook file or directory (repeatable)."),
        click.option("--tariffs", "tariffs", multiple=True, default=["tariffs"],
                     show_default=True, type=click.Path(exists=True, path_type=Path),
                     help="Tariff file or directory (repeatable)."),
        click.option("--overrides", type=existing, help="Bureau decisions replacing classes."),
        click.option("--year", type=int, help="Assessment year (default: the year before "
                     "the period)."),
        click.option("--input-encoding", type=click.Choice(["utf-8", "utf-8-sig", "gb18030",
                                                            "gbk"]),
                     help="Force the encoding of the CSV inputs (default: detected)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="diffprice")
def main() -> None:
    """diffprice — differential electricity and water pricing (差别电价 / 差别水价)."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--proposal", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A district proposal directory to check against the baseline PATHs.")
@reports_errors
def validate(paths: tuple[Path, ...], proposal: Path | None) -> None:
    """Check rulebooks, tariffs (and a proposal): schema, expressions, references, rates."""
    from pricing.catalog import load_catalog
    from pricing.validation import static_warnings

    catalog = load_catalog(list(paths))
    warnings = static_warnings(catalog)
    if proposal is not None:
        from pricing.simulate.proposal import load_proposal

        bundle = load_proposal(catalog, proposal)
        warnings += static_warnings(bundle.catalog)
        click.echo(f"proposal {bundle.proposal.id}: districts {', '.join(bundle.districts)}; "
                   f"{len(bundle.replaced)} replaced, {len(bundle.added)} added")
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"ok: {len(catalog.rulebooks)} rulebooks, {len(catalog.tariffs)} tariffs, "
               f"{sum(len(t.components) for t in catalog.tariffs)} components")


@main.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@reports_errors
def test_examples(paths: tuple[Path, ...]) -> None:
    """Run every rulebook's examples on both engines (vectorized and rete)."""
    from pricing.catalog import load_catalog
    from pricing.classify.examples import report_examples

    catalog = load_catalog(list(paths))
    text, failed = report_examples(catalog)
    click.echo(text)
    if failed:
        sys.exit(1)


@main.command()
@click.option("--register", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rules", "rules", multiple=True, default=["rules"], show_default=True,
              type=click.Path(exists=True, path_type=Path))
@click.option("--year", type=int, required=True, help="Assessment year of the register rows.")
@click.option("--engine", type=click.Choice(["vectorized", "rete"]), default="vectorized",
              show_default=True)
@click.option("--input-encoding", type=click.Choice(["utf-8", "utf-8-sig", "gb18030", "gbk"]))
@click.option("--encoding", type=click.Choice(ENCODINGS), default="utf-8-sig",
              show_default=True, help="Encoding of the written CSV.")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path))
@reports_errors
def classify(register: Path, rules: tuple[Path, ...], year: int, engine: str,
             input_encoding: str | None, encoding: str, output: Path) -> None:
    """Classify the register's enterprises and write classification.csv."""
    from pricing.billing.outputs import write_csv
    from pricing.billing.register import read_register
    from pricing.catalog import load_catalog
    from pricing.classify.table import classify as classify_register

    catalog = load_catalog(list(rules))
    reg = read_register(register, encoding=input_encoding)
    result = classify_register(list(catalog.compiled[k] for k in sorted(catalog.compiled)),
                               reg.frame, year, engine=engine, source=str(register))
    write_csv(result.table, output, encoding)
    counts = result.table["decided_by"].value_counts().sort_index()
    click.echo(f"{len(result.table)} classifications written to {output} "
               f"({', '.join(f'{k}: {v}' for k, v in counts.items())})")


@main.command()
@_period_option()
@run_inputs
@click.option("--max-reject-rate", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Stop with exit 3 when more billing lines than this share are rejected.")
@click.option("--encoding", type=click.Choice(ENCODINGS), default="utf-8-sig",
              show_default=True, help="Encoding of the written CSVs.")
@click.option("--engine", type=click.Choice(["vectorized", "rete"]), default="vectorized",
              show_default=True, help="Classification engine.")
@click.option("--cluster", help="local:N for a local dask cluster, or tcp://host:port.")
@click.option("--chunk-lines", type=click.IntRange(min=1), default=None,
              help="Extracts with more lines are streamed in pieces of this many lines: "
              "memory follows the piece, not the file. Default: months up to 1,000,000 "
              "lines (500,000 with a register over 64 MB, about 450,000 enterprise-years) "
              "are held in memory, longer ones streamed in pieces of half that (of all of "
              "it with --cluster).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@reports_errors
def run(period: str, register: Path, billing: tuple[Path, ...], rules: tuple[Path, ...],
        tariffs: tuple[Path, ...], overrides: Path | None, year: int | None,
        input_encoding: str | None, max_reject_rate: float, encoding: str, engine: str,
        cluster: str | None, chunk_lines: int | None, out: Path) -> None:
    """The monthly batch: classify, price the extracts, write the run directory."""
    if not billing:
        raise click.UsageError("at least one --billing extract is needed")
    from pricing.billing.prefetch import default_chunk_lines, default_piece_lines, prefetch

    piece_lines = None if chunk_lines else default_piece_lines(register, bool(cluster))
    chunk_lines = chunk_lines or default_chunk_lines(register)
    early = prefetch(list(billing), chunk_lines, input_encoding, register)  # before imports
    if early is not None and early.reads_extracts:
        import pandas  # noqa: F401 - loaded here, the reading thread may check the lines now

        early.extract(period)
    from pricing.billing.batch import RunOptions, run_month
    from pricing.catalog import load_catalog
    from pricing.progress import Progress

    progress = Progress()
    progress.step("loading and checking rulebooks and tariffs")
    opts = RunOptions(period=period, register=register, billing=list(billing),
                      catalog=load_catalog([*rules, *tariffs]), overrides=overrides, year=year,
                      max_reject_rate=max_reject_rate, encoding=encoding,
                      input_encoding=input_encoding, engine=engine, cluster=cluster,
                      progress=progress, chunk_lines=chunk_lines, piece_lines=piece_lines,
                      prefetched=early)
    manifest = run_month(opts, out)
    counts, totals = manifest["counts"], manifest["totals"]
    click.echo(f"run {manifest['run_id']} {period}: {counts['billing_rows']} billing lines, "
               f"{counts['priced_rows']} priced, {counts['unpriced_rows']} owe nothing, "
               f"{counts['rejected_rows']} rejected; {counts['surcharge_lines']} surcharge "
               f"lines; electricity {totals['electricity']} yuan, water {totals['water']} yuan")
    click.echo(f"outputs in {out}")


@main.command()
@click.option("--enterprise", required=True, help="Unified social credit code.")
@_period_option(required=False)
@run_inputs
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@reports_errors
def explain(enterprise: str, period: str | None, register: Path, billing: tuple[Path, ...],
            rules: tuple[Path, ...], tariffs: tuple[Path, ...], overrides: Path | None,
            year: int | None, input_encoding: str | None, as_json: bool) -> None:
    """Why an enterprise has its class and pays what it pays: every step, every value."""
    from pricing.explain import explain_enterprise

    if period is None and year is None:
        raise click.UsageError("give --period (and --billing) or --year")
    text = explain_enterprise(enterprise=enterprise, period=period, register=register,
                              billing=list(billing), paths=[*rules, *tariffs],
                              overrides=overrides, year=year, input_encoding=input_encoding,
                              as_json=as_json)
    click.echo(text)


@main.command()
@run_inputs
@click.option("--proposal", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--period", "periods", multiple=True, help="Month(s) to simulate (repeatable); "
              "default: every period found in the extracts.")
@click.option("--encoding", type=click.Choice(ENCODINGS), default="utf-8-sig", show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@reports_errors
def simulate(register: Path, billing: tuple[Path, ...], rules: tuple[Path, ...],
             tariffs: tuple[Path, ...], overrides: Path | None, year: int | None,
             input_encoding: str | None, proposal: Path, periods: tuple[str, ...],
             encoding: str, out: Path) -> None:
    """Price history under the baseline and a district proposal; write the impact report."""
    from pricing.simulate.compare import simulate_proposal

    if not billing:
        raise click.UsageError("at least one --billing extract is needed")
    summary = simulate_proposal(register=register, billing=list(billing),
                                paths=[*rules, *tariffs], overrides=overrides, year=year,
                                input_encoding=input_encoding, proposal=proposal,
                                periods=[normalize_period(p) for p in periods],
                                encoding=encoding, out=out)
    click.echo(summary)


@main.command()
@run_inputs
@click.option("--period", "periods", multiple=True, help="Month(s) (repeatable).")
@click.option("--set", "setting", required=True,
              help="What to vary: RULEBOOK.RULE=FROM..TO:STEP (a rule's threshold) or "
                   "COMPONENT.CLASS=FROM..TO:STEP (a flat rate).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for sweep.csv and sweep.svg.")
@reports_errors
def sweep(register: Path, billing: tuple[Path, ...], rules: tuple[Path, ...],
          tariffs: tuple[Path, ...], overrides: Path | None, year: int | None,
          input_encoding: str | None, periods: tuple[str, ...], setting: str,
          out: Path | None) -> None:
    """Vary one threshold or rate over a range: revenue and enterprises per class at each value."""
    from pricing.simulate.sweep import run_sweep

    if not billing:
        raise click.UsageError("at least one --billing extract is needed")
    text = run_sweep(register=register, billing=list(billing), paths=[*rules, *tariffs],
                     overrides=overrides, year=year, input_encoding=input_encoding,
                     periods=[normalize_period(p) for p in periods], setting=setting, out=out)
    click.echo(text)


@main.command()
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--enterprises", type=click.IntRange(1, 10_000_000), default=2000,
              show_default=True)
@click.option("--months", type=click.IntRange(1, 120), default=3, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--start", default="2025-01", show_default=True, help="First month, YYYY-MM.",
              callback=lambda ctx, param, value: normalize_period(value))
@reports_errors
def sample(out: Path, enterprises: int, months: int, seed: int, start: str) -> None:
    """Write a synthetic city: register, monthly extracts (one in GB18030), overrides."""
    from pricing.sample import write_sample

    files = write_sample(out, enterprises=enterprises, months=months, seed=seed, start=start)
    click.echo(f"sample city written to {out}:")
    for path in [files.register, *files.billing, files.overrides]:
        click.echo(f"  {path}")


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8  # mallopt's parameters
_KEPT = {_M_ARENA_MAX: ("MALLOC_ARENA_MAX", 1),
         _M_MMAP_THRESHOLD: ("MALLOC_MMAP_THRESHOLD_", 256 << 20),
         _M_TRIM_THRESHOLD: ("MALLOC_TRIM_THRESHOLD_", 2**31 - 1)}  # mallopt takes an int


def _one_heap() -> None:
    """One glibc malloc heap for every thread, which keeps what is freed for the next
    allocation: one arena, blocks up to 256 MB from the heap rather than mapped one by one,
    and the heap not trimmed (unless 2 GB are free at its top). A setting in the
    environment (``MALLOC_ARENA_MAX``, ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``,
    or any ``GLIBC_TUNABLES``) is kept.

    A run allocates and frees the same large arrays piece after piece. Given back to the
    system, each was taken again as fresh pages that the system clears first: a third of a
    streamed run's system time. Each thread's own arena kept what it freed from the other
    threads (a province's peak 0.9 GB higher); two arenas still mapped blocks of over 64 MB
    one by one. With one heap and Arrow allocating from it too (``ARROW_DEFAULT_MEMORY_POOL``
    above), runs took 10-16 % less time, interleaved: 1M lines 2.19-2.52 -> 1.90-2.04 s
    (peak 0.98 -> 0.89 GB), a province's 5M lines 10.6-10.8 -> 8.9-9.3 s (peak 0.2 GB
    higher), 20M lines 31.3 -> 26.1 s. Larger blocks are still mapped: holding those too
    (a 1 GB threshold) left 0.2 GB more at a province's peak. Called before any thread
    starts."""
    if "GLIBC_TUNABLES" in os.environ:
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        mallopt = ctypes.CDLL(None).mallopt
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        for parameter, (variable, value) in _KEPT.items():
            if variable not in os.environ:
                mallopt(parameter, value)


def entry() -> None:
    """The installed ``diffprice`` command: :func:`main`, then a prompt exit.

    A run ends holding a gigabyte of frames, and freeing them one by one at interpreter exit
    takes a noticeable part of a run. Every output is closed and synced before ``main``
    returns, so once the standard streams are flushed the process leaves at once. A run that
    used a Dask cluster exits normally: its shutdown hooks stop the workers.
    """
    _one_heap()
    try:
        main()
        code: object = 0
    except SystemExit as done:
        code = done.code
    if "distributed" in sys.modules:
        raise SystemExit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)  # as the interpreter does with a message
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
