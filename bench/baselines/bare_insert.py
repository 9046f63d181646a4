"""The "bare insert" baseline: one INSERT per transfer, no checks at all.

Not a ledger: it lets any balance go negative. It is the floor any ledger on
the same database pays for durably recording a transfer (one row, one commit
per call), against which Tally's extra work is measured.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.baselines.common import WORLD, Connection
from bench.databases import Target


class BareInsert:
    name = "bare insert"

    def __init__(self, target: Target) -> None:
        self.target = target

    def setup(self, accounts: Sequence[str], balance: int) -> None:
        connection = Connection(self.target)
        key = "BIGSERIAL PRIMARY KEY" if connection.postgres else "INTEGER PRIMARY KEY"
        connection.execute(
            f"CREATE TABLE transfers (id {key}, source TEXT NOT NULL, destination TEXT NOT NULL, "
            "amount BIGINT NOT NULL)"
        )
        connection.executemany(
            "INSERT INTO transfers (source, destination, amount) VALUES (?, ?, ?)",
            [(WORLD, account, balance) for account in accounts],
        )
        connection.commit()
        connection.close()

    def client(self) -> BareInsertClient:
        return BareInsertClient(Connection(self.target))

    def balances(self, accounts: Sequence[str]) -> dict[str, int]:
        connection = Connection(self.target)
        found: dict[str, int] = {}
        for source, destination, amount in connection.execute("SELECT source, destination, amount FROM transfers"):
            found[source] = found.get(source, 0) - amount
            found[destination] = found.get(destination, 0) + amount
        connection.close()
        return {account: found.get(account, 0) for account in accounts}

    def close(self) -> None:
        pass


class BareInsertClient:
    INSERT = "INSERT INTO transfers (source, destination, amount) VALUES (?, ?, ?)"

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def transfer(self, source: str, destination: str, amount: int) -> bool:
        self.connection.execute(self.INSERT, (source, destination, amount))
        self.connection.commit()
        return True

    def transfer_batch(self, items: Sequence[tuple[str, str, int]]) -> int:
        self.connection.executemany(self.INSERT, items)
        self.connection.commit()
        return 0

    def close(self) -> None:
        self.connection.close()
