"""Helpers shared by the tests: a controllable clock, invariant checks."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import tally


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
