"""Helpers shared by the tests: a controllable clock, invariant checks, another writer's lock."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterator

import tally

# A write that waited for another writer's lock would find it released by then.
LOCK_RELEASE_SECONDS = 5
WAIT_SECONDS_MAX = 60


class FakeClock:
    """A clock that only moves when a test says so (seconds since the epoch)."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def assert_books_balance(ledger: tally.Ledger) -> None:
    """The invariants of API.md section 1, from the stored accounts, and verify()."""
    posted: dict[str, int] = defaultdict(int)
    pending_in: dict[str, int] = defaultdict(int)
    pending_out: dict[str, int] = defaultdict(int)
    for account in ledger.store.iter_accounts():
        posted[account.currency] += account.posted
        pending_in[account.currency] += account.pending_in
        pending_out[account.currency] += account.pending_out
        if account.min_balance is not None:
            assert account.available >= account.min_balance, account
    for currency in posted:
        assert posted[currency] == 0, f"{currency} posted sums to {posted[currency]}"
        assert pending_in[currency] == pending_out[currency], currency
    report = ledger.verify()
    assert report.ok, report.problems


@contextlib.contextmanager
def another_writer_holds_the_lock(path: str) -> Iterator[threading.Event]:
    """The SQLite file's write lock, taken by a connection of its own (as another process would
    take it) and held until the block ends or LOCK_RELEASE_SECONDS pass; the event is set once it
    is released, so that a test can tell a write that waited for it from one that did not."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    released = threading.Event()
    once = threading.Lock()

    def release() -> None:
        with once:
            if not released.is_set():
                released.set()
                other.rollback()

    timer = threading.Timer(LOCK_RELEASE_SECONDS, release)
    timer.start()
    try:
        yield released
    finally:
        timer.cancel()
        release()
        other.close()


def wait_until_writing(ledger: tally.Ledger) -> None:
    """Until a thread leads a write group (at most WAIT_SECONDS_MAX)."""
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    while not ledger.engine._committing and time.monotonic() < deadline:
        time.sleep(0.001)
