"""Workload 7: overdraft protection under concurrency, counted after the fact.

Two races, both with 16 clients:
- a random race: few accounts, modest balances, amounts large enough that
  many transfers must be refused;
- double spends: in each round all clients, released together, try to spend
  60% of the same fresh account's balance; at most one may succeed.
Afterwards we count the accounts below zero, how far the total moved from what
was put in, and the rounds where more than one spend got through.
"""

from __future__ import annotations

import random
from typing import Any

from bench.databases import Places
from bench.measure import Operation, Run, run_clients
from bench.report import Check, Table, number
from bench.workloads import SYSTEMS, TALLY_SYSTEMS, Config, _close, _open

OPENING_BALANCE = 1000
AMOUNT_MAX = 400
DOUBLE_SPEND = 600  # 60% of the opening balance: two of them overdraw


def overdrafts(places: Places, config: Config) -> Table:
    users = [f"user:{index}" for index in range(config.correctness_accounts)]
    victims = [f"victim:{index}" for index in range(config.double_spend_rounds)]
    systems = _open(places, SYSTEMS, users + victims, OPENING_BALANCE)
    table = Table(
        "7. Correctness under concurrency, with overdraft protection",
        f"Random race: {config.clients} client threads x {config.correctness_calls} transfers each over "
        f"{len(users)} accounts opened with {OPENING_BALANCE:,}, amounts 1-{AMOUNT_MAX} (many must be refused). "
        f"Double spends: {len(victims)} rounds in which the {config.clients} clients, released together, each try "
        f"to move {DOUBLE_SPEND} out of the same account holding {OPENING_BALANCE:,} (one may succeed). Counted "
        "afterwards over all accounts: balances below zero, the total's drift from what was put in, and the "
        "rounds where more than one spend got through.",
        ["system", "transfers/s", "accepted", "rejected", "errors", "double spends", "negative balances",
         "total drift", "verify"],
    )  # fmt: skip
    try:
        for system in systems:
            table.rows.append(_measure(system, users, victims, config))
    finally:
        _close(systems)
    for tally in table.rows[: len(TALLY_SYSTEMS)]:
        clean = tally[5] == "0" and tally[6] == "0" and tally[7] == "0" and tally[8] == "ok"
        measured = f"{tally[5]} double spends, {tally[6]} negative, drift {tally[7]}, verify {tally[8]}"
        table.checks.append(Check(f"zero violations for {tally[0]}", measured, clean))
    table.notes.append('"Bare insert" has no check by design; it is here to show what the checks prevent.')
    return table


def _measure(system: Any, users: list[str], victims: list[str], config: Config) -> list[str]:
    handles = [system.client() for _ in range(config.clients)]
    try:
        run = _random_race(handles, users, config)
        double_spends = sum(_double_spend(handles, victim, users[0]) > 1 for victim in victims)
    finally:
        for handle in handles:
            handle.close()
    balances = system.balances(users + victims)
    negative = sum(balance < 0 for balance in balances.values())
    drift = sum(balances.values()) - len(balances) * OPENING_BALANCE
    verified = "—"
    ledger = getattr(system, "ledger", None)  # Tally, through the library or over HTTP
    if ledger is not None:
        verified = "ok" if ledger.verify().ok else "FAILED"
    errors = str(run.errors) + (f" ({', '.join(sorted(run.error_kinds))})" if run.error_kinds else "")
    return [system.name, number(run.per_second), str(run.transfers), str(run.rejected), errors,
            str(double_spends), str(negative), str(drift), verified]  # fmt: skip


def _random_race(handles: list[Any], users: list[str], config: Config) -> Run:
    def make(index: int) -> Operation:
        client = handles[index]

        def operation(rng: random.Random) -> tuple[int, int]:
            source, destination = rng.sample(users, 2)
            return (1, 0) if client.transfer(source, destination, rng.randint(1, AMOUNT_MAX)) else (0, 1)

        return operation

    return run_clients(len(handles), make, seconds=0, calls=config.correctness_calls)


def _double_spend(handles: list[Any], victim: str, destination: str) -> int:
    """How many of the simultaneous spends from `victim` were accepted."""

    def make(index: int) -> Operation:
        client = handles[index]

        def operation(rng: random.Random) -> tuple[int, int]:
            return (1, 0) if client.transfer(victim, destination, DOUBLE_SPEND) else (0, 1)

        return operation

    return run_clients(len(handles), make, seconds=0, calls=1).transfers
