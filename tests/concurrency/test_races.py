"""The classic races of a balance table, each run by processes and threads at once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import tally
from tests.concurrency.harness import Ack, check_acks, journal, run_threads, run_together
from tests.concurrency.workers import (
    drain_thread,
    drain_writer,
    first_debit_thread,
    first_debit_writer,
    opposing_thread,
    opposing_writer,
)
from tests.support import assert_books_balance

PROCESSES, PROCESS_THREADS, PARENT_THREADS = 4, 4, 4  # 20 writers
WRITERS = PROCESSES * PROCESS_THREADS + PARENT_THREADS


def _together(ledger: tally.Ledger, url: str, child: Any, child_args: tuple[Any, ...], work: Any) -> list[Ack]:
    """`child` in each process and `work(ledger, writer)` on the parent's threads, all at once."""

    def in_parent(barrier: Any) -> list[list[Ack]]:
        barrier.wait()
        return run_threads(PARENT_THREADS, lambda index: work(ledger, f"parent:{index}"))

    args = [(url, f"p{n}", PROCESS_THREADS, *child_args) for n in range(PROCESSES)]
    children, mine = run_together(child, args, in_parent)
    return [ack for acks in [*children, *mine] for ack in acks]


@pytest.mark.timeout(180)
def test_drain_of_500_by_1000_concurrent_debits_of_1_accepts_exactly_500(ledger_url: str) -> None:
    per_writer = 1000 // WRITERS
    assert per_writer * WRITERS == 1000
    with tally.open(ledger_url) as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)
        ledger.create_account("drain:source", currency="USD")
        ledger.create_account("drain:sink", currency="USD")
        ledger.transfer("@world", "drain:source", 500, id="fill")

        acks = _together(ledger, ledger_url, drain_writer, (per_writer,), lambda lg, w: drain_thread(lg, w, per_writer))

        assert len(acks) == 1000
        outcomes = Counter((ack.status, ack.code) for ack in acks)
        assert outcomes == {("posted", None): 500, ("rejected", "insufficient_funds"): 500}
        assert ledger.balance("drain:source").posted == 0
        assert ledger.balance("drain:sink").posted == 500
        check_acks(ledger, acks)
        assert_books_balance(ledger)


@pytest.mark.timeout(180)
def test_first_debits_of_brand_new_accounts_race_and_only_one_wins(ledger_url: str) -> None:
    fresh = [f"fresh:{n:02d}" for n in range(10)]
    amount = 100
    with tally.open(ledger_url) as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)

        work = lambda lg, w: first_debit_thread(lg, w, fresh, amount)  # noqa: E731
        acks = _together(ledger, ledger_url, first_debit_writer, (fresh, amount), work)

        assert len(acks) == WRITERS * len(fresh)
        winners = Counter(ack.id.rsplit(".debit.", 1)[1] for ack in acks if ack.status == "posted")
        assert winners == dict.fromkeys(fresh, 1), "each fresh account pays its 100 exactly once"
        assert all(ack.code == "insufficient_funds" for ack in acks if ack.status == "rejected")
        opened = Counter(data["id"] for _, kind, data in journal(ledger) if kind == "account_opened")
        assert all(opened[id] == 1 for id in fresh), "each account is opened once, however many raced to open it"
        for id in fresh:
            assert ledger.balance(id).posted == 0
            assert ledger.transfer(f"fund.{id}").status == "posted"
        check_acks(ledger, acks)
        assert_books_balance(ledger)


@pytest.mark.timeout(180)
def test_opposing_transfers_between_two_accounts_at_once_neither_deadlock_nor_overdraw(ledger_url: str) -> None:
    rounds = 25
    with tally.open(ledger_url) as ledger:
        ledger.create_account("@world", currency="USD", min_balance=None)
        for id in ("opp:a", "opp:b"):
            ledger.create_account(id, currency="USD")
            ledger.transfer("@world", id, 2_000, id=f"fill.{id}")

        acks = _together(
            ledger, ledger_url, opposing_writer, (rounds,), lambda lg, w: opposing_thread(lg, w, rounds, int(w[-1]))
        )

        assert len([ack for ack in acks if ack.seq is not None]) >= WRITERS * rounds * 0.8
        a, b = ledger.balance("opp:a"), ledger.balance("opp:b")
        assert a.posted + b.posted == 4_000
        assert a.posted >= 0 and b.posted >= 0
        check_acks(ledger, acks)
        assert_books_balance(ledger)
