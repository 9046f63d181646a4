"""Tally under test, through its public library API (`tally.open`), as a user calls it.

One `Ledger` per process, shared by every client thread: that is how the
library is meant to be used (it is thread-safe, and its engine groups the
concurrent writes into one database transaction).
"""

from __future__ import annotations

from collections.abc import Sequence

import tally
from bench.databases import Target

WORLD = "@world"
FUNDING_BATCH = 1000


class TallySystem:
    name = "Tally"

    def __init__(self, target: Target) -> None:
        self.target = target
        self.ledger = tally.open(target.url)

    def setup(self, accounts: Sequence[str], balance: int) -> None:
        self.ledger.create_account(WORLD, currency="USD", min_balance=None)
        for account in accounts:
            self.ledger.create_account(account, currency="USD")
        for start in range(0, len(accounts), FUNDING_BATCH):
            self.ledger.transfer_batch(
                [
                    {"source": WORLD, "destination": account, "amount": balance}
                    for account in accounts[start : start + FUNDING_BATCH]
                ]
            )

    def add_history(self, account: str, rows: int) -> None:
        """`rows` more statement entries for `account`, in batches of 1,000 (+1 in, -1 out, …)."""
        for start in range(0, rows, FUNDING_BATCH):
            items = [
                {"source": WORLD, "destination": account, "amount": 1}
                if index % 2 == 0
                else {"source": account, "destination": WORLD, "amount": 1}
                for index in range(start, min(rows, start + FUNDING_BATCH))
            ]
            self.ledger.transfer_batch(items)

    def client(self) -> TallyClient:
        return TallyClient(self.ledger)

    def balances(self, accounts: Sequence[str]) -> dict[str, int]:
        return {account: self.ledger.balance(account).posted for account in accounts}

    def close(self) -> None:
        self.ledger.close()


class TallyClient:
    def __init__(self, ledger: tally.Ledger) -> None:
        self.ledger = ledger

    def transfer(self, source: str, destination: str, amount: int) -> bool:
        try:
            self.ledger.transfer(source, destination, amount)
        except tally.InsufficientFunds:
            return False
        return True

    def transfer_batch(self, items: Sequence[tuple[str, str, int]]) -> int:
        results = self.ledger.transfer_batch(
            [{"source": source, "destination": destination, "amount": amount} for source, destination, amount in items]
        )
        return sum(result.is_rejected for result in results)

    def hold(self, source: str, destination: str, amount: int) -> str:
        return self.ledger.transfer(source, destination, amount, pending=True).id

    def post(self, id: str) -> None:
        self.ledger.post(id)

    def void(self, id: str) -> None:
        self.ledger.void(id)

    def balance(self, account: str) -> int:
        return self.ledger.balance(account).posted

    def close(self) -> None:
        pass
