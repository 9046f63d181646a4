"""What the writer processes and threads of the concurrency tests do.

Module-level functions, so that "spawn" children can import them. Each child
opens its own ledger, waits at the start barrier, then writes from several
threads and returns what it was told (`Ack`s).
"""

from __future__ import annotations

import os
import random
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import tally
from tests.concurrency.harness import Ack, run_threads

BANK_AMOUNT_MAX = 300


def _seed(name: str, index: int) -> int:
    """A seed that is the same in every run (str hashes are salted per process)."""
    return zlib.crc32(f"{name}:{index}".encode())


def _send(ledger: tally.Ledger, writer: str, source: str, destination: str, amount: int, id: str) -> Ack | None:
    """One transfer; its acknowledgement, or None if the ledger could not say (unavailable)."""
    try:
        t = ledger.transfer(source, destination, amount, id=id)
    except tally.LedgerError as error:
        if error.transfer is None:
            return None
        t = error.transfer
    return Ack(writer, t.id, t.status, t.code, t.seq)


def _batch(ledger: tally.Ledger, writer: str, items: list[dict[str, Any]], atomic: bool) -> list[Ack]:
    try:
        results = ledger.transfer_batch(items, atomic=atomic)
    except tally.Unavailable:
        return []
    return [Ack(writer, t.id, t.status, t.code, t.seq) for t in results]


def _random_item(rng: random.Random, accounts: Sequence[str], id: str) -> dict[str, Any]:
    source, destination = rng.sample(list(accounts), 2)
    return {"source": source, "destination": destination, "amount": rng.randint(1, BANK_AMOUNT_MAX), "id": id}


def bank_thread(ledger: tally.Ledger, writer: str, rounds: int, accounts: Sequence[str], seed: int) -> list[Ack]:
    """Random transfers among `accounts`: singles, plain batches of 5, atomic pairs."""
    rng = random.Random(seed)
    acks: list[Ack] = []
    for step in range(rounds):
        dice = rng.random()
        size = 1 if dice < 0.8 else 5 if dice < 0.95 else 2
        items = [_random_item(rng, accounts, f"{writer}.{step}.{n}") for n in range(size)]
        if size == 1:
            ack = _send(ledger, writer, **items[0])
            acks.extend([ack] if ack else [])
        else:
            acks.extend(_batch(ledger, writer, items, atomic=size == 2))
    return acks


def _threads_in_child(
    barrier: Any, url: str, name: str, threads: int, work: Callable[[tally.Ledger, str, int], list[Ack]]
) -> list[Ack]:
    with tally.open(url) as ledger:
        barrier.wait()
        per_thread = run_threads(threads, lambda index: work(ledger, f"{name}:{index}", index))
    return [ack for acks in per_thread for ack in acks]


def bank_writer(barrier: Any, url: str, name: str, threads: int, rounds: int, accounts: Sequence[str]) -> list[Ack]:
    def work(ledger: tally.Ledger, writer: str, index: int) -> list[Ack]:
        return bank_thread(ledger, writer, rounds, accounts, _seed(name, index))

    return _threads_in_child(barrier, url, name, threads, work)


def drain_thread(ledger: tally.Ledger, writer: str, count: int) -> list[Ack]:
    acks = [_send(ledger, writer, "drain:source", "drain:sink", 1, f"{writer}.{n}") for n in range(count)]
    return [ack for ack in acks if ack]


def drain_writer(barrier: Any, url: str, name: str, threads: int, count: int) -> list[Ack]:
    return _threads_in_child(barrier, url, name, threads, lambda ledger, writer, _: drain_thread(ledger, writer, count))


def first_debit_thread(ledger: tally.Ledger, writer: str, fresh: Sequence[str], amount: int) -> list[Ack]:
    """Open each fresh account (racing the others), fund it (the same id everywhere), then debit it all."""
    acks = []
    for id in fresh:
        ledger.create_account(id, currency="USD")
        ledger.transfer("@world", id, amount, id=f"fund.{id}")
        ack = _send(ledger, writer, id, "@world", amount, f"{writer}.debit.{id}")
        acks.extend([ack] if ack else [])
    return acks


def first_debit_writer(barrier: Any, url: str, name: str, threads: int, fresh: Sequence[str], amount: int) -> list[Ack]:
    def work(ledger: tally.Ledger, writer: str, index: int) -> list[Ack]:
        return first_debit_thread(ledger, writer, fresh, amount)

    return _threads_in_child(barrier, url, name, threads, work)


def opposing_thread(ledger: tally.Ledger, writer: str, rounds: int, seed: int) -> list[Ack]:
    """A→B and B→A, alternating, some as atomic pairs in both directions at once."""
    rng = random.Random(seed)
    acks: list[Ack] = []
    for step in range(rounds):
        there, back = ("opp:a", "opp:b") if (step + seed) % 2 else ("opp:b", "opp:a")
        if step % 5 == 4:
            items = [
                {"source": there, "destination": back, "amount": rng.randint(1, 500), "id": f"{writer}.{step}.0"},
                {"source": back, "destination": there, "amount": rng.randint(1, 500), "id": f"{writer}.{step}.1"},
            ]
            acks.extend(_batch(ledger, writer, items, atomic=True))
            continue
        ack = _send(ledger, writer, there, back, rng.randint(1, 500), f"{writer}.{step}")
        acks.extend([ack] if ack else [])
    return acks


def opposing_writer(barrier: Any, url: str, name: str, threads: int, rounds: int) -> list[Ack]:
    def work(ledger: tally.Ledger, writer: str, index: int) -> list[Ack]:
        return opposing_thread(ledger, writer, rounds, _seed(name, index))

    return _threads_in_child(barrier, url, name, threads, work)


def open_at_once(barrier: Any, url: str, name: str) -> str:
    """Wait for everyone, then open a (fresh) database and write to it."""
    barrier.wait()
    with tally.open(url) as ledger:
        ledger.create_account("shared", currency="USD", min_balance=None)
        ledger.create_account(f"own:{name}", currency="USD")
        ledger.transfer("shared", f"own:{name}", 10, id=f"gift.{name}")
    return name


def endless_writer(url: str, log_path: str, accounts: Sequence[str], seed: int) -> None:
    """Write until killed; log each intent before sending it, and each answer after.

    The log is appended with os.write (no buffer to lose): after a kill -9,
    every "ack" line is a transfer the writer was told about.
    """
    rng = random.Random(seed)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    with tally.open(url) as ledger:
        for n in range(1_000_000):
            source, destination = rng.sample(list(accounts), 2)
            amount, id = rng.randint(1, BANK_AMOUNT_MAX), f"w{seed}.{n}"
            os.write(log, f"intent {id} {source} {destination} {amount}\n".encode())
            ack = _send(ledger, f"w{seed}", source, destination, amount, id)
            if ack is not None:
                os.write(log, f"ack {id} {ack.status} {ack.code} {ack.seq}\n".encode())
