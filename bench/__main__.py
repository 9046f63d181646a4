"""`python -m bench`: every workload on every store; tables printed and written to RESULTS.md."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import correctness, history, machine, workloads
from bench.databases import Places, postgres_available
from bench.report import Check, Table
from bench.workloads import Config

RESULTS = Path(__file__).with_name("RESULTS.md")
ANALYSIS = Path(__file__).with_name("ANALYSIS.md")
BATCH_FLOOR = {"sqlite": 25_000, "postgres": 10_000}  # transfers/s, workload 4 (issue 6)


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--workloads", default="1,2,3,4,5,6,7", help="comma-separated workload numbers")
    parser.add_argument("--seconds", type=float, default=Config.seconds, help="length of one measured run")
    parser.add_argument("--repeats", type=int, default=Config.repeats, help="runs per system (medians reported)")
    parser.add_argument("--accounts", type=int, default=Config.accounts)
    parser.add_argument("--clients", type=int, default=Config.clients)
    parser.add_argument("--batch", type=int, default=Config.batch)
    parser.add_argument("--history-rows", type=int, default=Config.history_rows)
    parser.add_argument("--history-rows-small", type=int, default=Config.history_rows_small)
    parser.add_argument("--correctness-calls", type=int, default=Config.correctness_calls)
    parser.add_argument("--double-spend-rounds", type=int, default=Config.double_spend_rounds)
    parser.add_argument("--no-memory-probe", action="store_true", help="skip the separate-process memory probe")
    parser.add_argument(
        "--memory-seconds",
        type=float,
        default=Config.memory_seconds,
        help="how long the memory probe may run per ledger, waiting for the server's memory to settle",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"where to write the Markdown report (default: {RESULTS.name} for a full run with the default "
        "settings; a run of some workloads or other sizes is only printed, so it never replaces the run of record)",
    )
    return parser.parse_args(argv)


def _is_default(argv: list[str]) -> bool:
    """A full run at the default settings: the only one that may replace RESULTS.md by default."""
    return not argv


def _config(arguments: argparse.Namespace) -> Config:
    return Config(
        seconds=arguments.seconds,
        repeats=arguments.repeats,
        accounts=arguments.accounts,
        clients=arguments.clients,
        batch=arguments.batch,
        history_rows=arguments.history_rows,
        history_rows_small=arguments.history_rows_small,
        correctness_calls=arguments.correctness_calls,
        double_spend_rounds=arguments.double_spend_rounds,
        memory_probe=not arguments.no_memory_probe,
        memory_seconds=arguments.memory_seconds,
    )


def _store_unavailable(store: str) -> str | None:
    return postgres_available() if store == "postgres" else None


def run_store(store: str, config: Config, chosen: set[int], emit: Callable[[Table], None]) -> None:
    places = Places(store)
    try:
        uniform: Table | None = None
        for number, run in _plan(config, store):
            if number in chosen:
                began = time.perf_counter()
                table = run(places)
                table.seconds = time.perf_counter() - began
                uniform = table if number == 2 else uniform
                if number == 3 and uniform is not None:
                    _hot_check(table, uniform)
                emit(table)
    finally:
        places.close()


def _hot_check(hot: Table, uniform: Table) -> None:
    for name, mine, theirs in (("Tally", hot.tally, uniform.tally), ("Tally over HTTP", hot.http, uniform.http)):
        if mine is None or theirs is None:
            continue
        share = mine.per_second / theirs.per_second if theirs.per_second else 0.0
        hot.checks.append(Check(f"{name} hot account ≥ 80% of uniform (workload 2)", f"{share:.0%}", share >= 0.8))


def _plan(config: Config, store: str) -> list[tuple[int, Callable[[Places], Table]]]:
    return [
        (1, lambda places: workloads.single_client(places, config)),
        (2, lambda places: workloads.concurrent(places, config, hot=False)),
        (3, lambda places: workloads.concurrent(places, config, hot=True)),
        (4, lambda places: workloads.batches(places, config, BATCH_FLOOR[store])),
        (5, lambda places: workloads.two_phase(places, config)),
        (6, lambda places: history.balance_reads(places, config)),
        (7, lambda places: correctness.overdrafts(places, config)),
    ]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    arguments = _arguments(argv)
    output: Path | None = arguments.output or (RESULTS if _is_default(argv) else None)
    config = _config(arguments)
    chosen = {int(n) for n in arguments.workloads.split(",")}
    began = time.perf_counter()
    header = _header(argv)
    print(header, flush=True)
    sections: list[str] = [header]
    for store in arguments.stores.split(","):
        title = f"## {'SQLite' if store == 'sqlite' else 'PostgreSQL'}\n"
        missing = _store_unavailable(store)
        if missing:
            title += f"\nNot measured: {missing}.\n"
        print(title, flush=True)
        sections.append(title)
        if missing:
            continue

        def emit(table: Table) -> None:
            text = table.markdown()
            print(text, flush=True)
            sections.append(text)

        run_store(store, config, chosen, emit)
    footer = f"_Total time: {time.perf_counter() - began:.0f} s._\n"
    print(footer)
    if output is None:
        print(f"Not written to {RESULTS.name}: a partial run (pass --output FILE to keep it).")
        return 0
    # The reading of the results (what limits a missed target, what was
    # changed to meet one) is written by hand, and kept across reruns.
    analysis = ANALYSIS.read_text() if ANALYSIS.exists() else ""
    output.write_text("\n".join([*sections, footer, analysis]))
    return 0


def _header(argv: list[str]) -> str:
    command = "python -m bench" + (" " + shlex.join(argv) if argv else "")
    how = " (`make bench`)" if _is_default(argv) else ""
    lines = [
        "# Tally benchmarks",
        "",
        f"Command: `{command}`{how}. Run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "| machine | |",
        "| --- | --- |",
        *(f"| {name} | {value} |" for name, value in machine.describe()),
        "",
        "Every figure is the median over the repeated runs, measured with `time.perf_counter` around the call a "
        "user makes; peak RSS is the highest of the whole benchmark process during a run (every system shares it; "
        "Tally's own memory is measured in a process of its own under workload 6). All systems run in this one "
        "process, on the same database server, with the same durability (SQLite: WAL, `synchronous=FULL`), on "
        "fresh databases, their runs interleaved. Ratios are Tally's rate over the baseline's from the same run.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
