"""Workload 6: a balance read with a short and a very long history; and memory against history size."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from bench.baselines import SumOfHistory
from bench.databases import Places, Target
from bench.http_system import TallyHTTP
from bench.measure import Operation
from bench.report import Check, Table, number
from bench.serve_probe import SETTLED_MB, SETTLED_SECONDS, serve_workload
from bench.tally_system import TallySystem
from bench.workloads import RICH, Config, _measure

READER = "reader"
MEMORY_LIMIT_MB = 300
TALLY_BUILD_BATCH = 1000  # TallySystem.add_history's batch size


def _build(places: Places, cls: Any, config: Config, rows: int) -> tuple[Any, float]:
    system = cls(places.new(f"{cls.__name__.lower()}_{rows}"))
    system.setup([*config.users, READER], RICH)
    began = time.perf_counter()
    system.add_history(READER, rows)
    seconds = time.perf_counter() - began
    settle(system.target)
    return system, seconds


def settle(target: Target) -> None:
    """PostgreSQL: VACUUM ANALYZE the new tables now, for every system alike.

    Otherwise autovacuum wakes up after the bulk load and runs on one of the
    two cores during whichever read happens to be measured then.
    """
    if target.dialect != "postgres":
        return
    import psycopg

    with psycopg.connect(target.url, autocommit=True) as connection:
        tables = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()
        for (table,) in tables:
            connection.execute(f'VACUUM ANALYZE "{table}"')


def _read(client: Any) -> Operation:
    def operation(rng: Any) -> tuple[int, int]:
        client.balance(READER)
        return 1, 0

    return operation


def balance_reads(places: Places, config: Config) -> Table:
    sizes = (config.history_rows_small, config.history_rows)
    built: list[tuple[Any, int, Any, float]] = [
        (cls, rows, *_build(places, cls, config, rows)) for cls in (TallySystem, SumOfHistory) for rows in sizes
    ]
    # Over HTTP: a `tally serve` in front of each Tally ledger just built (the same rows, not built twice).
    served = [(TallyHTTP, rows, TallyHTTP(system.target, system), seconds) for cls, rows, system, seconds in built
              if cls is TallySystem]  # fmt: skip
    built = built[:2] + served + built[2:]
    systems = [system for _, _, system, _ in built]
    try:
        summaries = _measure(systems, config, 1, _read, config.seconds)
        for system in systems:
            if isinstance(system, TallyHTTP):
                system.close()  # the server, before the memory probe runs servers of its own
        memory = _memory_probes(config, [s.target.url for s in systems[:2]]) if config.memory_probe else None
    finally:
        for system in systems:
            system.close()
    table = Table(
        "6. Balance read, short and long history",
        f"One client reading the balance of `{READER}`, an account with {sizes[0]:,} or {sizes[1]:,} history "
        "rows (its statement entries for Tally; its `transactions` rows for the baseline), each in a ledger of "
        f"its own that also holds {config.accounts:,} funded accounts. Over HTTP: `GET /v1/accounts/{READER}/balance` "
        "from one keep-alive client to a `tally serve` on the same two Tally ledgers.",
        ["system", "history rows", "reads/s", "p50 ms", "p99 ms", "peak RSS MB", "errors", "Tally ÷ this"],
    )
    for (cls, rows, _, build_seconds), summary in zip(built, summaries, strict=True):
        tally = summaries[sizes.index(rows)]
        ratio = "—" if summary is tally else f"{tally.per_second / summary.per_second:.1f}x"
        table.rows.append(
            [cls.name, f"{rows:,}", number(summary.per_second), number(summary.p50_ms), number(summary.p99_ms),
             f"{summary.peak_mb:.0f}", str(summary.errors), ratio]
        )  # fmt: skip
        if cls is TallySystem:
            table.notes.append(
                f"- Tally's {rows:,}-row history was built through the library with `transfer_batch` "
                f"({TALLY_BUILD_BATCH} per call, alternately +1 in and -1 out of `{READER}`): "
                f"{rows / build_seconds:,.0f} transfers/s, {build_seconds:.1f} s."
            )
    for name, (small, big) in (("Tally's", summaries[0:2]), ("Tally over HTTP's", summaries[2:4])):
        table.checks.append(
            Check(
                f"{name} {sizes[1]:,}-row read within 20% of the {sizes[0]:,}-row read (p50)",
                f"{number(big.p50_ms)} ms vs {number(small.p50_ms)} ms ({big.p50_ms / small.p50_ms - 1:+.0%})",
                big.p50_ms <= 1.2 * small.p50_ms,
            )
        )
    if memory is not None:
        _memory_report(table, config, sizes, memory)
    return table


def _memory_probes(config: Config, urls: Sequence[str]) -> list[dict[str, Any]]:
    """Workload 2 against each ledger through a real `tally serve`, and that process's peak memory."""
    return [serve_workload(url, config.users, config.seconds, config.clients, config.memory_seconds) for url in urls]


def _memory_report(table: Table, config: Config, sizes: Sequence[int], memory: list[dict[str, Any]]) -> None:
    small, big = memory
    who = small["who"]
    settled = small["settled"] and big["settled"]
    unsettled = "" if settled else ", not settled"
    how_long = (
        f"rounds of {config.seconds:g} s until its memory stopped growing (less than {SETTLED_MB:g} MB more over "
        f"{SETTLED_SECONDS:g} s): {small['seconds']:.0f} and {big['seconds']:.0f} s"
        if settled
        else f"{small['seconds']:.0f} and {big['seconds']:.0f} s, and its memory was still growing when the "
        f"probe stopped at its bound of {config.memory_seconds:g} s (`--memory-seconds`)"
    )
    table.notes.append(
        f"- Memory: {who} runs workload 2 ({config.clients} clients) on each Tally ledger, {how_long}; "
        f"peak RSS {small['peak_mb']:.0f} MB with {sizes[0]:,} history rows, "
        f"{big['peak_mb']:.0f} MB with {sizes[1]:,}. It made {number(small['per_second'])} and "
        f"{number(big['per_second'])} transfers/s (p50 {number(small['p50_ms'])} / {number(big['p50_ms'])} ms, "
        f"p99 {number(small['p99_ms'])} / {number(big['p99_ms'])} ms, errors {small['errors']} / {big['errors']})."
    )
    table.checks += [
        Check(
            f"peak RSS under workload 2 < {MEMORY_LIMIT_MB} MB, once settled",
            f"{max(small['peak_mb'], big['peak_mb']):.0f} MB{unsettled}",
            settled and max(small["peak_mb"], big["peak_mb"]) < MEMORY_LIMIT_MB,
        ),
        Check(
            f"peak RSS with {sizes[1]:,} history rows within 10% of {sizes[0]:,}",
            f"{big['peak_mb'] / small['peak_mb'] - 1:+.0%}{unsettled}",
            settled and abs(big["peak_mb"] / small["peak_mb"] - 1) <= 0.10,
        ),
    ]
