"""The seven workloads of issue 6, each run on every system against one store.

Systems under test are opened side by side on fresh databases and their runs
interleaved (Tally, then each baseline, repeated), so a slow moment of a shared
machine hurts them all alike and the ratios hold.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.baselines import BASELINES, BareInsert, InsertThenCheck, SumOfHistory
from bench.databases import Places
from bench.http_system import TallyHTTP
from bench.measure import Operation, Run, Summary, run_clients
from bench.report import THROUGHPUT_HEADERS, Check, Table, number, throughput_row
from bench.tally_system import TallySystem

RICH = 10**12  # an opening balance no workload can spend: only workload 7 rejects
BATCH_POOL = 64  # workload 4's distinct batches, drawn before the runs and sent in turn


@dataclass(frozen=True)
class Config:
    seconds: float = 1.5  # per measured run
    repeats: int = 3  # runs per system; medians are reported
    accounts: int = 1000
    clients: int = 16
    batch: int = 1000
    history_rows: int = 1_000_000
    history_rows_small: int = 1000
    correctness_accounts: int = 20
    correctness_calls: int = 200  # per client
    double_spend_rounds: int = 20
    memory_probe: bool = True
    memory_seconds: float = 150.0  # at most, per ledger: the probe runs until the server's memory settles

    @property
    def users(self) -> list[str]:
        return [f"user:{index}" for index in range(self.accounts)]


# Tally through the library, Tally over HTTP (a `tally serve` process), then the baselines.
SYSTEMS: tuple[Any, ...] = (TallySystem, TallyHTTP, *BASELINES)
TALLY_SYSTEMS: tuple[Any, ...] = (TallySystem, TallyHTTP)


def _open(places: Places, classes: Sequence[Any], accounts: Sequence[str], balance: int) -> list[Any]:
    opened = []
    for cls in classes:
        system = cls(places.new(cls.__name__.lower()))
        system.setup(accounts, balance)
        opened.append(system)
    return opened


def _measure(
    systems: Sequence[Any], config: Config, clients: int, operation: Callable[[Any], Operation], seconds: float
) -> list[Summary]:
    """Interleaved repeated runs; each client gets its own connection (Tally: the shared ledger)."""
    runs: list[list[Run]] = [[] for _ in systems]
    for _ in range(config.repeats):
        for index, system in enumerate(systems):
            handles = [system.client() for _ in range(clients)]
            try:
                runs[index].append(run_clients(clients, _bind(operation, handles), seconds=seconds))
            finally:
                for handle in handles:
                    handle.close()
    return [Summary.of(r) for r in runs]


def _bind(operation: Callable[[Any], Operation], handles: list[Any]) -> Callable[[int], Operation]:
    return lambda index: operation(handles[index])


def _throughput_table(title: str, how: str, systems: Sequence[Any], summaries: Sequence[Summary]) -> Table:
    tally, http = _of(summaries, systems, TallySystem), _of(summaries, systems, TallyHTTP)
    table = Table(title, how, THROUGHPUT_HEADERS, tally=tally, http=http)
    for system, summary in zip(systems, summaries, strict=True):
        table.rows.append(throughput_row(system.name, summary, tally, http))
    return table


def _of(summaries: Sequence[Summary], systems: Sequence[Any], cls: type) -> Summary | None:
    return next((summary for system, summary in zip(systems, summaries, strict=True) if type(system) is cls), None)


def _close(systems: Sequence[Any]) -> None:
    for system in systems:
        system.close()


def _pair(users: Sequence[str]) -> Callable[[random.Random], tuple[str, str]]:
    def pick(rng: random.Random) -> tuple[str, str]:
        source, destination = rng.sample(users, 2)
        return source, destination

    return pick


def _single(client: Any, pick: Callable[[random.Random], tuple[str, str]]) -> Operation:
    def operation(rng: random.Random) -> tuple[int, int]:
        source, destination = pick(rng)
        accepted = client.transfer(source, destination, rng.randint(1, 100))
        return (1, 0) if accepted else (0, 1)

    return operation


def _ratio(summaries: Sequence[Summary], systems: Sequence[Any], cls: type, tally: type = TallySystem) -> float:
    mine, theirs = _of(summaries, systems, tally), _of(summaries, systems, cls)
    if mine is None or theirs is None or not theirs.per_second:
        return 0.0
    return mine.per_second / theirs.per_second


# --- 1, 2, 3: single transfers -------------------------------------------------------


def single_client(places: Places, config: Config) -> Table:
    systems = _open(places, SYSTEMS, config.users, RICH)
    try:
        pick = _pair(config.users)
        summaries = _measure(systems, config, 1, lambda c: _single(c, pick), config.seconds)
    finally:
        _close(systems)
    how = f"One client, one transfer per call, uniform over {config.accounts:,} accounts."
    table = _throughput_table("1. One client, one transfer at a time", how, systems, summaries)
    versus_check, versus_sum = _ratio(summaries, systems, InsertThenCheck), _ratio(summaries, systems, SumOfHistory)
    table.checks += [
        Check('Tally ≥ "insert, then check"', f"{versus_check:.2f}x", versus_check >= 1),
        Check('Tally ≥ 5x "sum of history"', f"{versus_sum:.2f}x", versus_sum >= 5),
    ]
    http_check = _ratio(summaries, systems, InsertThenCheck, TallyHTTP)
    http_sum = _ratio(summaries, systems, SumOfHistory, TallyHTTP)
    table.checks += [
        Check('Tally over HTTP ≥ "insert, then check"', f"{http_check:.2f}x", http_check >= 1),
        Check('Tally over HTTP ≥ 5x "sum of history"', f"{http_sum:.2f}x", http_sum >= 5),
    ]
    return table


def concurrent(places: Places, config: Config, *, hot: bool) -> Table:
    users = config.users
    systems = _open(places, SYSTEMS, users, RICH)
    hot_account, others = users[0], users[1:]

    def pick_hot(rng: random.Random) -> tuple[str, str]:
        # Half pay the merchant, half are its payouts and refunds: the hot
        # account is the source of half the transfers, the destination of the rest.
        other = rng.choice(others)
        return (other, hot_account) if rng.random() < 0.5 else (hot_account, other)

    pick = pick_hot if hot else _pair(users)
    try:
        summaries = _measure(systems, config, config.clients, lambda c: _single(c, pick), config.seconds)
    finally:
        _close(systems)
    if hot:
        title = f"3. {config.clients} clients, one hot account"
        how = f"{config.clients} client threads; every transfer touches `{hot_account}` (as source half the time)."
    else:
        title = f"2. {config.clients} clients, uniform"
        how = f"{config.clients} client threads, one transfer per call, uniform over {config.accounts:,} accounts."
    return _throughput_table(title, how, systems, summaries)


# --- 4: batches ---------------------------------------------------------------------------


def batches(places: Places, config: Config, floor_per_second: float) -> Table:
    systems = _open(places, SYSTEMS, config.users, RICH)
    pick = _pair(config.users)
    # The batches are drawn before any clock starts, and every system sends the
    # same ones in the same order: drawing 1,000 random pairs takes about
    # 1.6 ms here, most of what "bare insert" spends on a batch, and it is the
    # benchmark's work, not the system's.
    draw = random.Random(4)
    pool = [[(*pick(draw), draw.randint(1, 100)) for _ in range(config.batch)] for _ in range(BATCH_POOL)]

    def batch(client: Any) -> Operation:
        sent = itertools.count()

        def operation(rng: random.Random) -> tuple[int, int]:
            items = pool[next(sent) % len(pool)]
            rejected: int = client.transfer_batch(items)
            return len(items) - rejected, rejected

        return operation

    try:
        summaries = _measure(systems, config, 1, batch, config.seconds)
    finally:
        _close(systems)
    how = (
        f"One client, {config.batch:,} transfers per call (`transfer_batch`, not atomic); latency is per call. "
        "Baselines: the whole batch in one database transaction, each transfer checked as in workload 1."
    )
    table = _throughput_table(f"4. Batches of {config.batch:,}", how, systems, summaries)
    for cls, name in ((TallySystem, "Tally"), (TallyHTTP, "Tally over HTTP")):
        found = _of(summaries, systems, cls)
        rate = found.per_second if found is not None else 0.0
        floor = _ratio(summaries, systems, BareInsert, cls)
        table.checks += [
            Check(f"{name} ≥ {number(floor_per_second)} transfers/s", number(rate), rate >= floor_per_second),
            Check(f'{name} ≥ 50% of "bare insert" at the same batch size', f"{floor:.0%}", floor >= 0.5),
        ]
    return table


# --- 5: two-phase -------------------------------------------------------------------------


def two_phase(places: Places, config: Config) -> Table:
    systems = _open(places, TALLY_SYSTEMS, config.users, RICH)
    pick = _pair(config.users)

    def mix(client: Any) -> Operation:
        def operation(rng: random.Random) -> tuple[int, int]:
            source, destination = pick(rng)
            amount = rng.randint(1, 100)
            if rng.random() < 0.5:
                client.transfer(source, destination, amount)
                return 1, 0
            id = client.hold(source, destination, amount)
            client.post(id) if rng.random() < 0.5 else client.void(id)
            return 1, 0

        return operation

    try:
        summaries = _measure(systems, config, config.clients, mix, config.seconds)
    finally:
        _close(systems)
    how = (
        f"{config.clients} client threads; half the transfers are plain, half are a hold (`pending=True`) then "
        "`post` or `void` (even odds). A hold and its resolution count as one transfer; latency is per transfer "
        "(two calls for a hold)."
    )
    table = _throughput_table("5. Two-phase mix", how, systems, summaries)
    table.notes.append(
        "The baselines have no holds (that is one reason people move off them), so there is no ratio to them here."
    )
    return table
