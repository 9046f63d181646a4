"""`python -m bench.durability`: what a durable commit costs each system on SQLite.

Workload 1 (one client, one transfer at a time) is where Tally trails the
baselines on SQLite. This probe splits each system's single transfer into the
durable commit's part and the rest: the same transfers with SQLite's
`synchronous=FULL`, as every benchmark runs, and with `synchronous=OFF`, which
skips the `fdatasync` of the WAL and of the checkpoints (and so would lose
the last transfers in a power cut: no system runs so outside this probe).
The difference is what the sync costs; what is left is each system's own
work. The systems run on fresh files, in alternating blocks, in one process.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any, Protocol

from bench.baselines.bare_insert import BareInsert
from bench.baselines.insert_then_check import InsertThenCheck
from bench.baselines.sum_of_history import SumOfHistory
from bench.databases import Places
from bench.report import Table, number
from bench.tally_system import TallySystem

SYNCS = ("FULL", "OFF")
WARM_UP = 300  # transfers per system before the first block: past the first checkpoint's file growth
BALANCE = 10**12


class _Client(Protocol):
    def transfer(self, source: str, destination: str, amount: int) -> bool: ...


def _tally_writer(system: TallySystem, client: Any) -> Any:
    # The probe reaches into the store for its write connection: Tally itself
    # always runs with synchronous=FULL, and offers no way to turn it off.
    return system.ledger.engine.store._writer


def _baseline_writer(system: Any, client: Any) -> Any:
    return client.connection.raw


SYSTEMS: list[tuple[type[Any], Callable[[Any, Any], Any]]] = [
    (TallySystem, _tally_writer),
    (SumOfHistory, _baseline_writer),
    (InsertThenCheck, _baseline_writer),
    (BareInsert, _baseline_writer),
]


def measure(*, transfers: int, rounds: int, accounts: int, seed: int = 1) -> Table:
    """Median µs per transfer (wall and this thread's CPU) for each system, synced and not."""
    names = [f"acct-{index:04d}" for index in range(accounts)]
    rng = random.Random(seed)
    places = Places("sqlite")
    opened = []
    try:
        for kind, writer in SYSTEMS:
            system = kind(places.new(kind.__name__))
            system.setup(names, BALANCE)
            client = system.client()
            for _ in range(WARM_UP):
                client.transfer(*rng.sample(names, 2), 1)
            opened.append((system, client, writer(system, client)))
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for round in range(rounds):
            order = opened if round % 2 == 0 else opened[::-1]
            for sync in SYNCS:
                for system, client, connection in order:
                    connection.execute(f"PRAGMA synchronous = {sync}")
                    pairs = [rng.sample(names, 2) for _ in range(transfers)]
                    wall, cpu = _block(client, pairs)
                    times.setdefault((system.name, sync), []).append((wall / transfers, cpu / transfers))
        return _table(times, [system.name for system, _, _ in opened], transfers, rounds)
    finally:
        for system, client, connection in opened:
            connection.execute("PRAGMA synchronous = FULL")
            client.close()
            system.close()
        places.close()


def _block(client: _Client, pairs: list[list[str]]) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.thread_time()
    for source, destination in pairs:
        client.transfer(source, destination, 1)
    return time.perf_counter() - started, time.thread_time() - cpu


def _table(
    times: dict[tuple[str, str], list[tuple[float, float]]], names: list[str], transfers: int, rounds: int
) -> Table:
    def median_us(name: str, sync: str, part: int) -> float:
        return statistics.median(sample[part] for sample in times[name, sync]) * 1e6

    table = Table(
        title="The durable commit's share of a single transfer (SQLite)",
        how=(
            f"One client, {rounds} rounds of a block of {transfers:,} single transfers per system and setting, "
            "alternating; medians, µs per transfer. CPU is the client thread's, the kernel's work for it included. "
            "Ratios are of rates, as in the workloads' tables: Tally's rate over this system's."
        ),
        headers=[
            "system", "wall, FULL", "wall, OFF", "the sync's part", "CPU, FULL", "CPU, OFF", "Tally ÷ this, FULL",
            "Tally ÷ this, OFF",
        ],
    )  # fmt: skip
    tally = names[0]
    for name in names:
        full, off = median_us(name, "FULL", 0), median_us(name, "OFF", 0)
        ratios = ["—", "—"] if name == tally else [
            f"{full / median_us(tally, 'FULL', 0):.2f}x", f"{off / median_us(tally, 'OFF', 0):.2f}x",
        ]  # fmt: skip
        table.rows.append(
            [
                name, number(full), number(off), number(full - off), number(median_us(name, "FULL", 1)),
                number(median_us(name, "OFF", 1)), *ratios,
            ]
        )  # fmt: skip
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.durability", description=__doc__)
    parser.add_argument("--transfers", type=int, default=1500, help="single transfers per block")
    parser.add_argument("--rounds", type=int, default=4, help="blocks per system and setting")
    parser.add_argument("--accounts", type=int, default=1000)
    arguments = parser.parse_args(argv)
    table = measure(transfers=arguments.transfers, rounds=arguments.rounds, accounts=arguments.accounts)
    print(table.markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
