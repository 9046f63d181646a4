"""What the baselines share: a history table, funding rows, SUM() balances."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from bench.databases import Target

WORLD = "@world"  # where the funding comes from, so that totals start at zero


class Connection:
    """A DB-API connection plus the one difference the SQL cares about: `?` or `%s`."""

    def __init__(self, target: Target) -> None:
        self.raw: Any = target.connect()
        self.postgres = target.dialect == "postgres"

    def sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(self.sql(text), params)

    def executemany(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.postgres:
            with self.raw.cursor() as cursor:
                cursor.executemany(self.sql(text), rows)
        else:
            self.raw.executemany(text, rows)

    def commit(self) -> None:
        self.raw.commit()

    def rollback(self) -> None:
        self.raw.rollback()

    def close(self) -> None:
        self.raw.close()


class HistoryLedger:
    """A `transactions` table of (user_id, amount) rows; balance = SUM(amount).

    A transfer is two rows, one per side, in one database transaction. The
    index covers (user_id, amount), the most generous choice for SUM().
    """

    name = "history"

    def __init__(self, target: Target) -> None:
        self.target = target

    def setup(self, accounts: Sequence[str], balance: int) -> None:
        connection = Connection(self.target)
        key = "BIGSERIAL PRIMARY KEY" if connection.postgres else "INTEGER PRIMARY KEY"
        connection.execute(f"CREATE TABLE transactions (id {key}, user_id TEXT NOT NULL, amount BIGINT NOT NULL)")
        connection.execute("CREATE INDEX transactions_user ON transactions (user_id, amount)")
        rows = [(account, balance) for account in accounts] + [(WORLD, -balance * len(accounts))]
        connection.executemany("INSERT INTO transactions (user_id, amount) VALUES (?, ?)", rows)
        connection.commit()
        connection.close()

    def add_history(self, account: str, rows: int) -> None:
        """`rows` more history rows for `account` (+1, -1, … so its balance stays), in bulk."""
        connection = Connection(self.target)
        for start in range(0, rows, 100_000):
            chunk = [(account, 1 if index % 2 == 0 else -1) for index in range(start, min(rows, start + 100_000))]
            connection.executemany("INSERT INTO transactions (user_id, amount) VALUES (?, ?)", chunk)
            connection.commit()
        connection.close()

    def balances(self, accounts: Sequence[str]) -> dict[str, int]:
        connection = Connection(self.target)
        rows = connection.execute("SELECT user_id, SUM(amount) FROM transactions GROUP BY user_id").fetchall()
        connection.close()
        found = {user: int(total) for user, total in rows}
        return {account: found.get(account, 0) for account in accounts}

    def close(self) -> None:
        pass


def sum_balance(connection: Connection, account: str) -> int:
    row = connection.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM transactions WHERE user_id = ?", (account,)
    ).fetchone()
    return int(row[0])


def insert_transfer(connection: Connection, source: str, destination: str, amount: int) -> None:
    connection.execute(
        "INSERT INTO transactions (user_id, amount) VALUES (?, ?), (?, ?)", (source, -amount, destination, amount)
    )


class HistoryClient(ABC):
    """One client of a history ledger: a transfer, or a whole batch, is one database transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    @abstractmethod
    def apply(self, source: str, destination: str, amount: int) -> bool:
        """Record one transfer the baseline's way; whether it was accepted."""

    def transfer(self, source: str, destination: str, amount: int) -> bool:
        try:
            accepted = self.apply(source, destination, amount)
            self.connection.commit()
        except BaseException:
            self.connection.rollback()
            raise
        return accepted

    def transfer_batch(self, items: Sequence[tuple[str, str, int]]) -> int:
        """One database transaction for the batch, each item checked in turn; returns the rejected count."""
        try:
            rejected = sum(not self.apply(*item) for item in items)
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
