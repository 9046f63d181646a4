"""Real processes and threads against one database, and raw access to it.

Child processes start with "spawn" (fork with threads is unsafe) and open
their own `tally.open(url)`. Each gets a start barrier, so that they all write
at once rather than one after the other while the next one is still importing.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

import tally
from tally.store.postgres import conninfo
from tally.store.sqlite import sqlite_path

SPAWN = multiprocessing.get_context("spawn")
START_TIMEOUT_SECONDS = 60.0
RESULT_TIMEOUT_SECONDS = 240.0
TRANSFER_KINDS = ("transfer_posted", "transfer_pending", "transfer_rejected")


@dataclass(frozen=True)
class Ack:
    """What a writer was told about one transfer it sent."""

    writer: str  # process:thread, for the per-writer ordering check
    id: str
    status: str  # "posted" or "rejected"
    code: str | None
    seq: int | None  # None: refused and not recorded (a failed atomic batch)


def _child(target: Callable[..., Any], args: tuple[Any, ...], barrier: Any, results: Any) -> None:
    try:
        results.put(("ok", target(barrier, *args)))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(("error", traceback.format_exc()))


def run_together(
    target: Callable[..., Any], process_args: Sequence[tuple[Any, ...]], in_parent: Callable[[Any], Any]
) -> tuple[list[Any], Any]:
    """Run `target(barrier, *args)` in a spawned process per args, and `in_parent(barrier)` here.

    Everyone waits at the barrier before writing. Returns the children's
    results (in no particular order) and the parent's.
    """
    barrier = SPAWN.Barrier(len(process_args) + 1, timeout=START_TIMEOUT_SECONDS)
    results = SPAWN.Queue()
    processes = [SPAWN.Process(target=_child, args=(target, args, barrier, results)) for args in process_args]
    for process in processes:
        process.start()
    try:
        mine = in_parent(barrier)
        collected = [results.get(timeout=RESULT_TIMEOUT_SECONDS) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=RESULT_TIMEOUT_SECONDS)
            if process.is_alive():
                process.kill()
    errors = [detail for status, detail in collected if status == "error"]
    assert not errors, "a writer process failed:\n" + "\n".join(errors)
    return [detail for _, detail in collected], mine


def run_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """`work(index)` on `count` threads at once; their results, or the first error raised."""
    results: list[Any] = [None] * count
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            start.wait(timeout=START_TIMEOUT_SECONDS)
            results[index] = work(index)
        except BaseException as error:  # noqa: BLE001 - re-raised below, in the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=RESULT_TIMEOUT_SECONDS)
        assert not thread.is_alive(), "a writer thread did not finish"
    if errors:
        raise errors[0]
    return results


def journal(ledger: tally.Ledger) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(seq, kind, data) of every journal event, in seq order."""
    for seq, _us, kind, text, _hash in ledger.store.iter_journal():
        yield seq, kind, json.loads(text)


def transfer_events(ledger: tally.Ledger) -> Counter[str]:
    """How many times each transfer id was recorded as a new transfer."""
    return Counter(data["transfer"]["id"] for _, kind, data in journal(ledger) if kind in TRANSFER_KINDS)


def check_acks(ledger: tally.Ledger, acks: Sequence[Ack]) -> None:
    """Every acknowledged transfer reads back as told, and is recorded once (or never, if refused)."""
    recorded = transfer_events(ledger)
    assert len({ack.id for ack in acks}) == len(acks), "a transfer id was acknowledged twice"
    for ack in acks:
        if ack.seq is None:
            assert recorded[ack.id] == 0, f"{ack.id} was refused but is recorded"
            continue
        assert recorded[ack.id] == 1, f"{ack.id} is recorded {recorded[ack.id]} times"
        stored = ledger.store.transfer(ack.id)
        assert stored is not None
        assert (stored.status, stored.code, stored.seq) == (ack.status, ack.code, ack.seq), ack
    by_writer: dict[str, list[int]] = {}
    for ack in acks:
        if ack.seq is not None:
            by_writer.setdefault(ack.writer, []).append(ack.seq)
    for writer, seqs in by_writer.items():
        # A writer sends its next transfer only after the last one was
        # acknowledged, so commit order (seq) must follow its sending order.
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), f"{writer}: seq out of order"


# --- raw access to the database, bypassing Tally --------------------------------------


class RawDatabase:
    """A plain DB-API connection to a ledger's database, in autocommit mode."""

    def __init__(self, url: str) -> None:
        self.postgres = not url.startswith("sqlite")
        if self.postgres:
            self.connection: Any = psycopg.connect(conninfo(url), autocommit=True)
            self.errors: tuple[type[BaseException], ...] = (psycopg.Error,)
        else:
            self.connection = sqlite3.connect(sqlite_path(url)[0], isolation_level=None, timeout=10)
            self.errors = (sqlite3.Error,)

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        cursor = self.connection.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []

    @contextmanager
    def rolled_back(self) -> Iterator[None]:
        """A transaction that is always undone."""
        self.execute("BEGIN")
        try:
            yield
        finally:
            self.execute("ROLLBACK")

    def close(self) -> None:
        self.connection.close()
