"""The "insert, then check" baseline: insert the transfer, read the balance, compensate if negative.

The naive transfer without locks: write first, then look at the sender's
balance and, if it went below zero, insert a compensating transfer. Each
transfer is one database transaction. Between the insert and the check other
clients see (and may spend) money that is not there; a crash between the
steps leaves it there for good.
"""

from __future__ import annotations

from bench.baselines.common import Connection, HistoryClient, HistoryLedger, insert_transfer, sum_balance


class InsertThenCheck(HistoryLedger):
    name = "insert, then check"

    def client(self) -> InsertThenCheckClient:
        return InsertThenCheckClient(Connection(self.target))


class InsertThenCheckClient(HistoryClient):
    def apply(self, source: str, destination: str, amount: int) -> bool:
        insert_transfer(self.connection, source, destination, amount)
        if sum_balance(self.connection, source) < 0:
            insert_transfer(self.connection, destination, source, amount)  # the compensation
            return False
        return True
