"""The "sum of history" baseline: lock the user's rows, SUM them, check, insert.

The textbook guard against overdrafts: `SELECT 1 FROM transactions WHERE
user_id = ? FOR UPDATE`, then the balance as `SUM(amount)`, then the insert.
SQLite has no row locks, so there the SELECT runs without one (Python's
sqlite3 opens the transaction at the first INSERT, as it does by default).
Known limits it shows here: FOR UPDATE locks only rows that exist, and the
SUM grows with the history.
"""

from __future__ import annotations

from bench.baselines.common import Connection, HistoryClient, HistoryLedger, insert_transfer, sum_balance


class SumOfHistory(HistoryLedger):
    name = "sum of history"

    def client(self) -> SumOfHistoryClient:
        return SumOfHistoryClient(Connection(self.target))


class SumOfHistoryClient(HistoryClient):
    def apply(self, source: str, destination: str, amount: int) -> bool:
        if self.connection.postgres:
            self.connection.execute("SELECT 1 FROM transactions WHERE user_id = ? FOR UPDATE", (source,)).fetchall()
        if sum_balance(self.connection, source) < amount:
            return False
        insert_transfer(self.connection, source, destination, amount)
        return True
