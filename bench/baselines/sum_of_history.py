"""The "sum of history" baseline: lock the user's rows, SUM them, check, insert.

The textbook guard against overdrafts: `SELECT 1 FROM transactions WHERE
user_id = ? FOR UPDATE`, then the balance as `SUM(amount)`, then the insert.
SQLite has no row locks, so there the SELECT runs without one (Python's
sqlite3 opens the transaction at the first INSERT, as it does by default).
Known limits it shows here: FOR UPDATE locks only rows that exist, and the
SUM grows with the history.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.baselines.common import Connection, HistoryLedger, insert_transfer, sum_balance


class SumOfHistory(HistoryLedger):
    name = "sum of history"

    def client(self) -> SumOfHistoryClient:
        return SumOfHistoryClient(Connection(self.target))


class SumOfHistoryClient:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def _checked_insert(self, source: str, destination: str, amount: int) -> bool:
        if self.connection.postgres:
            self.connection.execute("SELECT 1 FROM transactions WHERE user_id = ? FOR UPDATE", (source,)).fetchall()
        if sum_balance(self.connection, source) < amount:
            return False
        insert_transfer(self.connection, source, destination, amount)
        return True

    def transfer(self, source: str, destination: str, amount: int) -> bool:
        try:
            accepted = self._checked_insert(source, destination, amount)
            self.connection.commit()
        except BaseException:
            self.connection.rollback()
            raise
        return accepted

    def transfer_batch(self, items: Sequence[tuple[str, str, int]]) -> int:
        """One database transaction for the batch, each item checked in turn; returns the rejected count."""
        try:
            rejected = sum(not self._checked_insert(*item) for item in items)
            self.connection.commit()
        except BaseException:
            self.connection.rollback()
            raise
        return rejected

    def balance(self, account: str) -> int:
        balance = sum_balance(self.connection, account)
        self.connection.commit()  # end the read transaction (PostgreSQL)
        return balance

    def close(self) -> None:
        self.connection.close()
