"""The bank test: many writers, few accounts, overdraft protection, then audit.

16 writers (4 processes of 3 threads, and 4 threads in this process) send
thousands of random transfers among 12 accounts at once. Afterwards: the sum
of the balances is unchanged, no account is below its minimum, every
acknowledged transfer is there exactly once and reads as it was told, each
writer's transfers are in commit order, and replaying the journal in seq
order through a plain model of the rules gives the same decisions and the
same balances. `verify()` agrees.
"""

from __future__ import annotations

from typing import Any

import pytest

import tally
from tests.concurrency.harness import Ack, check_acks, journal, run_threads, run_together
from tests.concurrency.workers import bank_thread, bank_writer
from tests.support import assert_books_balance

ACCOUNTS = tuple(f"bank:{n:02d}" for n in range(12))
# Every account is protected; a third may run an overdraft of 200.
MIN_BALANCE = {id: -200 if n % 3 == 0 else 0 for n, id in enumerate(ACCOUNTS)}
OPENING = 1_000
PROCESSES, PROCESS_THREADS, PARENT_THREADS = 4, 3, 4
ROUNDS = 110  # per writer; a round is one transfer, a batch of 5 or an atomic pair


def open_bank(ledger: tally.Ledger) -> None:
    ledger.create_account("@world", currency="USD", min_balance=None)
    for id in ACCOUNTS:
        ledger.create_account(id, currency="USD", min_balance=MIN_BALANCE[id])
        ledger.transfer("@world", id, OPENING, id=f"open.{id}")


def replay(ledger: tally.Ledger) -> tuple[dict[str, int], dict[str, tuple[str, str | None]]]:
    """The balances and decisions a plain reading of the rules gives, event by event in seq order."""
    balance: dict[str, int] = {}
    floor: dict[str, int | None] = {}
    decisions: dict[str, tuple[str, str | None]] = {}
    for seq, kind, data in journal(ledger):
        if kind == "account_opened":
            balance[data["id"]], floor[data["id"]] = 0, data["min_balance"]
            continue
        assert kind in ("transfer_posted", "transfer_rejected"), f"seq {seq}: unexpected {kind}"
        t = data["transfer"]
        source, destination, amount = t["source"], t["destination"], t["amount"]
        limit = floor[source]
        accepted = limit is None or balance[source] - amount >= limit
        decisions[t["id"]] = ("posted", None) if accepted else ("rejected", "insufficient_funds")
        assert decisions[t["id"]] == (t["status"], t.get("code")), f"seq {seq}: the model decides otherwise"
        if accepted:
            balance[source] -= amount
            balance[destination] += amount
    return balance, decisions


@pytest.mark.timeout(240)
def test_bank_with_sixteen_writers_keeps_every_invariant(ledger_url: str) -> None:
    with tally.open(ledger_url) as ledger:
        open_bank(ledger)

        def in_parent(barrier: Any) -> list[list[Ack]]:
            barrier.wait()
            return run_threads(
                PARENT_THREADS, lambda index: bank_thread(ledger, f"parent:{index}", ROUNDS, ACCOUNTS, 7 + index)
            )

        args = [(ledger_url, f"p{n}", PROCESS_THREADS, ROUNDS, ACCOUNTS) for n in range(PROCESSES)]
        children, mine = run_together(bank_writer, args, in_parent)
        acks = [ack for acks in [*children, *mine] for ack in acks]

        recorded = [ack for ack in acks if ack.seq is not None]
        assert len(recorded) >= 2_000, "the run was meant to record thousands of transfers"
        assert {ack.status for ack in recorded} == {"posted", "rejected"}, "both outcomes should occur"
        check_acks(ledger, acks)

        balances, decisions = replay(ledger)
        for ack in recorded:
            assert decisions[ack.id] == (ack.status, ack.code), ack
        stored = {a.id: a for a in ledger.store.iter_accounts()}
        assert {id: a.posted for id, a in stored.items()} == balances
        assert sum(stored[id].posted for id in ACCOUNTS) == OPENING * len(ACCOUNTS)
        for id in ACCOUNTS:
            assert stored[id].posted >= MIN_BALANCE[id], id
        assert_books_balance(ledger)
